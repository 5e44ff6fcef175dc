"""Rate limits counted in Redis: one window for every process, atomic under concurrency, alive without Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from redis.asyncio import Redis

from spendpilot.limits import RateLimits, RedisRateLimit
from tests.integration.cluster import delete_redis_keys
from tests.support.server import free_port

pytestmark = pytest.mark.services


@pytest.fixture
async def clients(redis_url):
    """Two connections, as two processes would have."""
    made = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    yield made
    for client in made:
        await client.aclose()


@pytest.fixture
def prefix(redis_url):
    prefix = f"sptest{uuid.uuid4().hex[:10]}"
    yield prefix
    delete_redis_keys(redis_url, prefix)


async def test_two_processes_share_one_window_and_a_burst_gets_exactly_the_limit(clients, prefix):
    one, two = (RedisRateLimit(c, prefix, "login_ip", 5, 300) for c in clients)
    burst = await asyncio.gather(*((one, two)[n % 2].hit("10.0.0.1") for n in range(20)))
    assert sum(h.allowed for h in burst) == 5
    assert all(1 <= h.retry_after_s <= 300 for h in burst if not h.allowed)
    assert (await two.hit("10.0.0.2")).allowed  # another key has its own window


async def test_release_and_reset_are_seen_by_every_process(clients, prefix):
    one, two = (RedisRateLimit(c, prefix, "login_account", 2, 300) for c in clients)
    first = await one.hit("a@example.com")
    assert (await two.hit("a@example.com")).allowed
    assert not (await one.hit("a@example.com")).allowed
    await one.release("a@example.com", first)
    assert (await two.hit("a@example.com")).allowed
    await two.reset("a@example.com")
    assert (await one.hit("a@example.com")).allowed


async def test_the_window_slides_on_the_redis_clock(clients, prefix):
    limit = RedisRateLimit(clients[0], prefix, "socket_messages", 2, 60)
    assert (await limit.hit("usr_1")).allowed and (await limit.hit("usr_1")).allowed
    assert not (await limit.hit("usr_1")).allowed
    # Age both events past the window, as if a minute had gone by.
    key = limit.key("usr_1")
    for member, score in await clients[0].zrange(key, 0, -1, withscores=True):
        await clients[0].zadd(key, {member: score - 61_000})
    assert (await limit.hit("usr_1")).allowed


async def test_keys_in_redis_do_not_hold_addresses_or_emails(clients, prefix):
    limit = RedisRateLimit(clients[0], prefix, "login_account", 3, 60)
    await limit.hit("someone@example.com")
    keys = [k.decode() async for k in clients[0].scan_iter(match=f"{prefix}:*")]
    assert keys and all("example.com" not in k for k in keys)
    assert all(k.startswith(f"{prefix}:limit:login_account:") for k in keys)


async def test_without_redis_the_limit_holds_in_this_process():
    down = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=1)
    try:
        limit = RateLimits(down, "sp").make("login_ip", 2, 60)
        hits = [await limit.hit("10.0.0.1") for _ in range(3)]
    finally:
        await down.aclose()
    assert [h.allowed for h in hits] == [True, True, False]
