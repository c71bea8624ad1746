"""One merchant report end to end: figures from the published snapshot, HTML and PDF written
under ``$ECOM_DATA_DIR/reports/<merchant>/``, and (when mail is configured and the merchant has
a mailbox) the mail with the PDF put in the outbox and sent. Used by the Dagster report assets
and by `ecom report`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ops_store.db import Store
from ops_store.messaging.smtp import SmtpSettings
from ops_store.security import access
from ops_store.services import notifications
from pipelines.publish import open_snapshot
from pipelines.reports import content, render
from pipelines.reports.periods import Period
from pipelines.reports.texts import Speaker
from pipelines.settings import PipelineSettings

KIND_NAMES = {"week": "weekly", "day": "daily"}


@dataclass(frozen=True)
class Report:
    merchant: str
    period: Period
    html: Path
    pdf: Path
    figures: content.Figures
    say: Speaker

    @property
    def kind(self) -> str:
        return f"{KIND_NAMES[self.period.kind]}_report"

    def summary(self) -> dict[str, Any]:
        now = self.figures.sales["now"]
        return {"merchant": self.merchant, "period": self.period.kind, "start": self.period.start.isoformat(),
                "end": self.period.end.isoformat(), "html": str(self.html), "pdf": str(self.pdf),
                "net_revenue": now["net_revenue"], "orders": now["orders"],
                "data_through": self.figures.data_through.isoformat() if self.figures.data_through else None}


def file_stem(period: Period) -> str:
    stem = f"{KIND_NAMES[period.kind]}-{period.key}"
    return f"{stem}-to-{period.end.isoformat()}" if period.is_partial else stem


def _write(path: Path, data: bytes) -> None:
    """Replace ``path`` at once: a reader (or a mail being sent) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def produce(store: Store, merchant: str, period: Period, settings: PipelineSettings | None = None) -> Report:
    """Write ``merchant``'s report for ``period`` (HTML and PDF); nothing is sent."""
    settings = settings or PipelineSettings()
    contacts = notifications.contacts(store, merchant)
    access.require("orders.read", merchant_id=contacts.merchant_id)
    con = open_snapshot(settings)
    try:
        figures = content.gather(con, contacts.code, period)
    finally:
        con.close()
    say = Speaker(contacts.locale, figures.merchant.currency)
    document = render.html(figures, say)
    folder = settings.reports_dir / contacts.code
    stem = file_stem(period)
    html_path, pdf_path = folder / f"{stem}.html", folder / f"{stem}.pdf"
    _write(pdf_path, render.pdf(document))
    _write(html_path, document.encode("utf-8"))
    return Report(contacts.code, period, html_path, pdf_path, figures, say)


def mail(store: Store, report: Report, smtp: SmtpSettings | None = None) -> dict[str, Any]:
    """Queue the report's mail (once per merchant, report and period) and send what is due.
    Returns what happened, for the run's metadata and the CLI."""
    smtp = smtp or SmtpSettings()
    contacts = notifications.contacts(store, report.merchant)
    if not contacts.email:
        return {"mail": "no mailbox: `ecom merchant notify CODE --email ...`"}
    if not smtp.enabled:
        return {"mail": "mail is off: set ECOM_SMTP_HOST to send reports"}
    say, period = report.say, report.period
    title = say("weekly_title" if period.kind == "week" else "daily_title")
    label = say.period(period.start, period.end)
    now = report.figures.sales["now"]
    body = say("mail_intro", title=title, period=label, revenue=say.money(now["net_revenue"]),
               orders=say.number(now["orders"]))
    message = notifications.Message(
        contacts.merchant_id, report.kind, "email", f"{report.kind}:{contacts.code}:{file_stem(period)}:email",
        contacts.email, f"{title} · {contacts.name} · {label}", body, [str(report.pdf)])
    queued = notifications.enqueue(store, [message])
    outcome = notifications.deliver_due(store, channels=notifications.senders(store, smtp))
    return {"mail": "queued" if queued else "already queued or sent", "to": contacts.email, **outcome}
