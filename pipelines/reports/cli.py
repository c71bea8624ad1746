"""`ecom report --merchant CODE --period week|day [--as-of DATE]`: one report on demand, from the
published warehouse snapshot; prints the files it wrote (and mails it with --send)."""

from __future__ import annotations

from datetime import date

import typer

from ops_store.cli.output import JSON_OPTION, run, store
from ops_store.errors import InvalidInput, NotFound

app = typer.Typer(help="Merchant reports (HTML and PDF) from the published warehouse snapshot.")


def _as_of(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("as_of must be a date as YYYY-MM-DD", field="as_of") from None


@app.callback(invoke_without_command=True)
def report(
    merchant: str = typer.Option(..., "--merchant", help="The merchant's code (`ecom merchant list`)."),
    period: str = typer.Option("week", "--period", help="week (Monday to Sunday) or day."),
    as_of: str | None = typer.Option(None, "--as-of", help="A day in the period (YYYY-MM-DD); the report stops "
                                     "there. Default: the latest order day in the warehouse."),
    send: bool = typer.Option(False, "--send", help="Also mail it to the merchant (ECOM_SMTP_* and "
                              "`ecom merchant notify CODE --email ...`)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Write one merchant's report and print the paths of its HTML and PDF files."""
    from pipelines.publish import NoSnapshot, published
    from pipelines.reports import content
    from pipelines.reports.periods import KINDS, period_of
    from pipelines.reports.produce import mail, produce

    def action() -> dict[str, object]:
        if period not in KINDS:
            raise InvalidInput(f"period must be one of {', '.join(KINDS)}", field="period")
        day = _as_of(as_of)
        try:
            published()
            if day is None:
                day = content.latest_day()
                if day is None:
                    raise NotFound("the warehouse has no orders yet: run `ecom pipeline run` after the first orders",
                                   field="as_of")
            written = produce(store(), merchant, period_of(period, day, until=day))  # type: ignore[arg-type]
        except NoSnapshot as missing:
            raise NotFound(str(missing), field="warehouse") from None
        except content.MerchantNotInWarehouse as unknown:
            raise NotFound(str(unknown), field="merchant") from None
        result = written.summary()
        if send:
            result.update(mail(store(), written))
        return result

    run(as_json, action)
