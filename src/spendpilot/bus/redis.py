"""Redis bus for `spendpilot serve`: run events to a per-user channel, cancel and notices by broadcast.

The database keeps the durable copy of every event (written before it is published here), so
the bus only has to be fast: a socket that misses a message fills the gap from the event log.
One pub/sub connection per process carries every subscribed user's channel plus the cancel
channel; local handlers are called on the event loop.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import defaultdict
from collections.abc import Callable

from arq.connections import ArqRedis
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from spendpilot.bus.base import CancelHandler, EventBus, EventHandler, NoticeHandler
from spendpilot.logs import get_logger

log = get_logger(__name__)

CANCEL_FLAG_S = 3600
PING_EVERY_S = 5.0
SILENCE_LIMIT_S = 15.0
BusErrors = (RedisError, OSError, asyncio.TimeoutError)


def _dumps(value) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def connect_redis(url: str, prefix: str) -> ArqRedis:
    """The command client: bus publishes, leases, and (through arq) the job queue, on one pool."""
    pool = ConnectionPool.from_url(url, socket_connect_timeout=3, socket_timeout=10, socket_keepalive=True,
                                   retry_on_timeout=False)
    return ArqRedis(pool, job_serializer=_dumps, job_deserializer=json.loads,
                    default_queue_name=f"{prefix}:queue")


class RedisBus(EventBus):
    engine = "redis"

    def __init__(self, url: str, prefix: str = "sp"):
        self.url = url
        self.prefix = prefix
        self.redis: ArqRedis = connect_redis(url, prefix)
        # Pub/sub reads block until a message comes, so its connection has no read timeout;
        # liveness is checked with our own pings instead.
        self._sub_client = Redis(connection_pool=ConnectionPool.from_url(
            url, socket_connect_timeout=3, socket_keepalive=True))
        self.cancel_channel = f"{prefix}:cancel"
        # One channel every process listens to; a message is "<topic> <payload>".
        self.notice_channel = f"{prefix}:notice"
        self._notice_handlers: dict[str, set[NoticeHandler]] = defaultdict(set)
        self._user_prefix = f"{prefix}:user:"
        self._handlers: dict[str, set[EventHandler]] = defaultdict(set)
        self._cancel_handlers: list[CancelHandler] = []
        self._subscribed: set[str] = set()
        self._dirty: set[str] = set()
        self._wakeup = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pubsub: PubSub | None = None
        self._tasks: list[asyncio.Task] = []
        self._last_heard = time.monotonic()
        self._publish_failing = False
        self.listening = False
        # Wall-clock start of the current pub/sub outage (None while connected).
        self.down_since: float | None = None

    # Names -----------------------------------------------------------------------------------

    def user_channel(self, user_id: str) -> str:
        return self._user_prefix + user_id

    def cancel_flag(self, run_id: str) -> str:
        return f"{self.prefix}:cancelled:{run_id}"

    # EventBus --------------------------------------------------------------------------------

    async def publish_event(self, user_id: str, run_id: str, seq: int, frame: str) -> None:
        payload = f"{run_id} {seq} {frame}"
        error: BaseException | None = None
        for attempt in range(2):
            try:
                # The durable copy is the event log; a replay reads it from there, never from Redis.
                await self.redis.publish(self.user_channel(user_id), payload)
                if self._publish_failing:
                    self._publish_failing = False
                    log.info("bus_publish_recovered")
                return
            except BusErrors as exc:
                error = exc
                if attempt == 0:
                    await asyncio.sleep(0.05)
        # The event is stored; sockets here still get it, others catch up from the log.
        if not self._publish_failing:
            self._publish_failing = True
            log.warning("bus_publish_failed", run_id=run_id, seq=seq, error=error)
        self.dispatch_local(user_id, run_id, seq, frame)

    def subscribe_user(self, user_id: str, handler: EventHandler) -> Callable[[], None]:
        self._handlers[user_id].add(handler)
        self._mark(user_id)

        def unsubscribe() -> None:
            handlers = self._handlers.get(user_id)
            if handlers is not None:
                handlers.discard(handler)
                if not handlers:
                    del self._handlers[user_id]
                    self._mark(user_id)

        return unsubscribe

    async def request_cancel(self, run_id: str) -> None:
        # The flag reaches a worker that picks the run up after this broadcast went out.
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.set(self.cancel_flag(run_id), b"1", ex=CANCEL_FLAG_S)
            pipe.publish(self.cancel_channel, run_id)
            await pipe.execute()

    def on_cancel(self, handler: CancelHandler) -> None:
        self._cancel_handlers.append(handler)

    async def publish_notice(self, topic: str, payload: str) -> None:
        try:
            await self.redis.publish(self.notice_channel, f"{topic} {payload}")
        except BusErrors as exc:
            # Other processes miss this one; notices are hints (a usage refresh, a cache eviction) with a
            # slower path behind them, so this process at least gets it.
            log.warning("bus_notice_failed", topic=topic.split(":", 1)[0], error=exc)
            self._dispatch_notice(topic, payload)

    def subscribe_notice(self, topic: str, handler: NoticeHandler) -> Callable[[], None]:
        self._notice_handlers[topic].add(handler)

        def unsubscribe() -> None:
            handlers = self._notice_handlers.get(topic)
            if handlers is not None:
                handlers.discard(handler)
                if not handlers:
                    del self._notice_handlers[topic]

        return unsubscribe

    def _dispatch_notice(self, topic: str, payload: str) -> None:
        for handler in tuple(self._notice_handlers.get(topic, ())):
            try:
                handler(payload)
            except Exception as exc:
                log.error("notice_handler_failed", topic=topic.split(":", 1)[0], error=exc)

    async def start(self, timeout: float = 5.0) -> None:
        await self.redis.ping()
        self._tasks = [asyncio.create_task(self._read_loop(), name="bus-reader"),
                       asyncio.create_task(self._sync_loop(), name="bus-subscriptions"),
                       asyncio.create_task(self._ping_loop(), name="bus-liveness")]
        deadline = time.monotonic() + timeout
        while not self.listening and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if not self.listening:
            raise ConnectionError("could not subscribe to Redis (SPENDPILOT_REDIS_URL)")

    async def ping(self) -> float:
        start = time.perf_counter()
        await self.redis.ping()
        if not self.listening:
            raise ConnectionError("the bus subscriber is not connected")
        return (time.perf_counter() - start) * 1000

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        await self._drop_pubsub()
        await self._sub_client.aclose(close_connection_pool=True)
        await self.redis.aclose(close_connection_pool=True)

    # Local delivery --------------------------------------------------------------------------

    def local_users(self) -> list[str]:
        return list(self._handlers)

    def dispatch_local(self, user_id: str, run_id: str, seq: int, frame: str) -> None:
        for handler in tuple(self._handlers.get(user_id, ())):
            try:
                handler(run_id, seq, frame)
            except Exception as exc:  # one bad socket must not starve the others
                log.error("bus_handler_failed", run_id=run_id, error=exc)

    def _on_message(self, message: dict) -> None:
        self._last_heard = time.monotonic()
        if message["type"] != "message":
            return
        channel = message["channel"].decode()
        data = message["data"].decode()
        if channel == self.notice_channel:
            topic, _, payload = data.partition(" ")
            self._dispatch_notice(topic, payload)
            return
        if channel == self.cancel_channel:
            for handler in tuple(self._cancel_handlers):
                try:
                    handler(data)
                except Exception as exc:
                    log.error("cancel_handler_failed", run_id=data, error=exc)
            return
        if channel.startswith(self._user_prefix):
            run_id, seq, frame = data.split(" ", 2)
            self.dispatch_local(channel[len(self._user_prefix):], run_id, int(seq), frame)

    # Subscription upkeep ---------------------------------------------------------------------

    def _mark(self, user_id: str) -> None:
        self._dirty.add(user_id)
        self._wakeup.set()

    async def _read_loop(self) -> None:
        backoff = 0.1
        while True:
            pubsub = self._sub_client.pubsub(ignore_subscribe_messages=True)
            try:
                async with self._lock:
                    users = list(self._handlers)
                    await pubsub.subscribe(self.cancel_channel, self.notice_channel,
                                           *[self.user_channel(u) for u in users])
                    self._pubsub, self._subscribed = pubsub, set(users)
                    self._dirty |= set(self._handlers) ^ self._subscribed
                self._last_heard = time.monotonic()
                self.listening = True
                if self.down_since is not None:
                    log.info("bus_reconnected", down_s=round(time.time() - self.down_since, 1))
                    self.down_since = None
                backoff = 0.1
                self._wakeup.set()
                async for message in pubsub.listen():
                    self._on_message(message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self.down_since is None:
                    self.down_since = time.time()
                    log.warning("bus_subscriber_lost", error=exc)
            self.listening = False
            await self._drop_pubsub(pubsub)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _drop_pubsub(self, pubsub=None) -> None:
        pubsub = pubsub or self._pubsub
        if pubsub is self._pubsub:
            self._pubsub = None
        if pubsub is not None:
            try:
                await pubsub.aclose()
            except Exception:
                pass

    async def _sync_loop(self) -> None:
        """Subscribe a user's channel with their first socket, unsubscribe after their last."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            async with self._lock:
                pubsub = self._pubsub
                if pubsub is None or not self.listening:
                    continue  # the reader subscribes everything wanted when it reconnects
                dirty, self._dirty = self._dirty, set()
                add = [u for u in dirty if u in self._handlers and u not in self._subscribed]
                drop = [u for u in dirty if u not in self._handlers and u in self._subscribed]
                try:
                    if add:
                        await pubsub.subscribe(*[self.user_channel(u) for u in add])
                        self._subscribed.update(add)
                    if drop:
                        await pubsub.unsubscribe(*[self.user_channel(u) for u in drop])
                        self._subscribed.difference_update(drop)
                except BusErrors as exc:
                    log.warning("bus_subscribe_failed", error=exc)
                    self._dirty |= dirty

    async def _ping_loop(self) -> None:
        """A half-open connection never errors on its own: ping it, and drop it when it stays silent."""
        while True:
            await asyncio.sleep(PING_EVERY_S)
            pubsub = self._pubsub
            if pubsub is None or not self.listening:
                continue
            if time.monotonic() - self._last_heard > SILENCE_LIMIT_S:
                log.warning("bus_subscriber_silent")
                if pubsub.connection is not None:
                    await pubsub.connection.disconnect()
                continue
            try:
                await pubsub.ping(b"liveness")
            except BusErrors:
                pass
