"""The bus interface: run events fan out to a user's sockets; cancel requests reach executors;
control messages (bus/control.py) reach every instance's sockets."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

from spendpilot.bus.control import ControlHandler

# (run_id, seq, frame) -> None; called on the event loop, must not block.
EventHandler = Callable[[str, int, str], None]
CancelHandler = Callable[[str], None]


class EventBus(ABC):
    engine: str

    @abstractmethod
    async def publish_event(self, user_id: str, run_id: str, seq: int, frame: str) -> None: ...

    @abstractmethod
    def subscribe_user(self, user_id: str, handler: EventHandler) -> Callable[[], None]:
        """Deliver every run event of `user_id` to handler; returns the unsubscribe function."""

    @abstractmethod
    async def request_cancel(self, run_id: str) -> None: ...

    @abstractmethod
    def on_cancel(self, handler: CancelHandler) -> None: ...

    @abstractmethod
    async def publish_control(self, message: dict) -> None:
        """Deliver `message` to the control handlers of every process, this one included."""

    @abstractmethod
    def on_control(self, handler: ControlHandler) -> Callable[[], None]:
        """Call handler with each control message; returns the function that stops it."""

    async def start(self) -> None:
        return None

    async def ping(self) -> float:
        return 0.0

    async def close(self) -> None:
        return None
