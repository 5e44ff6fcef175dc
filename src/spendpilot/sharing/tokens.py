"""Share-link tokens: random, looked up by their hash, and kept sealed so their owner can see the link again.

A token is 32 url-safe characters from the operating system's CSPRNG (192 bits); it is not derived from any
id. The store keeps its SHA-256 (what a request is matched against) and a copy sealed with AES-GCM under a
key derived from the signing keys (auth.signing.KeyRing.derived_keys): a copy of the database alone opens no
link. A link sealed with a key that has since been retired still works; only its URL cannot be shown again.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from spendpilot.auth.signing import KeyRing

TOKEN_BYTES = 24
# What a token can look like; anything else is refused before the database is asked.
TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{22,64}$")
PURPOSE = "share-links"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    return bool(TOKEN_SHAPE.match(token))


def seal(keys: KeyRing, token: str) -> str:
    kid, key = keys.derived_keys(PURPOSE)[0]
    nonce = os.urandom(12)
    sealed = AESGCM(key).encrypt(nonce, token.encode(), kid.encode())
    return f"{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def unseal(keys: KeyRing, sealed: str | None) -> str | None:
    """The token, or None when the key that sealed it is gone (or the copy was tampered with)."""
    if not sealed or "." not in sealed:
        return None
    kid, _, body = sealed.partition(".")
    key = dict(keys.derived_keys(PURPOSE)).get(kid)
    if key is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(body.encode())
        return AESGCM(key).decrypt(raw[:12], raw[12:], kid.encode()).decode()
    except (InvalidTag, ValueError):
        return None
