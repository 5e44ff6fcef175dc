"""JWT issue and verify: EdDSA only, kid in the header, typed access and refresh tokens."""

from __future__ import annotations

import time
from dataclasses import dataclass

import jwt

from spendpilot.auth.signing import KeyRing
from spendpilot.ids import new_id


class TokenError(Exception):
    """The token is missing, malformed, expired, of the wrong type or wrongly signed."""


@dataclass(frozen=True)
class Claims:
    user_id: str
    org_id: str
    email: str
    type: str
    jti: str
    family_id: str
    exp: int


# A one-time code that hands an OAuth sign-in to the browser: redeemed once, within a minute.
EXCHANGE_TTL_S = 60
TOKEN_TYPES = ("access", "refresh", "exchange")


class TokenService:
    def __init__(self, keys: KeyRing, access_ttl_s: int, refresh_ttl_s: int):
        self.keys = keys
        self.access_ttl_s = access_ttl_s
        self.refresh_ttl_s = refresh_ttl_s

    def ttl_s(self, type: str) -> int:
        return {"access": self.access_ttl_s, "refresh": self.refresh_ttl_s, "exchange": EXCHANGE_TTL_S}[type]

    def issue(self, *, user_id: str, org_id: str, email: str, family_id: str, type: str) -> tuple[str, Claims]:
        now = int(time.time())
        ttl = self.ttl_s(type)
        claims = Claims(user_id, org_id, email, type, new_id("jti"), family_id, now + ttl)
        payload = {"sub": user_id, "org": org_id, "email": email, "type": type, "iat": now,
                   "exp": claims.exp, "jti": claims.jti, "fam": family_id}
        token = jwt.encode(payload, self.keys.active.private, algorithm="EdDSA",
                           headers={"kid": self.keys.active.kid})
        return token, claims

    def verify(self, token: str, expected_type: str) -> Claims:
        if not isinstance(token, str) or len(token) > 8192:
            raise TokenError("invalid token")
        try:
            header = jwt.get_unverified_header(token)
            # Only EdDSA: this rejects alg=none and HS256-with-the-public-key confusion.
            if header.get("alg") != "EdDSA":
                raise TokenError("unsupported algorithm")
            key = self.keys.public_key(str(header.get("kid", "")))
            if key is None:
                raise TokenError("unknown signing key")
            payload = jwt.decode(token, key, algorithms=["EdDSA"],
                                 options={"require": ["sub", "exp", "iat", "jti", "type", "fam"]})
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("token expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("invalid token") from exc
        if payload.get("type") != expected_type:
            raise TokenError(f"expected an {expected_type} token")
        return Claims(str(payload["sub"]), str(payload.get("org", "")), str(payload.get("email", "")),
                      payload["type"], str(payload["jti"]), str(payload.get("fam", "")), int(payload["exp"]))
