"""`ecom keys rotate`: where the keys come from, and the order of steps that loses nothing.

Environment keys: the operator sets ECOM_PII_KEY to the new key and ECOM_PII_PREVIOUS_KEYS to the
old one(s), runs the rotation, then removes the previous keys. Key file (embedded demo): a new
key is written first next to the old one, rows are re-encrypted, then the old key is dropped; an
interrupted rotation resumes with the same new key."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ops_store.db import Store
from ops_store.security.pii import KEY_FILE_NAME, PiiCipher, new_key, write_key_file
from ops_store.services import keys


def rotate_keys(store: Store, data_dir: Path, *, progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    if os.environ.get("ECOM_PII_KEY"):
        previous = [k for k in os.environ.get("ECOM_PII_PREVIOUS_KEYS", "").split(",") if k.strip()]
        cipher = PiiCipher(os.environ["ECOM_PII_KEY"], previous)
        report = keys.rotate(store, cipher, progress=progress)
        report["next_step"] = "every row is under the new key: remove ECOM_PII_PREVIOUS_KEYS"
        store.cipher = cipher
        return report
    path = data_dir / KEY_FILE_NAME
    if not path.exists():
        from ops_store.security.pii import load_cipher

        load_cipher(data_dir)  # creates the first key: nothing to rotate from yet
    saved = json.loads(path.read_text())
    if not saved.get("previous"):  # start a rotation: new key in front, old ones kept for reading
        saved = {"current": new_key(), "previous": [saved["current"]]}
        write_key_file(path, saved)
    cipher = PiiCipher(saved["current"], list(saved["previous"]))
    store.cipher = cipher
    report = keys.rotate(store, cipher, progress=progress)
    if keys.count_stale(store, cipher) == 0:
        write_key_file(path, {"current": saved["current"], "previous": []})
        store.cipher = PiiCipher(saved["current"])
    report["key_file"] = str(path)
    return report
