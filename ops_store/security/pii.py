"""Personal data encrypted at rest, with blind indexes for look-ups.

Keys: ``ECOM_PII_KEY`` is the current key (32 random bytes, URL-safe base64); previous keys that
may still be in use are listed in ``ECOM_PII_PREVIOUS_KEYS`` (comma-separated) while a rotation
runs. For the embedded demo, when no key is set, a key file is created in the data dir with
owner-only permissions (and a warning): fine for a laptop, not for production.

Ciphertexts are ``v1:<key id>:<base64(nonce | AES-256-GCM ciphertext+tag)>``; the key id tells
which key decrypts. A blind index is HMAC-SHA256 of the normalised value under a key derived
from the encryption key (HKDF), so the index changes with the key and is recomputed on rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from ops_store.errors import InvalidInput

log = logging.getLogger(__name__)
KEY_FILE_NAME = "pii.keys.json"


class PiiKeyError(RuntimeError):
    """A key is missing, malformed, or cannot decrypt a stored value."""


def new_key() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def _decode_key(text: str) -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        raise PiiKeyError("a PII key must be 32 bytes in URL-safe base64 (see `ecom keys new`)") from None
    if len(raw) != 32:
        raise PiiKeyError("a PII key must be 32 bytes in URL-safe base64 (see `ecom keys new`)")
    return raw


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM
    index_key: bytes


def _make_key(text: str) -> _Key:
    raw = _decode_key(text)
    key_id = hashlib.sha256(b"ecom-pii-key-id" + raw).hexdigest()[:8]
    index_key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ecom blind index").derive(raw)
    return _Key(key_id, AESGCM(raw), index_key)


def normalise_email(email: str) -> str:
    return email.strip().lower()


def normalise_phone(phone: str) -> str:
    digits = re.sub(r"[^\d+]", "", phone.strip())
    return digits


class PiiCipher:
    """Encrypts and decrypts personal data with a key ring (current key first)."""

    def __init__(self, current: str, previous: list[str] | None = None) -> None:
        self._current = _make_key(current)
        self._ring = {self._current.key_id: self._current}
        for text in previous or []:
            key = _make_key(text)
            self._ring.setdefault(key.key_id, key)

    @property
    def current_key_id(self) -> str:
        return self._current.key_id

    def encrypt(self, plain: str | None) -> str | None:
        if plain is None:
            return None
        nonce = os.urandom(12)
        sealed = self._current.aead.encrypt(nonce, plain.encode(), self._current.key_id.encode())
        return f"v1:{self._current.key_id}:{base64.b64encode(nonce + sealed).decode()}"

    def key_id_of(self, token: str) -> str:
        return token.split(":", 2)[1]

    def decrypt(self, token: str | None) -> str | None:
        if token is None:
            return None
        try:
            version, key_id, body = token.split(":", 2)
        except ValueError:
            raise PiiKeyError("stored personal data is not in the expected format") from None
        key = self._ring.get(key_id)
        if version != "v1" or key is None:
            raise PiiKeyError(
                f"personal data was encrypted with key {key_id}, which is not configured; "
                "add it to ECOM_PII_PREVIOUS_KEYS"
            )
        blob = base64.b64decode(body)
        try:
            return key.aead.decrypt(blob[:12], blob[12:], key_id.encode()).decode()
        except InvalidTag:
            raise PiiKeyError(f"personal data under key {key_id} failed authentication (tampered?)") from None

    def blind_index(self, value: str) -> str:
        return hmac.new(self._current.index_key, value.encode(), hashlib.sha256).hexdigest()

    def blind_indexes(self, value: str) -> list[str]:
        """The index of ``value`` under every key in the ring (look-ups during a rotation)."""
        return [hmac.new(k.index_key, value.encode(), hashlib.sha256).hexdigest() for k in self._ring.values()]

    def email_index(self, email: str) -> str:
        return self.blind_index(normalise_email(email))

    def phone_index(self, phone: str) -> str:
        return self.blind_index(normalise_phone(phone))


def load_cipher(data_dir: Path, *, create: bool = True) -> PiiCipher:
    """The cipher from ECOM_PII_KEY (+ ECOM_PII_PREVIOUS_KEYS), else from the data dir's key file,
    created with owner-only permissions when missing (embedded demo only)."""
    current = os.environ.get("ECOM_PII_KEY")
    previous = [k for k in os.environ.get("ECOM_PII_PREVIOUS_KEYS", "").split(",") if k.strip()]
    if current:
        return PiiCipher(current, previous)
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        if not create:
            raise PiiKeyError("no PII key: set ECOM_PII_KEY (see `ecom keys new`)")
        write_key_file(path, {"current": new_key(), "previous": []})
        log.warning("no ECOM_PII_KEY set: created %s (owner-only). Set ECOM_PII_KEY in production.", path)
    keys = json.loads(path.read_text())
    return PiiCipher(keys["current"], list(keys.get("previous", [])) + previous)


def write_key_file(path: Path, keys: dict[str, object]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(keys, fh)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def check_email(email: str) -> str:
    email = normalise_email(email)
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", email):
        raise InvalidInput("email is not a valid address", field="email")
    return email


def check_phone(phone: str) -> str:
    norm = normalise_phone(phone)
    if not re.fullmatch(r"\+?\d{6,15}", norm):
        raise InvalidInput("phone must have 6-15 digits, optionally starting with +", field="phone")
    return norm
