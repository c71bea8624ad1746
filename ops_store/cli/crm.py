"""Customer relationship: support tickets, the communication log, reviews and surveys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import typer

from ops_store.cli.output import JSON_OPTION, run, show, store
from ops_store.errors import InvalidInput
from ops_store.services import communications, feedback, tickets

ticket_app = typer.Typer(help="Support tickets with response-time targets.", no_args_is_help=True)
comm_app = typer.Typer(help="The communication log: emails, calls, chats, SMS.", no_args_is_help=True)
review_app = typer.Typer(help="Product reviews and ratings.", no_args_is_help=True)
survey_app = typer.Typer(help="Survey answers (NPS, CSAT).", no_args_is_help=True)

TICKET_ID = typer.Argument(..., help="The ticket id.")
CUSTOMER_ID = typer.Option(..., "--customer-id", help="The customer's id.")
ORDER_ID = typer.Option(None, "--order-id", help="The order it concerns (the customer's own).")
AT = typer.Option(None, "--at", help="When, ISO 8601 with zone; default now.")
AS_OF = typer.Option(None, "--as-of", help="Clock for running targets, ISO 8601 with zone; default now.")


def _time(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--{field.replace('_', '-')} must be ISO 8601, e.g. 2026-01-31T10:00:00+00:00",
                           field=field) from None
    if when.tzinfo is None:
        raise InvalidInput(f"--{field.replace('_', '-')} needs a time zone, e.g. +00:00", field=field)
    return when


def _columns(*names: str) -> Any:
    """A renderer printing only these columns of a list of rows (the JSON keeps them all)."""
    return lambda rows: show([{n: row[n] for n in names} for row in rows])


def _render_reviews(result: dict[str, Any]) -> None:
    show({k: v for k, v in result.items() if k != "reviews"})
    _columns("review_id", "sku", "customer_ref", "rating", "verified_purchase", "created_at", "text")(
        result["reviews"])


# --------------------------------------------------------------------------- tickets


@ticket_app.command("open")
def ticket_open(
    customer_id: int = CUSTOMER_ID, category: str = typer.Option(..., "--category"),
    subject: str = typer.Option(..., "--subject"), message: str = typer.Option(..., "--message"),
    priority: str = typer.Option("normal", "--priority", help="low, normal, high or urgent"),
    order_id: int | None = ORDER_ID, at: str | None = AT, as_json: bool = JSON_OPTION,
) -> None:
    """Open a ticket with the customer's first message; due times follow the priority."""
    run(as_json, lambda: tickets.open_ticket(store(), customer_id, category, subject, message, priority=priority,
                                             order_id=order_id, at=_time(at, "at")))


@ticket_app.command("reply")
def ticket_reply(
    ticket_id: int = TICKET_ID, body: str = typer.Option(..., "--body"),
    author: str = typer.Option(..., "--author", help="Agent name, or the customer's reference."),
    author_kind: str = typer.Option("agent", "--author-kind", help="agent or customer"),
    at: str | None = AT, as_json: bool = JSON_OPTION,
) -> None:
    """Add a message; the first agent message is the first response."""
    run(as_json, lambda: tickets.add_message(store(), ticket_id, author_kind, author, body, at=_time(at, "at")))


@ticket_app.command("assign")
def ticket_assign(ticket_id: int = TICKET_ID, to: str = typer.Option(..., "--to", help="The assignee."),
                  as_json: bool = JSON_OPTION) -> None:
    run(as_json, lambda: tickets.assign(store(), ticket_id, to))


@ticket_app.command("status")
def ticket_status(
    ticket_id: int = TICKET_ID,
    status: str = typer.Argument(..., help="open, pending, resolved or closed (legal moves only)."),
    at: str | None = AT, as_json: bool = JSON_OPTION,
) -> None:
    """Move a ticket: new -> open|pending|resolved, open <-> pending, -> resolved, resolved -> open|closed."""
    run(as_json, lambda: tickets.set_status(store(), ticket_id, status, at=_time(at, "at")))


@ticket_app.command("close")
def ticket_close(
    ticket_id: int = TICKET_ID,
    satisfaction: int | None = typer.Option(None, "--satisfaction", help="The customer's rating, 1-5."),
    at: str | None = AT, as_json: bool = JSON_OPTION,
) -> None:
    """Close a resolved ticket."""
    run(as_json, lambda: tickets.close(store(), ticket_id, satisfaction, at=_time(at, "at")))


@ticket_app.command("show")
def ticket_show(ticket_id: int = TICKET_ID, as_of: str | None = AS_OF, as_json: bool = JSON_OPTION) -> None:
    """A ticket with its messages and whether its targets are breached."""
    run(as_json, lambda: tickets.ticket_view(store(), ticket_id, as_of=_time(as_of, "as_of")))


@ticket_app.command("list")
def ticket_list(
    status: str | None = typer.Option(None, "--status"),
    breached: bool = typer.Option(False, "--breached", help="Only tickets over a response-time target."),
    priority: str | None = typer.Option(None, "--priority"),
    customer_id: int | None = typer.Option(None, "--customer-id"), as_of: str | None = AS_OF,
    limit: int = typer.Option(200, "--limit"), as_json: bool = JSON_OPTION,
) -> None:
    """Tickets, soonest resolution target first."""
    run(as_json, lambda: tickets.list_tickets(store(), status=status, breached_only=breached,
                                              as_of=_time(as_of, "as_of"), customer_id=customer_id,
                                              priority=priority, limit=limit),
        _columns("ticket_id", "status", "priority", "category", "subject", "customer_ref", "merchant", "assignee",
                 "resolution_due_at", "first_response_breached", "resolution_breached"))


# --------------------------------------------------------------------------- communication log


@comm_app.command("log")
def comm_log(
    customer_id: int = CUSTOMER_ID,
    direction: str = typer.Option(..., "--direction", help="inbound or outbound"),
    channel: str = typer.Option(..., "--channel", help="email, call, chat or sms"),
    subject: str | None = typer.Option(None, "--subject"), summary: str | None = typer.Option(None, "--summary"),
    agent: str | None = typer.Option(None, "--agent"), at: str | None = AT, order_id: int | None = ORDER_ID,
    ticket_id: int | None = typer.Option(None, "--ticket-id"), as_json: bool = JSON_OPTION,
) -> None:
    """Record an email, call, chat or SMS with a customer."""
    run(as_json, lambda: communications.log_communication(store(), customer_id, direction, channel, subject, summary,
                                                          agent, occurred_at=_time(at, "at"), order_id=order_id,
                                                          ticket_id=ticket_id))


@comm_app.command("list")
def comm_list(customer_id: int = CUSTOMER_ID, limit: int = typer.Option(200, "--limit"),
              as_json: bool = JSON_OPTION) -> None:
    """A customer's communications, newest first."""
    run(as_json, lambda: communications.list_communications(store(), customer_id, limit=limit),
        _columns("communication_id", "occurred_at", "direction", "channel", "subject", "agent", "order_id",
                 "ticket_id"))


# --------------------------------------------------------------------------- feedback


@review_app.command("add")
def review_add(
    customer_id: int = CUSTOMER_ID, sku: str = typer.Option(..., "--sku"),
    rating: int = typer.Option(..., "--rating", help="1 to 5."), text: str | None = typer.Option(None, "--text"),
    order_id: int | None = ORDER_ID,
    merchant: str | None = typer.Option(None, "--merchant", help="Needed only when several merchants use the SKU."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a review; it is a verified purchase only if the customer received the product."""
    run(as_json, lambda: feedback.add_review(store(), customer_id, sku, rating, text, order_id=order_id,
                                             merchant=merchant))


@review_app.command("list")
def review_list(
    sku: str | None = typer.Option(None, "--sku"), merchant: str | None = typer.Option(None, "--merchant"),
    limit: int = typer.Option(200, "--limit"), as_json: bool = JSON_OPTION,
) -> None:
    """Reviews, newest first, with the count and the average rating."""
    run(as_json, lambda: feedback.list_reviews(store(), sku, merchant=merchant, limit=limit), _render_reviews)


@survey_app.callback()
def survey_group() -> None:
    """Keeps `survey` a group of commands even while it has only `add`."""


@survey_app.command("add")
def survey_add(
    customer_id: int = CUSTOMER_ID, kind: str = typer.Option(..., "--kind", help="nps (0-10) or csat (1-5)"),
    score: int = typer.Option(..., "--score"), comment: str | None = typer.Option(None, "--comment"),
    order_id: int | None = ORDER_ID, ticket_id: int | None = typer.Option(None, "--ticket-id"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Record a survey answer."""
    run(as_json, lambda: feedback.add_survey_response(store(), customer_id, kind, score, comment,
                                                      order_id=order_id, ticket_id=ticket_id))
