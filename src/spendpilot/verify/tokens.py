"""Bad access tokens a client can build on its own, to prove the server refuses them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def split(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, payload and raw signature of a JWT, without verifying it."""
    head, body, signature = token.split(".")
    return json.loads(_unb64(head)), json.loads(_unb64(body)), signature


def _join(header: dict, payload: dict, signature: str) -> str:
    head = _b64(json.dumps(header, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    return f"{head}.{body}.{signature}"


def expired_keeping_signature(token: str) -> str:
    """The real token with exp (and iat) moved into the past and the original signature kept.

    A client cannot mint a validly signed expired token without the server's key, so this
    proves the server refuses a token whose exp is past and whose claims no longer match
    the signature; a server that checked neither would let it in.
    """
    header, payload, signature = split(token)
    now = int(time.time())
    payload["iat"] = now - 7200
    payload["exp"] = now - 3600
    return _join(header, payload, signature)


def _fresh_key(alg: str) -> tuple[Any, str]:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048), alg
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1()), alg
    return ed25519.Ed25519PrivateKey.generate(), "EdDSA"


def forged_with_fresh_key(token: str) -> str:
    """The real (unexpired) claims signed with a freshly generated key under the server's kid."""
    header, payload, _ = split(token)
    key, alg = _fresh_key(str(header.get("alg", "EdDSA")))
    extra = {"kid": header["kid"]} if "kid" in header else {}
    return jwt.encode(payload, key, algorithm=alg, headers=extra)


def alg_none(token: str) -> str:
    """The real claims with alg=none and no signature."""
    header, payload, _ = split(token)
    new_header = {"alg": "none", "typ": "JWT"}
    if "kid" in header:
        new_header["kid"] = header["kid"]
    return _join(new_header, payload, "")


def hs256_with_public_key(token: str, jwks: dict) -> str | None:
    """Algorithm confusion: HS256 keyed with the server's published public key (PEM)."""
    header, payload, _ = split(token)
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list):
        return None
    match = [k for k in keys if isinstance(k, dict) and k.get("kid") == header.get("kid")]
    if not match:
        return None
    try:
        public = jwt.PyJWK(match[0]).key
        pem = public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except Exception:  # noqa: BLE001 - any key we cannot load just skips this variant
        return None
    new_header = {"alg": "HS256", "typ": "JWT", "kid": header.get("kid")}
    head = _b64(json.dumps(new_header, separators=(",", ":")).encode())
    body = _b64(json.dumps(payload, separators=(",", ":")).encode())
    mac = hmac.new(pem, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"
