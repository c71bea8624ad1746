"""Rendering the self-service pages: Jinja2 templates (autoescaped), a few display filters, and
the answers that end a request early (sign in first, not found, refused)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from ops_store.api.selfservice.session import account_session

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"

env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined,
                  trim_blocks=True, lstrip_blocks=True)


def _money(value: Any, currency: str | None = None) -> str:
    if value is None:
        return ""
    amount = f"{Decimal(str(value)):,.2f}"
    return f"{amount} {currency}" if currency else amount


def _when(value: datetime | None) -> str:
    if value is None:
        return ""
    return value.strftime("%d %b %Y, %H:%M UTC")


def _day(value: date | datetime | None) -> str:
    return "" if value is None else value.strftime("%d %b %Y")


def _words(value: str | None) -> str:
    """A code such as ``out_for_delivery`` as words ("out for delivery")."""
    return (value or "").replace("_", " ")


env.filters.update(money=_money, when=_when, day=_day, words=_words)


class PageExit(Exception):  # noqa: N818 - not an error: a request that ends with this answer
    """Raised to end a request with ``response`` (an exception handler answers it)."""

    def __init__(self, response: Response) -> None:
        super().__init__("page exit")
        self.response = response


# What a page with a form shows when the caller has nothing to say: an empty form, no messages.
FORM_DEFAULTS: dict[str, Any] = {"form": {}, "errors": {}, "error": None, "notice": None}


def page(request: Request, template: str, status: int = 200, headers: dict[str, str] | None = None,
         **context: Any) -> HTMLResponse:
    session = account_session(request)
    context = {**FORM_DEFAULTS, **context}
    html = env.get_template(template).render(
        signed_in=session.customer_id is not None, csrf=session.csrf, path=request.url.path, **context)
    return HTMLResponse(html, status_code=status, headers=headers)


def message_page(request: Request, status: int, title: str, text: str, *, back: str | None = None,
                 back_label: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    return page(request, "message.j2", status, headers, title=title, text=text, back=back, back_label=back_label)


def not_found(request: Request) -> HTMLResponse:
    signed_in = account_session(request).customer_id is not None
    return message_page(request, 404, "Not found",
                        "We could not find that page. It may not exist, or it may belong to another account.",
                        back="/account/orders" if signed_in else "/account",
                        back_label="Your orders" if signed_in else "Sign in")


def refused_form(request: Request) -> HTMLResponse:
    return message_page(request, 403, "This form has expired",
                        "For your security we could not accept that form: it was sent without its security code "
                        "or from an old page. Go back, reload the page and try again.",
                        back="/account", back_label="Start again")


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)
