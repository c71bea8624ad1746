"""The signed-in customer's pages: orders (with parcels' tracking and returns), support requests
and loyalty points. Each acts as the customer principal, so the services themselves refuse another
customer's records (answered here as not found)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ops_store.api.selfservice import views
from ops_store.api.selfservice.render import PageExit, not_found, page, see_other
from ops_store.api.selfservice.session import account_session
from ops_store.api.selfservice.signin import require_csrf, store_of
from ops_store.errors import DomainError, InvalidInput, NotFound
from ops_store.security.access import PermissionDenied, Principal, acting_as
from ops_store.services import orders, returns, self_service, tickets

router = APIRouter(prefix="/account", include_in_schema=False)
RECORD_FIELDS = frozenset({"order_id", "ticket_id", "shipment_id", "return_id", "customer_id"})


@contextmanager
def as_customer(request: Request) -> Iterator[Principal]:
    """The signed-in customer as the acting principal; sign in first otherwise. A record the
    services do not show this customer answers the not-found page."""
    session = account_session(request)
    ref = None if session.customer_id is None else self_service.live_customer_ref(store_of(request),
                                                                                   session.customer_id)
    if session.customer_id is None or ref is None:
        session.sign_out()
        raise PageExit(see_other("/account?note=required"))
    principal = Principal(f"customer:{ref}", "customer", None, frozenset(), customer_id=session.customer_id)
    with acting_as(principal):
        try:
            yield principal
        except (NotFound, PermissionDenied) as error:
            if isinstance(error, PermissionDenied) or error.field in RECORD_FIELDS:
                raise PageExit(not_found(request)) from error
            raise


def _id(value: str) -> int:
    """A record id from the path; anything else is a page that does not exist."""
    if not value.isdigit() or len(value) > 18:
        raise NotFound(f"{value!r} is not a record id", field="order_id")
    return int(value)


def _form_error(error: DomainError, fields: tuple[str, ...]) -> tuple[dict[str, str], str | None]:
    """A domain error next to its form field, or above the form when no field is named."""
    message = error.message[:1].upper() + error.message[1:]
    return ({error.field: message}, None) if error.field in fields else ({}, message)


@router.get("/orders")
def order_list(request: Request, before: str = "") -> Response:
    with as_customer(request):
        start = int(before) if before.isdigit() and len(before) <= 18 else None
        return page(request, "orders.j2", **views.orders_page(store_of(request), start))


def _order_page(request: Request, order_id: int, status: int = 200, **context: object) -> Response:
    return page(request, "order.j2", status, **views.order_page(store_of(request), order_id), **context)


@router.get("/orders/{order_id}")
def order_detail(request: Request, order_id: str, note: str = "") -> Response:
    with as_customer(request):
        notice = "Your return request was sent. We will let you know what happens next." if note == "return" else None
        return _order_page(request, _id(order_id), notice=notice)


@router.post("/orders/{order_id}/returns")
def request_return(request: Request, order_id: str, sku: str = Form(""), qty: str = Form(""),
                   reason: str = Form(""), csrf: str = Form("")) -> Response:
    with as_customer(request) as who:
        oid = _id(order_id)
        require_csrf(request, csrf)
        try:
            returns.request_return(store_of(request), oid, sku=sku, qty=qty.strip(), reason=reason,
                                   actor=who.name[:100])
        except DomainError as error:
            if error.field in RECORD_FIELDS:
                raise
            errors, general = _form_error(error, ("sku", "qty", "reason"))
            form = {"sku": sku, "qty": qty, "reason": reason}
            return _order_page(request, oid, 422, form=form, errors=errors, error=general)
        return see_other(f"/account/orders/{oid}?note=return#returns")


def _tickets_page(request: Request, status: int = 200, **context: object) -> Response:
    return page(request, "tickets.j2", status, **views.tickets_page(store_of(request)), **context)


@router.get("/tickets")
def ticket_list(request: Request, order: str = "") -> Response:
    with as_customer(request):  # ?order=N: the form starts on that order
        return _tickets_page(request, form={"order_id": order if order.isdigit() else ""})


@router.post("/tickets")
def open_ticket(request: Request, category: str = Form(""), subject: str = Form(""), message: str = Form(""),
                order_id: str = Form(""), csrf: str = Form("")) -> Response:
    with as_customer(request) as who:
        require_csrf(request, csrf)
        store = store_of(request)
        form = {"category": category, "subject": subject, "message": message, "order_id": order_id}
        try:
            if category not in dict(views.TICKET_CATEGORIES):
                raise InvalidInput("choose what your request is about", field="category")
            oid = None
            if order_id.strip():  # one of theirs (the service says not found for anyone else's)
                if not order_id.strip().isdigit() or len(order_id.strip()) > 18:
                    raise InvalidInput("choose one of your orders, or none", field="order_id")
                oid = orders.get_order(store, int(order_id))["order_id"]
            assert who.customer_id is not None
            view = tickets.open_ticket(store, who.customer_id, category, subject, message, order_id=oid)
        except DomainError as error:
            errors, general = _form_error(error, ("category", "subject", "message", "order_id"))
            return _tickets_page(request, 422, form=form, errors=errors, error=general)
        return see_other(f"/account/tickets/{view['ticket_id']}?note=opened")


def _ticket_page(request: Request, ticket_id: int, status: int = 200, **context: object) -> Response:
    return page(request, "ticket.j2", status, **views.ticket_page(store_of(request), ticket_id), **context)


@router.get("/tickets/{ticket_id}")
def ticket_detail(request: Request, ticket_id: str, note: str = "") -> Response:
    with as_customer(request):
        notice = "Thank you: we received your request and will answer here." if note == "opened" else None
        return _ticket_page(request, _id(ticket_id), notice=notice)


@router.post("/tickets/{ticket_id}/messages")
def add_message(request: Request, ticket_id: str, body: str = Form(""), csrf: str = Form("")) -> Response:
    with as_customer(request) as who:
        tid = _id(ticket_id)
        require_csrf(request, csrf)
        try:
            tickets.add_message(store_of(request), tid, "customer", who.name.removeprefix("customer:")[:100], body)
        except DomainError as error:
            if error.field in RECORD_FIELDS:
                raise
            errors, general = _form_error(error, ("body",))
            return _ticket_page(request, tid, 422, form={"body": body}, errors=errors, error=general)
        return see_other(f"/account/tickets/{tid}#messages")


@router.get("/loyalty")
def loyalty_page(request: Request) -> Response:
    with as_customer(request) as who:
        assert who.customer_id is not None
        return page(request, "loyalty.j2", **views.loyalty_page(store_of(request), who.customer_id))
