"""Client frames: parse, accept the old aliases, and name what is wrong with a bad one."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

TYPE_ALIASES = {"chat": "user_message", "start_agent": "user_message", "execute_agent": "user_message",
                "stop_agent": "cancel"}
# Each client frame type and the action (auth.permissions) a caller needs to send it.
FRAME_ACTIONS: dict[str, str] = {
    "user_message": "chat.use",
    "regenerate": "chat.use",
    "edit_message": "chat.use",
    "cancel": "chat.use",
    "resume": "chat.use",
    "ping": "account.read",
    "auth": "account.read",
}
KNOWN_TYPES = set(FRAME_ACTIONS)
CONTENT_KEYS = ("content", "text", "message", "user_request")
# Bounded so it always fits the database's integer column (and no run comes near it).
MAX_SEQ = 2**31 - 1


class FrameError(Exception):
    def __init__(self, code: str, message: str, client_id: str | None = None):
        super().__init__(message)
        self.code, self.message, self.client_id = code, message, client_id


@dataclass(frozen=True)
class ClientFrame:
    type: str
    data: dict
    client_id: str | None


def parse_frame(text: str, max_bytes: int) -> ClientFrame:
    # Cheap length test first: a str never has more characters than UTF-8 bytes.
    if len(text) > max_bytes or len(text.encode()) > max_bytes:
        raise FrameError("too_large", f"frame exceeds {max_bytes} bytes")
    try:
        raw = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise FrameError("invalid_json", "frame is not valid JSON") from None
    if not isinstance(raw, dict):
        raise FrameError("invalid_json", "frame must be a JSON object")
    client_id = raw.get("id")
    client_id = str(client_id)[:200] if isinstance(client_id, (str, int)) else None
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise FrameError("invalid_message", "frame needs a string 'type'", client_id)
    kind = TYPE_ALIASES.get(kind, kind)
    if kind not in KNOWN_TYPES:
        raise FrameError("unknown_type", f"unknown frame type {raw.get('type')!r}", client_id)
    data = raw.get("data", raw.get("payload", {}))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise FrameError("invalid_message", "'data' must be an object", client_id)
    return ClientFrame(kind, data, client_id)


def message_content(frame: ClientFrame) -> tuple[str, str | None]:
    content = next((frame.data[k] for k in CONTENT_KEYS if k in frame.data), None)
    if not isinstance(content, str) or not content.strip():
        raise FrameError("invalid_message", "user_message needs non-empty 'content'", frame.client_id)
    thread_id = frame.data.get("thread_id")
    if thread_id is not None and not isinstance(thread_id, str):
        raise FrameError("invalid_message", "'thread_id' must be a string", frame.client_id)
    return content, thread_id


def _text_field(frame: ClientFrame, key: str) -> str:
    value = frame.data.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FrameError("invalid_message", f"{frame.type} needs '{key}'", frame.client_id)
    return value


def regenerate_of(frame: ClientFrame) -> str:
    """`regenerate {thread_id}`: the thread whose last question is answered again."""
    return _text_field(frame, "thread_id")


def edit_of(frame: ClientFrame) -> tuple[str, str, str]:
    """`edit_message {thread_id, message_id, content}`."""
    return _text_field(frame, "thread_id"), _text_field(frame, "message_id"), _text_field(frame, "content")


def run_id_of(frame: ClientFrame) -> str:
    run_id = frame.data.get("run_id")
    if not isinstance(run_id, str) or not run_id:
        raise FrameError("invalid_message", f"{frame.type} needs 'run_id'", frame.client_id)
    return run_id


def after_seq_of(frame: ClientFrame) -> int:
    after = frame.data.get("after_seq", 0)
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_SEQ:
        raise FrameError("invalid_message", f"'after_seq' must be an integer from 0 to {MAX_SEQ}", frame.client_id)
    return after
