"""Shaping service results into response bodies (validated against the documented schema)."""

from __future__ import annotations

import base64
from typing import Any

from fastapi import Response
from pydantic import BaseModel

from ops_store.api.schemas import MAX_ID
from ops_store.errors import InvalidInput


def json_body(model: type[BaseModel], data: Any) -> str:
    """The body as the schema documents it: validated, aliases applied, money as strings."""
    return model.model_validate(data).model_dump_json(by_alias=True)


def json_response(model: type[BaseModel], data: Any, status: int = 200, headers: dict[str, str] | None = None,
                  ) -> Response:
    return Response(json_body(model, data), status_code=status, media_type="application/json", headers=headers)


def encode_cursor(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"before:{last_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, value = text.partition(":")
        if kind == "before" and value.isdigit() and int(value) <= MAX_ID:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidInput("cursor is not one this API gave out; pass next_cursor from the previous page", field="cursor")
