"""Control messages every instance acts on at once: close a user's sockets, update the role they carry.

Published by the domain (auth, teams) when a session is revoked, a member removed or a role
changed; each process applies them to the sockets it holds (realtime/registry.py). They travel
as bus notices of one topic, like every other message all processes hear.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from spendpilot.bus.base import EventBus

ControlHandler = Callable[[dict], None]

TOPIC = "control"
CLOSE_SESSIONS = "close_sessions"
ROLE_CHANGED = "role_changed"


def close_sessions(user_id: str, session_ids: list[str], reason: str) -> dict:
    """Close (1008) every socket of `user_id` signed in through one of `session_ids`."""
    return {"kind": CLOSE_SESSIONS, "user_id": user_id, "sessions": sorted(session_ids), "reason": reason}


def role_changed(user_id: str, org_id: str, role: str) -> dict:
    """Sockets of `user_id` in `org_id` now act with `role`."""
    return {"kind": ROLE_CHANGED, "user_id": user_id, "org_id": org_id, "role": role}


async def publish(bus: EventBus, message: dict) -> None:
    """Deliver `message` to the control handlers of every process, this one included."""
    await bus.publish_notice(TOPIC, json.dumps(message, separators=(",", ":")))


def subscribe(bus: EventBus, handler: ControlHandler) -> Callable[[], None]:
    """Call handler with each control message; returns the function that stops it."""

    def decoded(payload: str) -> None:
        try:
            message = json.loads(payload)
        except ValueError:
            return
        if isinstance(message, dict):
            handler(message)

    return bus.subscribe_notice(TOPIC, decoded)
