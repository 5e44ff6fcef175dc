"""Open connections per user: enforces the per-user socket limit and closes all on shutdown."""

from __future__ import annotations

from collections import defaultdict

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

    def close_all(self, code: int = 1001, reason: str = "server shutting down") -> None:
        for conns in self._by_user.values():
            for conn in conns:
                conn.close_soon(code, reason)
