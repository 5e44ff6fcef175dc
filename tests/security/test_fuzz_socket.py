"""Property-based fuzzing of socket frames against a real server: random JSON-ish frames, random text and
bytes, every type and alias with random payloads, huge strings. Never a 1011 close, never an internal
error, and after each batch the same socket still answers ping with pong."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.asyncio.client import connect

from tests.security.conftest import bearer, new_user

TYPES = ["user_message", "chat", "start_agent", "execute_agent", "cancel", "stop_agent", "resume", "ping", "auth"]
FIELDS = ["content", "text", "message", "user_request", "thread_id", "run_id", "after_seq", "nonce", "access_token"]

# The session's own thread and run ids join the pool when it opens, so frames also reach owned objects.
KNOWN_IDS: list[str] = ["thr_missing", "run_missing"]
scalars = (st.deferred(lambda: st.sampled_from(KNOWN_IDS)) | st.none() | st.booleans()
           | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40)
           | st.sampled_from(["thr_", "run_", "run_missing", "thr_missing", "", " ", "0", "-1", "null"]))
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=12), inner, max_size=4), max_leaves=12)
payloads = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=12), json_values, max_size=5)


@st.composite
def typed_frames(draw) -> str:
    frame = {"type": draw(st.sampled_from(TYPES) | st.text(max_size=15) | json_values)}
    if draw(st.booleans()):
        frame["id"] = draw(json_values)
    body = draw(payloads | json_values)
    frame[draw(st.sampled_from(["data", "payload", "data", "body"]))] = body
    if draw(st.booleans()):  # an old client's fields at the top level as well
        frame.update(draw(payloads))
    return json.dumps(frame)


# Up to ~800 kB: past the 64 KiB frame limit, within the 1 MiB transport (beyond it a 1009 close is allowed).
huge = st.builds(lambda kind, n, ch: (json.dumps({"type": kind, "data": {"content": ch * n, "nonce": ch * n}},
                                                 ensure_ascii=False) if kind else ch * n),
                 st.sampled_from(["user_message", "ping", "chat", None]),
                 st.integers(min_value=16_000, max_value=100_000), st.sampled_from(["x", "é", "€", "😀", "\\", '"']))
raw_text = st.text(max_size=200) | st.sampled_from(["", "null", "[]", "{}", "NaN", "1e999", '{"type":', "\x00",
                                                     '{"type": "ping", "data": []}', "[" * 5000 + "]" * 5000,
                                                     '{"a":' * 3000 + "1" + "}" * 3000])
frames = st.one_of(typed_frames(), typed_frames(), raw_text, st.binary(max_size=300), huge)


class Session:
    """One socket reused across examples on a private event loop: each batch must leave it usable."""

    def __init__(self, url: str, ws_url: str):
        self.loop = asyncio.new_event_loop()
        self.url, self.ws_url = url, ws_url
        self.ws = None
        self.errors: list[str] = []

    def run(self, coroutine):
        return self.loop.run_until_complete(coroutine)

    async def open(self) -> None:
        session = await new_user(self.url)
        self.ws = await connect(self.ws_url, additional_headers=bearer(session["access_token"]), max_size=2**22)
        ready = json.loads(await self.ws.recv())
        assert ready["type"] == "connection_ready"
        await self.ws.send(json.dumps({"type": "user_message", "id": "seed", "data": {"content": "Analyze my costs"}}))
        while (ack := json.loads(await self.ws.recv()))["type"] != "ack":
            pass
        self.run_id, self.thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
        KNOWN_IDS.extend([self.run_id, self.thread_id])

    async def batch(self, batch: list) -> None:
        for frame in batch:
            await self.ws.send(frame)
        nonce = uuid.uuid4().hex
        await self.ws.send(json.dumps({"type": "ping", "data": {"nonce": nonce}}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if frame["type"] == "error":
                self.errors.append(frame["data"]["code"])
                assert frame["data"]["code"] != "internal_error", frame
                assert set(frame["data"]) <= {"code", "message", "client_id"}, frame
            if frame["type"] == "pong" and frame["data"].get("nonce") == nonce:
                return

    def close(self) -> None:
        if self.ws is not None:
            self.run(self.ws.close())
            assert self.ws.close_code == 1000, (self.ws.close_code, self.ws.close_reason)
        self.loop.close()


LOG_START: dict = {}


@pytest.fixture
def socket_session(security_server):
    LOG_START.setdefault(security_server.log_path, security_server.log_path.stat().st_size)
    session = Session(security_server.url, security_server.ws_url)
    session.run(session.open())
    yield session
    session.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow, HealthCheck.data_too_large])
@given(batch=st.lists(frames, min_size=1, max_size=8))
def test_random_frames_never_break_the_socket(socket_session, batch):
    socket_session.run(socket_session.batch(batch))


def test_the_fuzzer_reaches_every_error_code(socket_session):
    """Not luck: each SPEC §4 error code is produced by the frames above."""
    socket_session.run(socket_session.batch([
        "not json", b"\x00\x01", json.dumps({"type": "dance"}), json.dumps({"type": "chat", "payload": {}}),
        json.dumps({"type": "ping", "data": {"nonce": "x" * 70_000}}),
        json.dumps({"type": "resume", "data": {"run_id": "run_x", "after_seq": 2**62}}),
        json.dumps({"type": "resume", "data": {"run_id": "run_x", "after_seq": 3}}),
        json.dumps({"type": "resume", "data": {"run_id": socket_session.run_id, "after_seq": 2**62}}),
        json.dumps({"type": "cancel", "data": {"run_id": socket_session.run_id}}),
        json.dumps({"type": "user_message", "data": {"content": "again", "thread_id": socket_session.thread_id}}),
    ]))
    assert {"invalid_json", "unknown_type", "invalid_message", "too_large", "not_found"} <= set(socket_session.errors)


def test_resume_past_64_bits_is_refused_and_the_socket_stays(socket_session):
    """Once killed the send loop with an SQLite overflow (a dead socket, no close frame)."""
    socket_session.run(socket_session.batch([
        json.dumps({"type": "resume", "data": {"run_id": socket_session.run_id, "after_seq": 2**63 + 5}})]))
    assert socket_session.errors[-1] == "invalid_message"


def test_the_server_logged_no_handler_failure(security_server, socket_session):
    # Only what this module's sockets caused: other modules share the server (and its known import bugs).
    resumes = [json.dumps({"type": "resume", "data": {"run_id": "r", "after_seq": after}}) for after in (2**63, -1)]
    socket_session.run(socket_session.batch(resumes))
    log = security_server.log_path.read_bytes()[LOG_START[security_server.log_path]:].decode(errors="replace")
    for marker in ("frame_handler_failed", "socket_task_failed", "unhandled_error", "Traceback"):
        assert marker not in log, marker
