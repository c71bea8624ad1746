"""Webhooks from payment providers and carriers: signed (HMAC over the raw body, with a
timestamp tolerance), each event applied once. They carry no API key: the signature is the
credential. Answers 200 for an event applied, ignored (no longer applies) or already seen, so
the sender stops retrying; 401 for a bad signature, 4xx naming the field for a bad event."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Request, Response
from starlette.concurrency import run_in_threadpool

from ops_store.api.deps import get_settings, get_store, refuse_card_data
from ops_store.api.problems import PROBLEM_RESPONSES
from ops_store.api.responses import json_response
from ops_store.api.schemas import WebhookResult
from ops_store.api.settings import ApiSettings, api_secret
from ops_store.db import Store
from ops_store.errors import NotFound
from ops_store.messaging.inbound import SIGNATURE_HEADER
from ops_store.payments.events import ProviderEvent
from ops_store.payments.provider import get_provider
from ops_store.services import webhook_events
from ops_store.services.common import carrier_by_code
from ops_store.shipping.carrier import get_carrier
from ops_store.shipping.events import CarrierEvent

# refuse_card_data also keeps the raw body for the dead letter, should the event be refused.
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"], responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_card_data)])


def _signed(model: type, what: str) -> dict[str, Any]:
    """The OpenAPI description of a signed JSON body (the route reads the raw bytes itself)."""
    return {
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}},
        "parameters": [{"name": SIGNATURE_HEADER, "in": "header", "required": True, "schema": {"type": "string"},
                        "description": f"t=<unix seconds>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'> with the {what} "
                                       "secret"}],
    }


@router.post("/payments/{provider}", response_model=WebhookResult, summary="Payment provider events",
             openapi_extra=_signed(ProviderEvent, "payment webhook"))
async def payment_webhook(request: Request, provider: str = Path(min_length=1, max_length=40),
                          store: Store = Depends(get_store), settings: ApiSettings = Depends(get_settings),
                          ) -> Response:
    """Authorisation, capture, refund and failure of an order's payment."""
    try:
        adapter = get_provider(provider)
    except LookupError:
        raise NotFound(f"no payment provider {provider!r} is installed", field="provider") from None
    body = await request.body()
    secret = await run_in_threadpool(api_secret, "payment_webhook_secret")
    event = adapter.parse_webhook(body, request.headers, secret, settings.webhook_tolerance_s)
    result = await run_in_threadpool(webhook_events.apply_payment_event, store, adapter.name, event)
    return json_response(WebhookResult, result)


@router.post("/carriers/{carrier}", response_model=WebhookResult, summary="Carrier tracking events",
             openapi_extra=_signed(CarrierEvent, "carrier webhook"))
async def carrier_webhook(request: Request, carrier: str = Path(min_length=1, max_length=20),
                          store: Store = Depends(get_store), settings: ApiSettings = Depends(get_settings),
                          ) -> Response:
    """A parcel's tracking event; late and out-of-order events take their place by event time."""
    await run_in_threadpool(_known_carrier, store, carrier)
    body = await request.body()
    secret = await run_in_threadpool(api_secret, "carrier_webhook_secret")
    event = get_carrier(carrier).parse_webhook(body, request.headers, secret, settings.webhook_tolerance_s)
    result = await run_in_threadpool(webhook_events.apply_carrier_event, store, carrier, event)
    return json_response(WebhookResult, result)


def _known_carrier(store: Store, code: str) -> None:
    with store.read() as session:
        carrier_by_code(session, code)


EXTRA_SCHEMAS = (ProviderEvent, CarrierEvent)
