"""Orders and stock availability for channels."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Header, Query, Response
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ops_store.api.deps import api_caller, get_settings, get_store, refuse_card_data
from ops_store.api.problems import PROBLEM_RESPONSES, ApiProblem, Problem
from ops_store.api.responses import decode_cursor, encode_cursor, json_body, json_response
from ops_store.api.schemas import CancelIn, OrderOut, OrderPage, ResourceId, StockOut
from ops_store.api.settings import ApiSettings
from ops_store.db import Store
from ops_store.security.access import acting_as
from ops_store.services import idempotency, orders, stock
from ops_store.services.order_document import OrderDocument
from ops_store.services.users import ApiCaller
from ops_store.types import utcnow

router = APIRouter(prefix="/v1", tags=["orders"], dependencies=[Depends(api_caller), Depends(refuse_card_data)],
                   responses=PROBLEM_RESPONSES)

IN_FLIGHT_GRACE = timedelta(seconds=60)  # a key whose response is missing for longer: its worker died


@router.post(
    "/orders", status_code=201, response_model=OrderOut, summary="Place an order",
    responses={200: {"model": OrderOut, "description": "The order this channel reference already placed"},
               402: {"model": Problem, "description": "Payment declined"},
               503: {"model": Problem, "description": "The payment provider did not answer"}},
)
def place_order(
    document: OrderDocument,
    idempotency_key: str = Header(alias="Idempotency-Key", min_length=1, max_length=255,
                                  description="Unique per order; send it again unchanged on every retry"),
    caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
    settings: ApiSettings = Depends(get_settings),
) -> Response:
    """Stock for every line is reserved atomically, or nothing is. A retry with the same
    Idempotency-Key and body replays the first response (header ``Idempotent-Replayed: true``);
    the same key with another body is refused (409). Card and e-wallet payments are authorised at
    once: a decline answers 201 with the order cancelled and the payment failed."""
    key = idempotency.check_key(idempotency_key)
    fingerprint = document.payload_hash()
    with acting_as(caller.principal):
        replay = _replay(store, caller, key, fingerprint)
        if replay is not None:
            return replay

        final: list[tuple[int, str]] = []  # the response, when the order's unit of work already knew it

        def tie_key(session: Session, placed: orders.Placed) -> None:
            """In the order's unit of work: the key, and the response when it is already final."""
            response = None
            if placed.view is not None:
                response = (201 if placed.created else 200, json_body(OrderOut, placed.view))
                final.append(response)
            idempotency.claim(session, caller.client_id, key, fingerprint, placed.order_id,
                              hours=settings.idempotency_hours, response=response)

        raw = document.model_dump(mode="json", exclude_none=True)
        for attempt in (1, 2):
            try:
                view = orders.place_order(store, raw, actor=caller.principal.name, on_placed=tie_key)
                break
            except IntegrityError:
                # Raced by a request with this key (replay or 409) or with this channel reference
                # (the second attempt finds that order and ties the key to it).
                replay = _replay(store, caller, key, fingerprint)
                if replay is not None:
                    return replay
                if attempt == 2:
                    raise
        if final:
            status, body = final[-1]
        else:  # a card or e-wallet was authorised after the order's commit
            status, body = 200 if view["replayed"] else 201, json_body(OrderOut, view)
            idempotency.remember(store, caller.client_id, key, status, body)
        return Response(body, status_code=status, media_type="application/json",
                        headers={"Location": f"/v1/orders/{view['order_id']}"})


def _replay(store: Store, caller: ApiCaller, key: str, fingerprint: str) -> Response | None:
    remembered = idempotency.lookup(store, caller.client_id, key)
    if remembered is None:
        return None
    idempotency.check_same_request(remembered, fingerprint)
    headers = {"Idempotent-Replayed": "true"}
    if remembered.response_body is not None:
        return Response(remembered.response_body, status_code=remembered.status_code or 200,
                        media_type="application/json", headers=headers)
    if utcnow() - remembered.created_at < IN_FLIGHT_GRACE:
        raise ApiProblem(409, "in_progress", "a request with this Idempotency-Key is still being processed; retry "
                         "in a moment", field="Idempotency-Key", headers={"Retry-After": "1"})
    view = orders.get_order(store, remembered.order_id)  # type: ignore[arg-type]
    body = json_body(OrderOut, view)
    idempotency.remember(store, caller.client_id, key, 201, body)
    return Response(body, status_code=201, media_type="application/json", headers=headers)


@router.get("/orders/{order_id}", response_model=OrderOut, summary="Read an order")
def read_order(order_id: ResourceId, caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
               ) -> Response:
    with acting_as(caller.principal):
        return json_response(OrderOut, orders.get_order(store, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut, summary="Cancel an order not yet shipped")
def cancel_order(order_id: ResourceId, body: CancelIn | None = None, caller: ApiCaller = Depends(api_caller),
                 store: Store = Depends(get_store)) -> Response:
    """Releases the reserved stock; an authorised payment is voided, a captured one refunded."""
    with acting_as(caller.principal):
        view = orders.cancel_order(store, order_id, actor=caller.principal.name,
                                   reason=body.reason if body else None)
        return json_response(OrderOut, view)


@router.get("/orders", response_model=OrderPage, summary="List orders (a customer's, by status)")
def list_orders(
    customer_ref: str | None = Query(default=None, max_length=100),
    status: str | None = Query(default=None, max_length=20),
    limit: int = Query(default=50, ge=1, le=200),
    cursor: str | None = Query(default=None, max_length=100),
    caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
) -> Response:
    """Newest first, ``limit`` per page; follow ``next_cursor`` for the next page."""
    before = decode_cursor(cursor)
    with acting_as(caller.principal):
        items = orders.list_orders(store, customer_ref=customer_ref, status=status, limit=limit + 1,
                                   before_id=before)
    page, more = items[:limit], len(items) > limit
    return json_response(OrderPage, {"items": page, "next_cursor": encode_cursor(page[-1]["order_id"]) if more
                                     else None})


@router.get("/stock", response_model=StockOut, tags=["stock"], summary="Stock availability for SKUs")
def stock_availability(
    merchant: str = Query(min_length=1, max_length=32),
    sku: list[str] = Query(description="Repeat for several SKUs (up to 100)"),
    caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
) -> Response:
    with acting_as(caller.principal):
        return json_response(StockOut, stock.availability(store, merchant, sku))
