"""Handshake rules of SPEC §4: both token carriers, the subprotocol selection, 403 before upgrade."""

from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from spendpilot.realtime.handshake import jwt_subprotocol
from tests.support.client import login


@pytest.fixture
async def token(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    return session["access_token"]


def _server_key(server):
    pem = sorted((server.data_dir / "keys").glob("signing-*.pem"))[-1].read_bytes()
    return serialization.load_pem_private_key(pem, password=None)


def _claims(token: str) -> tuple[dict, dict]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


async def _ready(ws) -> dict:
    frame = json.loads(await ws.recv())
    assert frame["type"] == "connection_ready"
    return frame


@pytest.mark.parametrize("path", ["/ws", "/api/v1/websocket"])
async def test_bearer_header_without_subprotocol_selects_none(spendpilot_server, token, path):
    url = spendpilot_server.ws_url.replace("/ws", path)
    async with connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert ws.subprotocol is None
        ready = await _ready(ws)
        assert ready["data"]["protocol"] == "spendpilot.v1" and ready["data"]["resume"] is True
        assert "run_id" not in ready and "seq" not in ready


async def test_jwt_entry_alone_is_selected_byte_for_byte(spendpilot_server, token):
    entry = jwt_subprotocol(token)
    async with connect(spendpilot_server.ws_url, subprotocols=[entry]) as ws:
        assert ws.subprotocol == entry
        await _ready(ws)


async def test_spendpilot_v1_wins_when_offered_with_the_jwt_entry(spendpilot_server, token):
    async with connect(spendpilot_server.ws_url, subprotocols=[jwt_subprotocol(token), "spendpilot.v1"]) as ws:
        assert ws.subprotocol == "spendpilot.v1"
        await _ready(ws)


async def test_header_token_with_spendpilot_v1_offered(spendpilot_server, token):
    async with connect(spendpilot_server.ws_url, subprotocols=["spendpilot.v1"],
                       additional_headers={"Authorization": f"Bearer {token}"}) as ws:
        assert ws.subprotocol == "spendpilot.v1"
        ready = await _ready(ws)
        assert ready["data"]["user_id"].startswith("usr_")


def _expired(server, token):
    header, claims = _claims(token)
    claims.update(iat=int(time.time()) - 3600, exp=int(time.time()) - 60)
    return jwt.encode(claims, _server_key(server), algorithm="EdDSA", headers={"kid": header["kid"]})


def _wrong_key(server, token):
    header, claims = _claims(token)
    return jwt.encode(claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": header["kid"]})


def _alg_none(server, token):
    _, claims = _claims(token)
    segments = [base64.urlsafe_b64encode(json.dumps(part).encode()).decode().rstrip("=")
                for part in ({"alg": "none", "typ": "JWT"}, claims)]
    return ".".join(segments) + "."


def _tampered(server, token):
    head, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "usr_someone_else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"{head}.{forged}.{signature}"


def _hs256_with_public_key(server, token):
    header, claims = _claims(token)
    public = _server_key(server).public_key().public_bytes(serialization.Encoding.PEM,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return jwt.encode(claims, public.decode()[:32], algorithm="HS256", headers={"kid": header["kid"]})


@pytest.mark.parametrize("carrier", ["header", "subprotocol"])
@pytest.mark.parametrize("make_bad", [None, _expired, _wrong_key, _alg_none, _tampered, _hs256_with_public_key,
                                      lambda server, token: "not-a-jwt"],
                         ids=["missing", "expired", "wrong_key", "alg_none", "tampered", "hs256", "garbage"])
async def test_bad_tokens_are_refused_with_403_before_upgrade(spendpilot_server, token, make_bad, carrier):
    kwargs: dict = {}
    if make_bad is not None:
        bad = make_bad(spendpilot_server, token)
        if carrier == "header":
            kwargs["additional_headers"] = {"Authorization": f"Bearer {bad}"}
        else:
            kwargs["subprotocols"] = ["spendpilot.v1", jwt_subprotocol(bad)]
    with pytest.raises(InvalidStatus) as refused:
        async with connect(spendpilot_server.ws_url, **kwargs):
            pass
    assert refused.value.response.status_code == 403
    assert json.loads(refused.value.response.body)["error"]["code"] == "unauthorized"


async def test_refresh_token_is_not_an_access_token(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    with pytest.raises(InvalidStatus) as refused:
        async with connect(spendpilot_server.ws_url,
                           additional_headers={"Authorization": f"Bearer {session['refresh_token']}"}):
            pass
    assert refused.value.response.status_code == 403
