"""The API's settings (environment variables, documented defaults) and its shared secrets."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from ops_store.security.pii import write_key_file
from ops_store.settings import StoreSettings

SECRETS_FILE = "api-secrets.json"
SECRET_NAMES = ("payment_webhook_secret", "carrier_webhook_secret", "session_secret")


class ApiSettings(BaseSettings):
    """ECOM_API_HOST / ECOM_API_PORT   where ``ecom api`` listens (127.0.0.1:8000)
    ECOM_API_WORKERS                  uvicorn worker processes (2)
    ECOM_API_MAX_BODY_BYTES           largest request body accepted (1 MiB); larger: 413
    ECOM_API_RATE_LIMIT               requests a minute per API key unless the key sets its own (600)
    ECOM_API_IDEMPOTENCY_HOURS        how long Idempotency-Keys are kept (48; never under 24)
    ECOM_API_WEBHOOK_TOLERANCE_S      how far a webhook's signed timestamp may be from now (300)
    ECOM_API_SIGN_IN_PER_MINUTE       self-service sign-in attempts a minute per address (10)
    ECOM_API_SECURE_COOKIES           mark the self-service cookie Secure (behind HTTPS) (false)
    ECOM_API_KEY_CACHE_S              seconds a worker trusts a key it checked (10): a revoked key stops
                                      working within that time
    ECOM_API_PUBLIC_URL               the site's public address, for mailed sign-in links (unset: links
                                      are mailed only to requests made on loopback, e.g. the demo)
    ECOM_PAYMENT_WEBHOOK_SECRET, ECOM_CARRIER_WEBHOOK_SECRET, ECOM_API_SESSION_SECRET: the shared
    secrets; unset, each is generated once into <data dir>/api-secrets.json (owner-only)."""

    model_config = SettingsConfigDict(env_prefix="ECOM_API_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=2, ge=1, le=64)
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    rate_limit: int = Field(default=600, ge=1)
    idempotency_hours: int = Field(default=48, ge=24)
    webhook_tolerance_s: int = Field(default=300, ge=1)
    sign_in_per_minute: int = Field(default=10, ge=1)
    secure_cookies: bool = False
    key_cache_s: float = Field(default=10.0, ge=0, le=300)
    public_url: str | None = Field(default=None, pattern=r"^https?://[^\s/]+(/[^\s]*)?$")


def api_secret(name: str) -> str:
    """A shared secret: from its environment variable, else from the data dir's secrets file
    (created with fresh random values on first use)."""
    import os

    env = {"payment_webhook_secret": "ECOM_PAYMENT_WEBHOOK_SECRET",
           "carrier_webhook_secret": "ECOM_CARRIER_WEBHOOK_SECRET",
           "session_secret": "ECOM_API_SESSION_SECRET"}[name]
    if os.environ.get(env):
        return os.environ[env]
    path = StoreSettings().ensure_data_dir() / SECRETS_FILE
    values = _read(path)
    if name not in values:
        values = {n: values.get(n) or secrets.token_urlsafe(32) for n in SECRET_NAMES}
        write_key_file(path, values)
    return values[name]


def _read(path: Path) -> dict[str, str]:
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return {}
