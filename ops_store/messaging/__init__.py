"""Sending to merchants: mail over SMTP and signed webhooks. The outbox that makes every send
recorded and retried lives in ``ops_store.services.notifications``."""
