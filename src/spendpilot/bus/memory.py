"""In-process bus for `spendpilot up`: plain callbacks, no copies, no serialisation."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from spendpilot.bus.base import CancelHandler, EventBus, EventHandler
from spendpilot.bus.control import ControlHandler


class MemoryBus(EventBus):
    engine = "memory"

    def __init__(self) -> None:
        self._subscribers: dict[str, set[EventHandler]] = defaultdict(set)
        self._cancel_handlers: list[CancelHandler] = []
        self._control_handlers: list[ControlHandler] = []

    async def publish_event(self, user_id: str, run_id: str, seq: int, frame: str) -> None:
        for handler in tuple(self._subscribers.get(user_id, ())):
            handler(run_id, seq, frame)

    def subscribe_user(self, user_id: str, handler: EventHandler) -> Callable[[], None]:
        self._subscribers[user_id].add(handler)

        def unsubscribe() -> None:
            handlers = self._subscribers.get(user_id)
            if handlers is not None:
                handlers.discard(handler)
                if not handlers:
                    del self._subscribers[user_id]

        return unsubscribe

    async def request_cancel(self, run_id: str) -> None:
        for handler in self._cancel_handlers:
            handler(run_id)

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    async def publish_control(self, message: dict) -> None:
        for handler in tuple(self._control_handlers):
            handler(message)

    def on_control(self, handler: ControlHandler) -> Callable[[], None]:
        self._control_handlers.append(handler)
        return lambda: self._control_handlers.remove(handler) if handler in self._control_handlers else None

    async def ping(self) -> float:
        start = time.perf_counter()
        return (time.perf_counter() - start) * 1000
