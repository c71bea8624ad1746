"""Sign-in against the store's users (argon2 passwords, one role each) and the session's clock.

The signed-in principal lives in the Streamlit session; every data query reads its merchant
binding from there (dashboards.data), so a merchant's pages can only ever see that merchant.
A session ends after ECOM_DASHBOARD_SESSION_MIN minutes without a page run; five failed
sign-ins in a row lock the form for a short while (no password guessing at full speed).
"""

from __future__ import annotations

import time

import streamlit as st

from dashboards.i18n import COMMON as T
from dashboards.settings import DashboardSettings
from ops_store.db import Store
from ops_store.security.access import Principal
from ops_store.services.users import AuthenticationFailed, authenticate

MAX_FAILURES = 5
LOCK_SECONDS = 30


@st.cache_resource(show_spinner=False)
def store() -> Store:
    """The operational store (sign-in and Customer 360's live views), one per app process."""
    return Store.from_settings()


def principal() -> Principal | None:
    return st.session_state.get("principal")


def sign_out(reason: str | None = None) -> None:
    for key in ("principal", "username", "last_seen", "revealed"):
        st.session_state.pop(key, None)
    if reason:
        st.session_state["sign_in_notice"] = reason


def check_session(settings: DashboardSettings) -> Principal | None:
    """The principal while the session is alive; signs out after too long without activity."""
    who = principal()
    if who is None:
        return None
    now = time.monotonic()
    last = st.session_state.get("last_seen", now)
    if now - last > settings.session_minutes * 60:
        sign_out(T("session_expired", minutes=f"{settings.session_minutes:g}"))
        return None
    st.session_state["last_seen"] = now
    return who


def sign_in_form() -> None:
    """The sign-in form; on success the principal is put in the session and the app reruns."""
    st.title(T("app_title"))
    notice = st.session_state.pop("sign_in_notice", None)
    if notice:
        st.info(notice)
    locked_until = st.session_state.get("locked_until", 0.0)
    with st.form("sign_in"):
        username = st.text_input(T("username"), key="sign_in_user")
        password = st.text_input(T("password"), type="password", key="sign_in_password")
        submitted = st.form_submit_button(T("sign_in"), type="primary")
    if not submitted:
        return
    wait = locked_until - time.monotonic()
    if wait > 0:
        st.error(T("too_many", seconds=int(wait) + 1))
        return
    try:
        who = authenticate(store(), username.strip(), password)
    except AuthenticationFailed:
        failures = st.session_state.get("failures", 0) + 1
        st.session_state["failures"] = failures
        if failures >= MAX_FAILURES:
            st.session_state["failures"] = 0
            st.session_state["locked_until"] = time.monotonic() + LOCK_SECONDS
        st.error(T("bad_login"))
        return
    st.session_state.update(principal=who, username=username.strip(), last_seen=time.monotonic(), failures=0)
    st.rerun()
