"""In-process bus for `spendpilot up`: plain callbacks, no copies, no serialisation."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from spendpilot.bus.base import CancelHandler, EventBus, EventHandler, NoticeHandler


class MemoryBus(EventBus):
    engine = "memory"

    def __init__(self) -> None:
        self._subscribers: dict[str, set[EventHandler]] = defaultdict(set)
        self._cancel_handlers: list[CancelHandler] = []
        self._notice_handlers: dict[str, set[NoticeHandler]] = defaultdict(set)

    async def publish_event(self, user_id: str, run_id: str, seq: int, frame: str) -> None:
        for handler in tuple(self._subscribers.get(user_id, ())):
            handler(run_id, seq, frame)

    def subscribe_user(self, user_id: str, handler: EventHandler) -> Callable[[], None]:
        return _subscribe(self._subscribers, user_id, handler)

    async def request_cancel(self, run_id: str) -> None:
        for handler in self._cancel_handlers:
            handler(run_id)

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    async def publish_notice(self, topic: str, payload: str) -> None:
        for handler in tuple(self._notice_handlers.get(topic, ())):
            handler(payload)

    def subscribe_notice(self, topic: str, handler: NoticeHandler) -> Callable[[], None]:
        return _subscribe(self._notice_handlers, topic, handler)

    async def ping(self) -> float:
        start = time.perf_counter()
        return (time.perf_counter() - start) * 1000


def _subscribe(table: dict[str, set[Any]], key: str, handler: Any) -> Callable[[], None]:
    table[key].add(handler)

    def unsubscribe() -> None:
        handlers = table.get(key)
        if handlers is not None:
            handlers.discard(handler)
            if not handlers:
                del table[key]

    return unsubscribe
