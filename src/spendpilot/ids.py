"""Prefixed random identifiers (thr_, run_, msg_, usr_, org_)."""

import secrets


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"
