"""The bus interface: run events fan out to a user's sockets; cancel requests reach executors; notices reach
every process (an org's usage changed, a key was revoked, a session ended: see bus/control.py)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable

# (run_id, seq, frame) -> None; called on the event loop, must not block.
EventHandler = Callable[[str, int, str], None]
CancelHandler = Callable[[str], None]
# payload -> None; called on the event loop, must not block.
NoticeHandler = Callable[[str], None]


def usage_topic(org_id: str) -> str:
    """The notice topic of an org's usage: a `usage_updated` frame for its sockets when new usage is stored."""
    return f"usage:{org_id}"


def user_topic(user_id: str) -> str:
    """The notice topic of one user's sockets: connection frames about the user's runs (`run_queued`)."""
    return f"user:{user_id}"


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
    async def publish_notice(self, topic: str, payload: str) -> None:
        """Deliver `payload` to every handler of `topic` in every process; best effort, at most once."""

    @abstractmethod
    def subscribe_notice(self, topic: str, handler: NoticeHandler) -> Callable[[], None]:
        """Call handler with each notice of `topic` (this process's and others'); returns the unsubscribe."""

    async def start(self) -> None:
        return None

    async def ping(self) -> float:
        return 0.0

    async def close(self) -> None:
        return None
