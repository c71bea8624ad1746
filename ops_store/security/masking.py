"""Masked renderings of personal data for roles that may not see it in clear."""

from __future__ import annotations


def mask_name(name: str | None) -> str | None:
    if not name:
        return name
    return " ".join(part[0] + "***" for part in name.split() if part)


def mask_email(email: str | None) -> str | None:
    if not email or "@" not in email:
        return None if email is None else "***"
    local, domain = email.split("@", 1)
    return f"{local[0]}***@{domain}"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return phone
    return "***" + phone[-2:]


def mask_street(street: str | None) -> str | None:
    return None if street is None else "***"
