"""Open connections per user: enforces the per-user socket limit, applies control messages from the bus
(sessions revoked, roles changed) to this process's sockets, and closes all on shutdown."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from spendpilot.auth.permissions import Role, is_role
from spendpilot.bus.control import CLOSE_SESSIONS, ROLE_CHANGED
from spendpilot.realtime.connection import Connection


class ConnectionRegistry:
    def __init__(self) -> None:
        self._by_user: dict[str, set[Connection]] = defaultdict(set)

    def add(self, conn: Connection) -> None:
        self._by_user[conn.principal.user_id].add(conn)

    def remove(self, conn: Connection) -> None:
        conns = self._by_user.get(conn.principal.user_id)
        if conns is not None:
            conns.discard(conn)
            if not conns:
                del self._by_user[conn.principal.user_id]

    def count(self, user_id: str) -> int:
        return len(self._by_user.get(user_id, ()))

    def total(self) -> int:
        return sum(len(c) for c in self._by_user.values())

    def apply(self, message: dict) -> None:
        """A control message (bus/control.py), for whichever of this process's sockets it concerns."""
        conns = tuple(self._by_user.get(str(message.get("user_id")), ()))
        kind = message.get("kind")
        if kind == CLOSE_SESSIONS:
            sessions = set(message.get("sessions") or ())
            for conn in conns:
                if conn.principal.session_id in sessions:
                    conn.revoke(str(message.get("reason") or "session ended"))
        elif kind == ROLE_CHANGED and is_role(str(message.get("role"))):
            for conn in conns:
                if conn.principal.org_id == message.get("org_id"):
                    conn.principal = replace(conn.principal, role=Role(message["role"]))

    def close_all(self, code: int = 1001, reason: str = "server shutting down") -> None:
        for conns in self._by_user.values():
            for conn in conns:
                conn.close_soon(code, reason)
