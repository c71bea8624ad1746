"""Per-merchant reports (weekly and daily, HTML and PDF) and low-stock notifications.

periods   which days a report covers and what it is compared with
content   the figures, read from the published warehouse snapshot for one merchant only
charts    the charts, rendered to images for the PDF
render    HTML from a template, PDF from the HTML
produce   one report end to end: figures, files, the mail in the outbox
alerts    low-stock notifications (email, signed webhook), once per alert opening
"""
