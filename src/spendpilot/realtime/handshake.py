"""Handshake rules: where the token comes from and which offered subprotocol is selected."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

PROTOCOL = "spendpilot.v1"
JWT_PREFIX = "jwt."


@dataclass(frozen=True)
class Handshake:
    token: str | None
    # Exactly one entry the client offered, byte-for-byte, or None if it offered nothing usable.
    subprotocol: str | None
    problem: str | None = None


def read_handshake(headers: dict[str, str], offered: list[str]) -> Handshake:
    jwt_entry = next((p for p in offered if p.startswith(JWT_PREFIX)), None)
    selected = PROTOCOL if PROTOCOL in offered else jwt_entry
    auth = headers.get("authorization", "")
    if auth:
        scheme, _, value = auth.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return Handshake(None, selected, "malformed Authorization header")
        return Handshake(value.strip(), selected)
    if jwt_entry is None:
        return Handshake(None, selected, "missing token")
    encoded = jwt_entry[len(JWT_PREFIX):]
    try:
        token = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return Handshake(None, selected, "malformed jwt subprotocol entry")
    return Handshake(token, selected)


def jwt_subprotocol(token: str) -> str:
    """The subprotocol entry a browser offers to carry its token."""
    return JWT_PREFIX + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")
