"""Every limit, configured small through Settings on a real server: login attempts per account and per
address, socket messages per minute, open sockets per user, frame size, and active runs per user."""

from __future__ import annotations

import asyncio
import json
import uuid
from itertools import pairwise

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from spendpilot import limits
from spendpilot.limits import SlidingWindow
from tests.security.conftest import bearer, new_user, start_server
from tests.support.client import next_of, open_socket, recv_json

LIMITS = {
    "SPENDPILOT_LOGIN_ATTEMPTS_PER_ACCOUNT": "3",
    "SPENDPILOT_LOGIN_ATTEMPTS_PER_IP": "6",
    "SPENDPILOT_LOGIN_WINDOW_S": "300",
    "SPENDPILOT_WS_MESSAGES_PER_MINUTE": "5",
    "SPENDPILOT_MAX_SOCKETS_PER_USER": "2",
    "SPENDPILOT_MAX_FRAME_BYTES": "2048",
    "SPENDPILOT_TRANSPORT_MAX_BYTES": "65536",
    "SPENDPILOT_MAX_ACTIVE_RUNS_PER_USER": "1",
}


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    server = start_server(tmp_path_factory, "limits", LIMITS)
    yield server
    server.stop()


async def _login(http: httpx.AsyncClient, email: str, password: str, ip: str) -> httpx.Response:
    # The test connects from 127.0.0.1, a trusted proxy for uvicorn, so X-Forwarded-For sets the client address.
    return await http.post("/auth/login", json={"email": email, "password": password},
                           headers={"X-Forwarded-For": ip})


def _assert_throttled(response: httpx.Response, window_s: int = 300) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"]["code"] == "rate_limited"
    assert 1 <= int(response.headers["retry-after"]) <= window_s


async def test_failed_logins_lock_the_account_with_retry_after(limited):
    email = f"brute-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(base_url=limited.url) as http:
        registered = await http.post("/auth/register", json={"email": email, "password": "right-password-1"})
        assert registered.status_code == 201
        for attempt in range(3):
            assert (await _login(http, email, f"guess-{attempt}", "10.1.0.1")).status_code == 401
        # Locked: even the right password, even from another address, until the window passes.
        _assert_throttled(await _login(http, email, "right-password-1", "10.1.0.1"))
        _assert_throttled(await _login(http, email, "right-password-1", "10.1.0.2"))
        _assert_throttled(await _login(http, email.upper(), "right-password-1", "10.1.0.3"))
        # Other accounts are not affected by this account's lock.
        other = await new_user(limited.url)
        assert (await _login(http, other["user"]["email"], "correct-horse-battery", "10.1.0.1")).status_code == 200


async def test_failed_logins_from_one_address_throttle_that_address(limited):
    async with httpx.AsyncClient(base_url=limited.url) as http:
        # Spread over many accounts, so only the per-address limit (6) can trip.
        for n in range(6):
            response = await _login(http, f"spray-{n}-{uuid.uuid4().hex[:6]}@example.com", "password1", "10.2.0.1")
            assert response.status_code == 401
        victim = await new_user(limited.url)
        _assert_throttled(await _login(http, victim["user"]["email"], "correct-horse-battery", "10.2.0.1"))
        # Another address signs the same account in.
        assert (await _login(http, victim["user"]["email"], "correct-horse-battery", "10.2.0.2")).status_code == 200


async def test_socket_messages_over_the_rate_get_rate_limited_frames_and_the_socket_stays(limited):
    session = await new_user(limited.url)
    ws = await open_socket(limited.ws_url, session["access_token"])
    try:
        for n in range(8):
            await ws.send(json.dumps({"type": "ping", "id": f"p{n}", "data": {"nonce": n}}))
        replies = [await next_of(ws, {"pong", "error"}) for _ in range(8)]
        assert [r["data"]["nonce"] for r in replies if r["type"] == "pong"] == [0, 1, 2, 3, 4]
        refused = [r for r in replies if r["type"] == "error"]
        assert [r["data"]["code"] for r in refused] == ["rate_limited"] * 3
        assert [r["data"]["client_id"] for r in refused] == ["p5", "p6", "p7"]
    finally:
        await ws.close()
    assert ws.close_code == 1000


async def test_a_user_may_hold_only_so_many_sockets_refused_before_upgrade(limited):
    session = await new_user(limited.url)
    first = await open_socket(limited.ws_url, session["access_token"])
    second = await open_socket(limited.ws_url, session["access_token"], carrier="subprotocol")
    try:
        with pytest.raises(InvalidStatus) as refused:
            async with connect(limited.ws_url, additional_headers=bearer(session["access_token"])):
                pass
        assert refused.value.response.status_code == 429
        assert json.loads(refused.value.response.body)["error"]["code"] == "too_many_connections"
        # Someone else is not limited by this user's sockets.
        other = await new_user(limited.url)
        await (await open_socket(limited.ws_url, other["access_token"])).close()
    finally:
        await second.close()
    # A closed socket frees its place.
    for _ in range(50):
        try:
            third = await open_socket(limited.ws_url, session["access_token"])
            break
        except InvalidStatus:
            await asyncio.sleep(0.1)
    else:
        pytest.fail("a closed socket never freed its place")
    await third.close()
    await first.close()


async def test_frames_over_the_size_limit_get_too_large_and_beyond_the_transport_a_1009_close(limited):
    session = await new_user(limited.url)
    ws = await open_socket(limited.ws_url, session["access_token"])
    try:
        big = json.dumps({"type": "user_message", "id": "big", "data": {"content": "x" * 3000}})
        await ws.send(big)
        error = await next_of(ws, {"error"})
        assert error["data"]["code"] == "too_large"
        await ws.send(json.dumps({"type": "ping", "data": {"nonce": "still-here"}}))
        assert (await next_of(ws, {"pong"}))["data"]["nonce"] == "still-here"
        await ws.send("y" * 70_000)  # over SPENDPILOT_TRANSPORT_MAX_BYTES
        with pytest.raises(ConnectionClosed):
            while True:
                await recv_json(ws, 10)
        assert ws.close_code == 1009
    finally:
        await ws.close()


async def test_active_runs_per_user_are_limited_over_the_socket(limited):
    session = await new_user(limited.url)
    ws = await open_socket(limited.ws_url, session["access_token"])
    try:
        # Sent together: the first run is still active when the others arrive.
        for n in range(4):
            await ws.send(json.dumps({"type": "user_message", "id": f"m{n}", "data": {"content": f"question {n}"}}))
        replies = [await next_of(ws, {"ack", "error"}, 30) for _ in range(4)]
        assert replies[0]["type"] == "ack"
        refused = [r for r in replies if r["type"] == "error"]
        assert refused, "no message was refused while a run was active"
        assert {r["data"]["code"] for r in refused} == {"too_many_runs"}
        assert all(r["data"]["client_id"] in {"m1", "m2", "m3"} for r in refused)
    finally:
        await ws.close()


async def test_a_burst_of_rest_runs_never_has_two_active_at_once(limited):
    """With a limit of 1, the runs a concurrent burst gets accepted must not overlap in time."""
    session = await new_user(limited.url)
    async with httpx.AsyncClient(base_url=limited.url, headers=bearer(session["access_token"]), timeout=60) as http:
        thread = (await http.post("/api/threads", json={"title": "burst"})).json()
        burst = await asyncio.gather(*(http.post(f"/api/threads/{thread['id']}/runs", json={"content": f"q{n}"})
                                       for n in range(8)))
        assert {r.status_code for r in burst} <= {202, 429}
        assert all(r.json()["error"]["code"] == "too_many_runs" for r in burst if r.status_code == 429)
        accepted = [r.json()["run_id"] for r in burst if r.status_code == 202]
        runs = []
        for run_id in accepted:
            for _ in range(600):
                run = (await http.get(f"/api/runs/{run_id}")).json()
                if run["status"] not in ("queued", "running"):
                    break
                await asyncio.sleep(0.1)
            runs.append(run)
    spans = sorted((r["created_at"], r["finished_at"]) for r in runs)
    for (_, finished), (next_created, _) in pairwise(spans):
        assert finished <= next_created, f"{len(runs)} runs of one user were active at once: {spans}"


def test_sliding_window_forgets_idle_keys(monkeypatch):
    # A clock that moves 1 ms a hit: how many keys stay must not depend on how fast this machine is.
    ticks = iter(range(1_000_000))
    monkeypatch.setattr(limits.time, "monotonic", lambda: next(ticks) / 1000)
    window = SlidingWindow(3, 0.0001)
    for n in range(5000):
        window.hit(f"10.0.{n // 256}.{n % 256}")
    # Swept every _SWEEP_EVERY hits: only the keys seen since the last sweep are left (the hit that
    # ran the sweep included).
    assert len(window) == 5000 % limits._SWEEP_EVERY + 1, "keys seen once must not stay forever"
