"""Tokens: EdDSA JWTs with a kid, refused when expired, tampered, of the wrong type or signed by an unknown key."""

from __future__ import annotations

import base64
import time

import jwt
import orjson
import pytest

from spendpilot.auth.signing import KeyRing
from spendpilot.auth.tokens import EXCHANGE_TTL_S, TokenError, TokenService
from tests.unit.auth.keys import ACCESS_TTL_S, REFRESH_TTL_S, new_pem

WHO = {"user_id": "usr_1", "org_id": "org_1", "email": "ana@example.com", "family_id": "fam_1"}


def issue(service: TokenService, type: str = "access") -> str:
    token, _ = service.issue(type=type, **WHO)
    return token


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode().rstrip("=")


def unb64(part: str) -> dict:
    return orjson.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def refused(service: TokenService, token, type: str = "access") -> str:
    with pytest.raises(TokenError) as raised:
        service.verify(token, type)
    return str(raised.value)


@pytest.mark.parametrize(("type", "ttl"), [("access", ACCESS_TTL_S), ("refresh", REFRESH_TTL_S),
                                           ("exchange", EXCHANGE_TTL_S)])
def test_an_issued_token_verifies_to_its_claims(tokens, keys, type, ttl):
    before = int(time.time())
    token, claims = tokens.issue(type=type, **WHO)
    header, payload = unb64(token.split(".")[0]), unb64(token.split(".")[1])
    assert (header["alg"], header["kid"]) == ("EdDSA", keys.active.kid)
    assert payload["sub"] == "usr_1" and payload["org"] == "org_1" and payload["email"] == "ana@example.com"
    assert payload["type"] == type and payload["fam"] == "fam_1" and payload["jti"] == claims.jti
    assert before <= payload["iat"] and payload["exp"] == payload["iat"] + ttl
    assert tokens.verify(token, type) == claims


def test_every_token_has_its_own_jti(tokens):
    jtis = {tokens.issue(type="access", **WHO)[1].jti for _ in range(5)}
    assert len(jtis) == 5


@pytest.mark.parametrize(("issued", "expected"), [("access", "refresh"), ("refresh", "access"),
                                                  ("exchange", "refresh"), ("refresh", "exchange")])
def test_a_token_of_another_type_is_refused(tokens, issued, expected):
    assert refused(tokens, issue(tokens, issued), expected) == f"expected an {expected} token"


def test_an_expired_token_is_refused(keys):
    expired = TokenService(keys, access_ttl_s=-5, refresh_ttl_s=-5)
    assert refused(expired, issue(expired)) == "token expired"
    assert refused(expired, issue(expired, "refresh"), "refresh") == "token expired"


def test_a_token_whose_claims_were_changed_is_refused(tokens):
    header, payload, signature = issue(tokens).split(".")
    forged = unb64(payload) | {"sub": "usr_admin"}
    assert refused(tokens, f"{header}.{b64(forged)}.{signature}") == "invalid token"


def test_a_token_whose_signature_was_changed_is_refused(tokens):
    header, payload, signature = issue(tokens).split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert refused(tokens, f"{header}.{payload}.{flipped}") == "invalid token"


def test_a_token_signed_by_an_unknown_key_is_refused(tokens):
    stranger = TokenService(KeyRing.from_pem(new_pem()), ACCESS_TTL_S, REFRESH_TTL_S)
    assert refused(tokens, issue(stranger)) == "unknown signing key"


def test_a_token_naming_a_known_kid_but_signed_by_another_key_is_refused(tokens, keys):
    stranger = KeyRing.from_pem(new_pem())
    payload = {"sub": "usr_1", "org": "org_1", "email": "e", "type": "access", "iat": int(time.time()),
               "exp": int(time.time()) + 60, "jti": "jti_1", "fam": "fam_1"}
    forged = jwt.encode(payload, stranger.active.private, algorithm="EdDSA", headers={"kid": keys.active.kid})
    assert refused(tokens, forged) == "invalid token"


def test_alg_none_and_hmac_tokens_are_refused(tokens, keys):
    payload = {"sub": "usr_1", "type": "access", "iat": int(time.time()), "exp": int(time.time()) + 60,
               "jti": "j", "fam": "f"}
    unsigned = f"{b64({'alg': 'none', 'kid': keys.active.kid})}.{b64(payload)}."
    assert refused(tokens, unsigned) == "unsupported algorithm"
    hmac = jwt.encode(payload, "a-shared-secret-of-enough-length!", algorithm="HS256",
                      headers={"kid": keys.active.kid})
    assert refused(tokens, hmac) == "unsupported algorithm"


@pytest.mark.parametrize("missing", ["sub", "exp", "iat", "jti", "type", "fam"])
def test_a_correctly_signed_token_without_a_required_claim_is_refused(tokens, keys, missing):
    payload = {"sub": "usr_1", "org": "org_1", "email": "e", "type": "access", "iat": int(time.time()),
               "exp": int(time.time()) + 60, "jti": "jti_1", "fam": "fam_1"}
    del payload[missing]
    token = jwt.encode(payload, keys.active.private, algorithm="EdDSA", headers={"kid": keys.active.kid})
    assert refused(tokens, token) == "invalid token"


@pytest.mark.parametrize("token", [None, 42, "", "not-a-jwt", "a.b.c", "x" * 9000])
def test_garbage_is_refused_without_an_unexpected_error(tokens, token):
    assert refused(tokens, token) == "invalid token"


def test_a_token_signed_by_the_previous_key_still_verifies_after_rotation():
    old_pem, new_pem_text = new_pem(), new_pem()
    before = TokenService(KeyRing.from_pem(old_pem), ACCESS_TTL_S, REFRESH_TTL_S)
    old_token, old_claims = before.issue(type="refresh", **WHO)
    after = TokenService(KeyRing.from_pem(new_pem_text, [old_pem]), ACCESS_TTL_S, REFRESH_TTL_S)
    assert after.verify(old_token, "refresh") == old_claims
    new_token = issue(after)
    assert unb64(new_token.split(".")[0])["kid"] == after.keys.active.kid != before.keys.active.kid
    # Once the old key is dropped from the ring, its tokens stop verifying.
    dropped = TokenService(KeyRing.from_pem(new_pem_text), ACCESS_TTL_S, REFRESH_TTL_S)
    assert refused(dropped, old_token, "refresh") == "unknown signing key"
    assert dropped.verify(new_token, "access").user_id == "usr_1"
