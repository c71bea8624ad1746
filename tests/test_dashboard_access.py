"""Sign-in against the store's users, the session timeout, which pages each role is offered, and
the friendly messages when nothing (or not everything) is published."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.dashboard_support import APP, PASSWORD, DashboardShop, open_page, principal

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900), pytest.mark.xdist_group("built-shop")]


def _sign_in(at: AppTest, username: str, password: str) -> AppTest:
    at.text_input(key="sign_in_user").input(username)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click()  # the form's submit button
    return at.run()


def test_sign_in_with_the_store_password(dashboard_env: DashboardShop) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    assert at.text_input(key="sign_in_password").proto.type == 1  # a password field, never echoed
    _sign_in(at, "analyst-user", "not the password")
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    assert "principal" not in at.session_state
    _sign_in(at, "analyst-user", PASSWORD)
    assert not at.exception
    assert at.session_state["principal"].role == "analyst"
    assert any("analyst-user" in m.value for m in at.sidebar.markdown)


def test_unknown_user_gets_the_same_answer_and_repeated_failures_lock_the_form(dashboard_env: DashboardShop) -> None:
    at = AppTest.from_file(str(APP), default_timeout=60).run()
    _sign_in(at, "nobody-here", PASSWORD)
    assert [e.value for e in at.error] == ["Unknown user or wrong password."]
    for _ in range(4):
        _sign_in(at, "analyst-user", "wrong wrong wrong")
    _sign_in(at, "analyst-user", PASSWORD)  # right password, but locked for a while after five failures
    assert "principal" not in at.session_state
    assert "Too many failed attempts" in at.error[0].value


def test_session_ends_after_inactivity(dashboard_env: DashboardShop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_DASHBOARD_SESSION_MIN", "1")
    at = open_page("overview", principal("analyst"), state={"last_seen": time.monotonic() - 120})
    assert "principal" not in at.session_state
    assert any("sign in again" in i.value for i in at.info)
    assert not at.metric  # nothing of the page was drawn


@pytest.mark.parametrize(("role", "hidden"), [
    ("engineer", ["customers", "customer_360", "recommendations", "marketing", "service"]),
    ("support", ["marketing"]),
    ("analyst", []),
])
def test_each_role_is_offered_only_its_pages(dashboard_env: DashboardShop, role: str, hidden: list[str]) -> None:
    from dashboards.pages import PAGES

    for spec in PAGES:
        at = open_page(spec.slug, principal(role))
        assert not at.exception, (spec.slug, at.exception)
        if spec.slug in hidden:  # not in the navigation: Streamlit falls back to the first page
            assert at.title and at.title[0].value == "Overview", spec.slug


def test_missing_snapshot_says_which_command_builds_it(dashboard_env: DashboardShop, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECOM_DATA_DIR", str(tmp_path))  # nothing published here
    from dashboards.pages import PAGES

    for spec in PAGES:
        at = open_page(spec.slug, principal("admin"))
        assert not at.exception, (spec.slug, at.exception)
        if spec.slug not in ("data_health", "customer_360"):
            assert any("ecom pipeline run" in i.value for i in at.info), spec.slug
