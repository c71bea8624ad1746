"""Returns, customers and support tickets for channels."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Path, Response

from ops_store.api.deps import api_caller, get_store, refuse_card_data
from ops_store.api.problems import PROBLEM_RESPONSES
from ops_store.api.responses import json_response
from ops_store.api.schemas import (
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    ResourceId,
    ReturnIn,
    ReturnOut,
    TicketIn,
    TicketMessageIn,
    TicketOut,
)
from ops_store.db import Store
from ops_store.security.access import acting_as
from ops_store.services import customers, returns, tickets
from ops_store.services.users import ApiCaller

router = APIRouter(prefix="/v1", dependencies=[Depends(api_caller), Depends(refuse_card_data)],
                   responses=PROBLEM_RESPONSES)
CustomerRef = Path(min_length=1, max_length=100)


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnOut, tags=["returns"],
             summary="Request a return of a delivered order line")
def request_return(order_id: ResourceId, body: ReturnIn, caller: ApiCaller = Depends(api_caller),
                   store: Store = Depends(get_store)) -> Response:
    with acting_as(caller.principal):
        view = returns.request_return(store, order_id, sku=body.sku, qty=body.qty, reason=body.reason,
                                      actor=caller.principal.name)
        return json_response(ReturnOut, view, 201, {"Location": f"/v1/returns/{view['return_id']}"})


@router.get("/returns/{return_id}", response_model=ReturnOut, tags=["returns"], summary="Track a return")
def read_return(return_id: ResourceId, caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
                ) -> Response:
    with acting_as(caller.principal):
        return json_response(ReturnOut, returns.return_view(store, return_id))


@router.post("/customers", status_code=201, response_model=CustomerOut, tags=["customers"],
             summary="Create a customer")
def create_customer(body: CustomerIn, caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
                    ) -> Response:
    """Personal data is encrypted at rest and answered masked."""
    with acting_as(caller.principal):
        view = customers.add_customer(store, **body.model_dump(), source=f"api {caller.principal.name}")
        return json_response(CustomerOut, view, 201, {"Location": f"/v1/customers/{view['customer_ref']}"})


@router.get("/customers/{customer_ref}", response_model=CustomerOut, tags=["customers"], summary="Read a customer")
def read_customer(customer_ref: str = CustomerRef, caller: ApiCaller = Depends(api_caller),
                  store: Store = Depends(get_store)) -> Response:
    """Masked unless the key holds the ``pii.read`` scope (a clear view is audited)."""
    with acting_as(caller.principal):
        return json_response(CustomerOut, customers.show_customer(store, customers.customer_id_by_ref(
            store, customer_ref)))


@router.patch("/customers/{customer_ref}", response_model=CustomerOut, tags=["customers"],
              summary="Update a customer")
def update_customer(body: CustomerPatch, customer_ref: str = CustomerRef, caller: ApiCaller = Depends(api_caller),
                    store: Store = Depends(get_store)) -> Response:
    with acting_as(caller.principal):
        customer_id = customers.customer_id_by_ref(store, customer_ref)
        return json_response(CustomerOut, customers.update_customer(store, customer_id,
                                                                    **body.model_dump(exclude_unset=True)))


@router.post("/tickets", status_code=201, response_model=TicketOut, tags=["support"], summary="Open a ticket")
def open_ticket(body: TicketIn, caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
                ) -> Response:
    with acting_as(caller.principal):
        customer_id = customers.customer_id_by_ref(store, body.customer_ref)
        view = tickets.open_ticket(store, customer_id, body.category, body.subject, body.message, body.priority,
                                   body.order_id)
        return json_response(TicketOut, view, 201, {"Location": f"/v1/tickets/{view['ticket_id']}"})


@router.post("/tickets/{ticket_id}/messages", status_code=201, response_model=TicketOut, tags=["support"],
             summary="Add the customer's message to a ticket")
def add_ticket_message(ticket_id: ResourceId, body: TicketMessageIn, caller: ApiCaller = Depends(api_caller),
                       store: Store = Depends(get_store)) -> Response:
    with acting_as(caller.principal):
        view = tickets.add_message(store, ticket_id, "customer", f"customer via {caller.principal.name}"[:100],
                                   body.body)
        return json_response(TicketOut, view, 201)


@router.get("/tickets/{ticket_id}", response_model=TicketOut, tags=["support"],
            summary="Read a ticket and its replies")
def read_ticket(ticket_id: ResourceId, caller: ApiCaller = Depends(api_caller), store: Store = Depends(get_store),
                ) -> Response:
    with acting_as(caller.principal):
        return json_response(TicketOut, tickets.ticket_view(store, ticket_id))
