"""Signing in to the self-service site: an order reference and the email used for it, or a
one-time link mailed to that email; signing out. Attempts are rate limited per client address."""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from ops_store.api.selfservice.render import PageExit, message_page, page, refused_form, see_other
from ops_store.api.selfservice.session import account_session
from ops_store.db import Store
from ops_store.messaging.smtp import SmtpSettings, build_message, send
from ops_store.security.pii import normalise_email
from ops_store.services import rate_limits, self_service

log = logging.getLogger("ops_store.api.selfservice")
router = APIRouter(prefix="/account", include_in_schema=False)

NOTES = {
    "signed-out": "You have signed out.",
    "required": "Please sign in to see that page. For your security you are signed out after 30 minutes "
                "without activity.",
}
LINK_MINUTES = int(self_service.LINK_LIFETIME.total_seconds() // 60)


def store_of(request: Request) -> Store:
    return request.app.state.store


def require_csrf(request: Request, sent: str) -> None:
    if not account_session(request).csrf_ok(sent):
        raise PageExit(refused_form(request))


def limit_attempts(request: Request) -> None:
    """Count a sign-in attempt against the client's address; 429 when over the limit."""
    settings = request.app.state.settings
    address = request.client.host if request.client else "unknown"
    per_minute = settings.sign_in_per_minute  # bursts of half a minute's worth: room to fix a typo
    wait = rate_limits.take(store_of(request), f"sign-in:{address}"[:120], per_minute=per_minute,
                            burst=max(2, per_minute // 2))
    if wait > 0:
        retry = rate_limits.retry_after_header(wait)
        raise PageExit(message_page(
            request, 429, "Too many attempts",
            f"There were too many sign-in attempts from your connection. Please wait {retry} seconds, then try "
            "again.", back="/account", back_label="Back to sign in", headers={"Retry-After": retry}))


def _blank(order_ref: str, email: str) -> dict[str, str]:
    errors = {}
    if not self_service.clean_order_ref(order_ref):
        errors["order_ref"] = "Enter your order number."
    if not (email or "").strip():
        errors["email"] = "Enter the email address you used for the order."
    return errors


def _sign_in_page(request: Request, status: int = 200, **context: object) -> Response:
    return page(request, "sign_in.j2", status, links_enabled=SmtpSettings().enabled, **context)


@router.get("")
def sign_in_form(request: Request, note: str = "") -> Response:
    if account_session(request).customer_id is not None:
        return see_other("/account/orders")
    return _sign_in_page(request, notice=NOTES.get(note))


@router.post("/sign-in")
def sign_in(request: Request, order_ref: str = Form(""), email: str = Form(""), csrf: str = Form("")) -> Response:
    limit_attempts(request)
    require_csrf(request, csrf)
    form = {"order_ref": order_ref, "email": email}
    errors = _blank(order_ref, email)
    if errors:
        return _sign_in_page(request, 422, form=form, errors=errors)
    who = self_service.check_sign_in(store_of(request), order_ref, email)
    if who is None:
        return _sign_in_page(request, 400, form=form, error=self_service.SIGN_IN_FAILED)
    account_session(request).sign_in(who.customer_id)
    return see_other(f"/account/orders/{who.order_id}")


def _link_page(request: Request, state: str, status: int = 200, **context: object) -> Response:
    enabled = SmtpSettings().enabled
    if not enabled and state == "form":
        state = "unavailable"
    return page(request, "link.j2", status, state=state, links_enabled=enabled, minutes=LINK_MINUTES, **context)


@router.get("/link")
def link_form(request: Request) -> Response:
    return _link_page(request, "form")


LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})


def _public_base(request: Request) -> str | None:
    """The site's address for the mailed link: ECOM_API_PUBLIC_URL. Without it, the address this
    request came to, but only on loopback (the demo): elsewhere the Host header is the client's to
    choose, and a link pointing at someone else's site must never be mailed to a customer."""
    settings = request.app.state.settings
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if request.url.hostname in LOOPBACK:
        return str(request.base_url).rstrip("/")
    return None


def mail_link(store: Store, smtp: SmtpSettings, order_ref: str, email: str, base: str | None) -> None:
    """After the answer was sent (so its timing says nothing): when the details match, make a link
    and mail it. Failures are logged by type only (never the address)."""
    if base is None:
        log.warning("sign-in link not sent: set ECOM_API_PUBLIC_URL to the site's public address")
        return
    try:
        made = self_service.create_link(store, order_ref, email)
        if made is None:
            return
        token, who = made
        text = (
            "Hello,\n\n"
            f"Someone, hopefully you, asked to sign in to see order {who.order_id} and your other orders.\n"
            f"Follow this link within {LINK_MINUTES} minutes to sign in. It works once:\n\n"
            f"{base}/account/link/{token}\n\n"
            "If you did not ask for it, you can ignore this email: nobody can sign in without the link.\n"
        )
        send(smtp, build_message(smtp, normalise_email(email), "Your sign-in link", text))
    except Exception as error:  # noqa: BLE001 - a background task: log the kind of failure only
        log.warning("sign-in link not sent: %s", type(error).__name__)


@router.post("/link")
def request_link(request: Request, background: BackgroundTasks, order_ref: str = Form(""), email: str = Form(""),
                 csrf: str = Form("")) -> Response:
    smtp = SmtpSettings()
    if not smtp.enabled:
        return _link_page(request, "unavailable")
    limit_attempts(request)
    require_csrf(request, csrf)
    form = {"order_ref": order_ref, "email": email}
    errors = _blank(order_ref, email)
    if errors:
        return _link_page(request, "form", 422, form=form, errors=errors)
    background.add_task(mail_link, store_of(request), smtp, order_ref, email, _public_base(request))
    return _link_page(request, "sent")


@router.get("/link/{token}")
def confirm_link(request: Request, token: str) -> Response:
    """Opening the link shows a button; only pressing it signs in. Mail scanners that open links
    ahead of the customer would otherwise use it up."""
    return _link_page(request, "confirm", token=token)


@router.post("/link/{token}")
def follow_link(request: Request, token: str, csrf: str = Form("")) -> Response:
    require_csrf(request, csrf)
    who = self_service.redeem_link(store_of(request), token)
    if who is None:
        return _link_page(request, "bad-link", 400)
    account_session(request).sign_in(who.customer_id)
    return see_other(f"/account/orders/{who.order_id}")


@router.post("/sign-out")
def sign_out(request: Request, csrf: str = Form("")) -> Response:
    require_csrf(request, csrf)
    account_session(request).sign_out()
    return see_other("/account?note=signed-out")
