"""Usage versions shared through Redis: what one process writes, every other process's cache key sees."""

from __future__ import annotations

import uuid

from redis.asyncio import Redis

from spendpilot.analytics.versions import RedisVersions, redis_versions


async def test_a_write_in_one_process_changes_the_version_every_process_reads(redis_url):
    prefix = f"test-versions-{uuid.uuid4().hex[:8]}"
    writer, reader = redis_versions(redis_url, prefix), redis_versions(redis_url, prefix)
    try:
        first = await reader.current("org_a")
        assert first is not None and await writer.current("org_a") == first  # one version for everyone
        other = await reader.current("org_b")
        await writer.changed({"org_a"})
        after = await reader.current("org_a")
        assert after not in (None, first)
        assert await reader.current("org_b") == other  # another org's results stay valid
        await writer.changed(None)  # a write whose orgs are not named changes every org
        assert await reader.current("org_b") != other
    finally:
        await writer.close()
        await reader.close()


async def test_a_lost_key_reads_as_a_new_version_never_an_old_one(redis_url):
    prefix = f"test-versions-{uuid.uuid4().hex[:8]}"
    book = redis_versions(redis_url, prefix)
    try:
        seen = {await book.current("org_a")}
        for _ in range(3):
            await book.changed({"org_a"})
            seen.add(await book.current("org_a"))
        admin = Redis.from_url(redis_url)
        await admin.delete(f"{prefix}:usage_version:org:org_a")  # evicted, flushed, expired
        await admin.aclose()
        assert await book.current("org_a") not in seen
    finally:
        await book.close()


async def test_a_process_that_cannot_reach_redis_does_not_know():
    book = RedisVersions(Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2), "x:")
    try:
        assert await book.current("org_a") is None  # callers then count the org's rows
    finally:
        await book.close()
