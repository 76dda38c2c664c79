"""The report's email (DESIGN §8): headers, and the MIME tree

    multipart/mixed
      multipart/alternative
        text/plain
        multipart/related
          text/html           (the chart by cid:)
          image/png
      text/csv                attachment {pool}-{month}-{id}.csv
      application/pdf         attachment {pool}-{month}-{id}.pdf

The ``Message-ID`` is derived from (pool, month, signatory, send number), so a message sent
again after a crash carries the same id and mail clients show it once.
"""
from __future__ import annotations

import hashlib
from email.message import EmailMessage
from email.utils import format_datetime

from meter.mail.smtp import MESSAGE_POLICY
from meter.reports.render import CHART_CID, Rendered


def message_id(pool: str, month: str, sig: str, send_no: int, mail_from: str) -> str:
    domain = mail_from.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(f"{pool}/{month}/{sig}/{send_no}".encode()).hexdigest()[:20]
    return f"<report.{month}.{digest}.{send_no}@{domain}>"


def report_message(report: Rendered, pool: str, mail_from: str, recipients: list[str], msg_id: str) -> EmailMessage:
    month, sig = report.figures.period.label, report.context.sig
    msg = EmailMessage(policy=MESSAGE_POLICY)
    msg["From"] = mail_from
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = report.document.title
    msg["Message-ID"] = msg_id
    msg["Date"] = format_datetime(report.figures.as_of)
    msg["X-Meter-Report"] = f"{pool}/{month}/{sig}"
    msg.set_content(report.text())  # text/plain
    msg.add_alternative(report.html(inline_chart=False), subtype="html")
    html_part: EmailMessage = msg.get_payload()[1]  # type: ignore[index,assignment]
    html_part.add_related(report.chart, maintype="image", subtype="png", cid=f"<{CHART_CID}>",
                          filename="chart.png")
    name = f"{pool}-{month}-{sig}"
    msg.add_attachment(report.csv(), maintype="text", subtype="csv", filename=f"{name}.csv")
    msg.add_attachment(report.pdf(), maintype="application", subtype="pdf", filename=f"{name}.pdf")
    return msg
