"""The in-process rate limit: a sliding window per key, refusals with a wait, places given back."""

from __future__ import annotations

from spendpilot.limits import MemoryRateLimit, RateLimits


async def test_a_full_window_refuses_with_the_wait_until_a_place_frees():
    limit = MemoryRateLimit("t", 3, 60)
    hits = [await limit.hit("k") for _ in range(5)]
    assert [h.allowed for h in hits] == [True, True, True, False, False]
    assert all(1 <= h.retry_after_s <= 60 for h in hits[3:])
    assert all(h.retry_after_s == 0 and h.token for h in hits[:3])
    assert (await limit.hit("other")).allowed  # keys are counted apart


async def test_a_released_event_gives_its_place_back_and_reset_forgets_the_key():
    limit = MemoryRateLimit("t", 2, 60)
    first, second = await limit.hit("k"), await limit.hit("k")
    refused = await limit.hit("k")
    assert not refused.allowed
    await limit.release("k", refused)  # a refused hit holds no place: nothing changes
    assert not (await limit.hit("k")).allowed
    await limit.release("k", first)
    assert (await limit.hit("k")).allowed
    assert not (await limit.hit("k")).allowed
    await limit.reset("k")
    assert (await limit.hit("k")).allowed and second.allowed


async def test_events_leave_the_window():
    limit = MemoryRateLimit("t", 1, 0.0001)
    assert (await limit.hit("k")).allowed
    events = limit.window._events["k"]
    events[0] = (events[0][0] - 1.0, events[0][1])  # as if it happened a second ago
    assert (await limit.hit("k")).allowed


def test_without_redis_limits_are_kept_in_this_process():
    limits = RateLimits()
    assert not limits.shared
    assert isinstance(limits.make("x", 1, 1), MemoryRateLimit)
