"""RunCursor: a consumer gets a run's events in seq order, each once, with gaps filled from the stored log."""

from __future__ import annotations

import pytest

from spendpilot.runs.replay import RunCursor

RUN = "run_cursor"


def frame(seq: int) -> str:
    return f'{{"seq": {seq}}}'


@pytest.fixture
async def stored(event_log):
    """Store seqs 1..n of RUN in the log, as the emitter does before publishing them."""
    async def store(*seqs: int) -> None:
        for seq in seqs:
            await event_log.append(RUN, seq, "agent_thinking", frame(seq))
    return store


def seqs(events) -> list[int]:
    return [seq for seq, _ in events]


async def test_live_events_in_order_are_delivered_one_by_one(event_log, stored):
    await stored(1, 2, 3)
    cursor = RunCursor(event_log, RUN)
    delivered = [await cursor.receive(seq, frame(seq)) for seq in (1, 2, 3)]
    assert delivered == [[(1, frame(1))], [(2, frame(2))], [(3, frame(3))]]
    assert cursor.delivered == 3


async def test_an_event_at_or_below_the_cursor_is_dropped(event_log, stored):
    await stored(1, 2, 3)
    cursor = RunCursor(event_log, RUN)
    for seq in (1, 2, 3):
        await cursor.receive(seq, frame(seq))
    assert await cursor.receive(3, frame(3)) == []
    assert await cursor.receive(1, frame(1)) == []
    assert cursor.delivered == 3


async def test_a_gap_is_filled_from_the_log_before_the_live_event(event_log, stored):
    await stored(1, 2, 3, 4, 5)
    cursor = RunCursor(event_log, RUN)
    assert seqs(await cursor.receive(1, frame(1))) == [1]
    # 2..4 were never published to this consumer: they come from the log, then 5 itself.
    assert await cursor.receive(5, "live-5") == [(2, frame(2)), (3, frame(3)), (4, frame(4)), (5, "live-5")]
    assert cursor.delivered == 5


async def test_a_new_cursor_receiving_mid_run_gets_the_run_from_seq_1(event_log, stored):
    await stored(1, 2, 3)
    cursor = RunCursor(event_log, RUN)
    assert seqs(await cursor.receive(3, frame(3))) == [1, 2, 3]


async def test_nothing_is_delivered_out_of_order_when_the_log_has_not_caught_up(event_log, stored):
    await stored(1, 2)  # 3 and 4 are not stored (yet)
    cursor = RunCursor(event_log, RUN)
    await cursor.receive(1, frame(1))
    # 5 arrives live but 3..4 are missing from the log: deliver what is contiguous, hold back 5.
    assert seqs(await cursor.receive(5, frame(5))) == [2]
    assert cursor.delivered == 2
    # Once 3 arrives, delivery continues in order.
    assert seqs(await cursor.receive(3, frame(3))) == [3]
    await stored(4, 5)
    assert seqs(await cursor.receive(6, frame(6))) == [4, 5, 6]


async def test_skip_to_marks_what_the_consumer_already_has(event_log, stored):
    await stored(1, 2, 3, 4)
    cursor = RunCursor(event_log, RUN)
    cursor.skip_to(3)
    assert await cursor.receive(2, frame(2)) == []
    assert await cursor.receive(3, frame(3)) == []
    assert seqs(await cursor.receive(4, frame(4))) == [4]
    cursor.skip_to(1)  # never moves back
    assert cursor.delivered == 4


async def test_replay_returns_everything_stored_after_the_cursor_once(event_log, stored):
    await stored(1, 2, 3, 4, 5)
    cursor = RunCursor(event_log, RUN, delivered=2)
    assert await cursor.replay() == [(3, frame(3)), (4, frame(4)), (5, frame(5))]
    assert cursor.delivered == 5
    assert await cursor.replay() == []
    # A live event the replay already delivered is not delivered again.
    assert await cursor.receive(5, frame(5)) == []


async def test_replay_after_skip_to_sends_only_what_is_missing(event_log, stored):
    await stored(1, 2, 3, 4)
    cursor = RunCursor(event_log, RUN)
    cursor.skip_to(3)
    assert seqs(await cursor.replay()) == [4]


async def test_replay_of_an_empty_log_leaves_the_cursor_where_it_was(event_log):
    cursor = RunCursor(event_log, RUN, delivered=7)
    assert await cursor.replay() == []
    assert cursor.delivered == 7
