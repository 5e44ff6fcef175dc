"""Logs: every value JSON-safe, no secrets or prompt text, and a log call that can never raise."""

from __future__ import annotations

import enum
import io
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import BaseModel

from spendpilot.logs import configure_logging, get_logger, json_safe
from tests.security.conftest import bearer
from tests.support.client import next_of, open_socket

JWT = ("eyJhbGciOiJFZERTQSIsImtpZCI6ImFiYyJ9.eyJzdWIiOiJ1c3JfMSIsInR5cGUiOiJhY2Nlc3MifQ."
       "c2lnbmF0dXJlLWJ5dGVzLWhlcmU")


class Colour(enum.Enum):
    RED = "red"
    WHEN = datetime(2026, 1, 2, tzinfo=UTC)


class Level(enum.IntEnum):
    HIGH = 3


class Hostile:
    def __repr__(self):
        raise RuntimeError("repr exploded")

    def __str__(self):
        raise RuntimeError("str exploded")


class HostileError(Exception):
    def __str__(self):
        raise RuntimeError("str exploded")


class HostileKey:
    def __hash__(self):
        return 1

    def __str__(self):
        raise RuntimeError("no name")

    __repr__ = __str__


@dataclass
class Login:
    email: str
    password: str


class Body(BaseModel):
    title: str
    api_key: str


@pytest.fixture
def captured():
    buffer = io.StringIO()
    configure_logging(json_output=True, file=buffer)
    yield buffer
    configure_logging(json_output=False)


def lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


def test_json_safe_turns_every_kind_of_value_into_strict_json():
    loop: list = [1]
    loop.append(loop)
    value = {
        "enum": Colour.RED, "enum_of_datetime": Colour.WHEN, "int_enum": Level.HIGH,
        "when": datetime(2026, 11, 21, 21, 31, tzinfo=UTC), "day": date(2026, 11, 21),
        "took": timedelta(seconds=1.5), "money": Decimal("12.50"), "id": uuid.UUID(int=1), "path": Path("/tmp/x"),
        "raw": b"\x00\xff secret bytes", "tags": {"b"}, "pair": (1, 2), "nan": float("nan"), "big": 2**80,
        "error": ValueError("bad value"), "hostile": Hostile(), "loop": loop, "dc": Login("a@b.c", "hunter2"),
        "model": Body(title="t", api_key="sk-live-123"), 7: "int key",
    }
    safe = json_safe(value)
    text = json.dumps(safe, allow_nan=False)  # strict: raises on anything JSON cannot carry
    assert safe["enum"] == "red" and safe["enum_of_datetime"] == "2026-01-02T00:00:00+00:00"
    assert safe["int_enum"] == 3 and safe["when"] == "2026-11-21T21:31:00+00:00" and safe["day"] == "2026-11-21"
    assert safe["took"] == 1.5 and safe["money"] == "12.50" and safe["path"] == "/tmp/x"
    assert safe["raw"] == "<15 bytes>" and safe["tags"] == ["b"] and safe["pair"] == [1, 2]
    assert safe["nan"] == "nan" and safe["big"] == str(2**80) and safe["7"] == "int key"
    assert safe["error"] == "ValueError: bad value"
    assert safe["hostile"] == "<unloggable Hostile>"
    assert safe["dc"] == {"email": "a@b.c", "password": "[redacted]"}
    assert safe["model"] == {"title": "t", "api_key": "[redacted]"}
    assert "hunter2" not in text and "sk-live-123" not in text and "secret bytes" not in text


def test_nested_secrets_and_prompt_text_are_redacted_but_counts_stay():
    safe = json_safe({"request": {"headers": {"Authorization": f"Bearer {JWT}", "Cookie": "sp_oauth_state=x"},
                                  "json": {"email": "a@b.c", "password": "hunter2", "refresh_token": JWT}},
                      "frame": {"type": "user_message", "data": {"content": "my secret plan"}},
                      "usage": {"input_tokens": 1200, "output_tokens": 80, "prompt": "summarise the contract"},
                      "note": f"retrying with token {JWT} and Bearer abc.def.ghi"})
    text = json.dumps(safe)
    for secret in ("hunter2", JWT, "sp_oauth_state=x", "my secret plan", "summarise the contract", "abc.def.ghi"):
        assert secret not in text, secret
    assert safe["usage"]["input_tokens"] == 1200 and safe["usage"]["output_tokens"] == 80
    assert safe["request"]["json"]["email"] == "a@b.c"
    assert "[redacted-jwt]" in safe["note"] and "Bearer [redacted]" in safe["note"]


def test_a_log_line_is_json_with_everything_redacted(captured):
    log = get_logger("test.logs")
    log.info("user_signed_in", status=Colour.RED, at=datetime(2026, 1, 1, tzinfo=UTC),
             error=ValueError(f"token {JWT} rejected"), body={"user": {"password": "hunter2"}},
             content="what did we spend on gpt-4o?", access_token=JWT, input_tokens=5)
    (line,) = lines(captured)
    assert line["event"] == "user_signed_in" and line["level"] == "info" and line["status"] == "red"
    assert line["at"] == "2026-01-01T00:00:00+00:00" and line["input_tokens"] == 5
    assert line["content"] == "[redacted]" and line["access_token"] == "[redacted]"
    raw = captured.getvalue()
    assert "hunter2" not in raw and JWT not in raw and "gpt-4o?" not in raw


def test_a_log_call_never_raises(captured):
    log = get_logger("test.logs")
    loop: dict = {}
    loop["self"] = loop
    log.error("hostile_values", a=Hostile(), b=HostileError(), c=loop, d={HostileKey(): 1},
              e=(x for x in range(3)), f=object, g=float("inf"))
    log.info(Hostile())  # even the event itself
    log.exception("with_traceback", exc_info=HostileError())
    broken = io.StringIO()
    configure_logging(json_output=True, file=broken)
    broken.close()  # stderr gone: the line is lost, the caller is not
    get_logger("test.logs").info("into_the_void", x=1)
    records = lines(captured)
    assert [r["event"] for r in records] == ["hostile_values", "<unloggable Hostile>", "with_traceback"]
    assert records[0]["a"] == "<unloggable Hostile>" and records[0]["b"] == "<unloggable HostileError>"


async def test_the_server_log_holds_no_password_token_or_prompt(security_server):
    password = f"pw-{uuid.uuid4().hex}"
    prompt = f"prompt-{uuid.uuid4().hex}: analyze my costs"
    async with httpx.AsyncClient(base_url=security_server.url) as http:
        email = f"log-{uuid.uuid4().hex[:8]}@example.com"
        session = (await http.post("/auth/register", json={"email": email, "password": password})).json()
        await http.post("/auth/login", json={"email": email, "password": password + "-wrong"})
        await http.post("/auth/refresh", json={"refresh_token": session["refresh_token"]})
        await http.get("/auth/me", headers=bearer(session["access_token"] + "x"))
    ws = await open_socket(security_server.ws_url, session["access_token"])
    try:
        await ws.send(json.dumps({"type": "user_message", "id": "c1", "data": {"content": prompt}}))
        await next_of(ws, {"ack", "error"})
        await ws.send(json.dumps({"type": "user_message", "data": {"content": prompt, "thread_id": 7}}))
        await next_of(ws, {"error"})
    finally:
        await ws.close()
    log = security_server.log_path.read_text(errors="replace")
    for secret in (password, session["access_token"], session["refresh_token"], prompt):
        assert secret not in log
