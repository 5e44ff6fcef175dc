"""Notices across processes on Redis: an org's usage_updated reaches sockets on another API instance, and a key
revoked on one instance is dropped from the other's cache at once (the 1 s TTL being the bound without Redis)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from spendpilot.auth.api_keys import REVOKED_TOPIC, ApiKeyService
from spendpilot.bus.base import usage_topic
from spendpilot.bus.redis import RedisBus
from spendpilot.intake.notices import UsageNotices

pytestmark = pytest.mark.services


async def test_notices_reach_every_process_and_revocation_empties_the_other_cache(redis_url):
    prefix = f"sp-test-{uuid.uuid4().hex[:8]}"
    here, there = RedisBus(redis_url, prefix), RedisBus(redis_url, prefix)
    await here.start()
    await there.start()
    try:
        heard: asyncio.Queue[str] = asyncio.Queue()
        there.subscribe_notice(usage_topic("org_a"), heard.put_nowait)
        there.subscribe_notice(usage_topic("org_b"), lambda frame: heard.put_nowait("wrong org: " + frame))
        notices = UsageNotices(here, every_s=60)
        await notices.stored("org_a", 3, "otlp")
        await notices.stored("org_a", 4, "gateway")  # within the second: folded into one trailing notice
        frame = await asyncio.wait_for(heard.get(), 5)
        assert '"type":"usage_updated"' in frame and '"rows":3' in frame and '"sources":["otlp"]' in frame
        notices.close()
        assert heard.empty()

        # A revocation notice published here reaches the other process's key cache.
        keys = ApiKeyService(db=None, bus=there, ttl_s=1.0)  # type: ignore[arg-type]
        keys._cache["hash-of-a-key"] = object()  # type: ignore[assignment]
        await here.publish_notice(REVOKED_TOPIC, "hash-of-a-key")
        for _ in range(100):
            if "hash-of-a-key" not in keys._cache:
                break
            await asyncio.sleep(0.02)
        assert "hash-of-a-key" not in keys._cache
        keys.close()
    finally:
        await here.close()
        await there.close()
