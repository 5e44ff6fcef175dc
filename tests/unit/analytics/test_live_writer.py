"""The live intake writer against a real chDB store: spans sent again, twice in one commit or twice in one export
are stored once; gateway rows (never repeated) go straight in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from spendpilot.analytics.live_writer import IntakeWriter
from spendpilot.analytics.rows import build_row

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def span_rows(org_id: str, ids: list[str]) -> list[dict]:
    """Rows as the receiver makes them; a span sent again has its start time again."""
    return [build_row(org_id, ts=T0 + timedelta(milliseconds=sum(map(ord, source_id))), model="gpt-4o-mini",
                      provider="openai", input_tokens=100, output_tokens=10, source_id=source_id)
            for source_id in ids]


async def stored(store, org_id: str) -> list[str]:
    rows = await store.query("SELECT source_id FROM llm_usage WHERE org_id = {org:String} ORDER BY source_id",
                             {"org": org_id})
    return [row["source_id"] for row in rows]


async def test_spans_repeated_in_a_batch_across_batches_and_across_orgs_are_stored_once_per_org(store, org_id):
    other = org_id + "_b"
    writer = IntakeWriter(store, max_pending=10_000, max_pending_per_key=10_000, batch_rows=10_000,
                          write_timeout_s=60, commit_every_s=0.05)
    await writer.start()
    try:
        ids = [f"{n:032x}:{n:016x}" for n in range(1, 6)]
        # One export that repeats a span, and two concurrent exports of the same spans: one commit holds all.
        await asyncio.gather(writer.write(span_rows(org_id, ids + ids[:1]), key_id="k", source="otlp"),
                             writer.write(span_rows(org_id, ids[2:]), key_id="k", source="otlp"),
                             writer.write(span_rows(other, ids[:2]), key_id="k2", source="otlp"))
        assert await stored(store, org_id) == ids
        assert await stored(store, other) == ids[:2]
        # A retry later: nothing new. A retry mixed with new spans: only the new ones.
        fresh = [f"{n:032x}:{n:016x}" for n in range(6, 8)]
        await writer.write(span_rows(org_id, ids), key_id="k", source="otlp")
        await writer.write(span_rows(org_id, ids[3:] + fresh), key_id="k", source="otlp")
        assert await stored(store, org_id) == ids + fresh
        # Identities that are not plain hex are looked up as a parameter, with the same outcome.
        odd = ["trace'x:1", "trace\\y:2"]
        await writer.write(span_rows(org_id, odd), key_id="k", source="otlp")
        await writer.write(span_rows(org_id, odd), key_id="k", source="otlp")
        assert sorted(await stored(store, org_id)) == sorted(ids + fresh + odd)
        # A large batch (more ids than fit one statement as a list), one of them already stored.
        many = [f"{n:032x}:{n:016x}" for n in range(100, 6100)]
        await writer.write(span_rows(org_id, many + fresh[:1]), key_id="k", source="otlp")
        assert len(await stored(store, org_id)) == len(ids + fresh + odd + many)
        # Gateway calls carry a fresh identity each and skip the look-up.
        await writer.write(span_rows(org_id, ["gateway:1"]), key_id="k", source="gateway", dedupe=False)
        assert len(await stored(store, org_id)) == len(ids + fresh + odd + many) + 1
    finally:
        await writer.close()


async def test_a_commit_makes_stale_only_the_cached_analyses_of_the_orgs_it_stored(store, org_id):
    """Live usage arrives all day: a commit for one org must not send every other org's analyses back to
    the engine (the staged merge names no org in its statement, so the writer names them)."""
    bystander = org_id + "_quiet"
    writer = IntakeWriter(store, max_pending=10_000, max_pending_per_key=10_000, batch_rows=10_000,
                          write_timeout_s=60, commit_every_s=0.0)
    await writer.start()
    try:
        before = {org: await store.versions.current(org) for org in (org_id, bystander)}
        await writer.write(span_rows(org_id, [f"{n:032x}:{n:016x}" for n in range(1, 4)]), key_id="k", source="otlp")
        assert await store.versions.current(bystander) == before[bystander]
        assert await store.versions.current(org_id) != before[org_id]
        # Gateway rows take the plain insert, which names its orgs too.
        middle = await store.versions.current(org_id)
        await writer.write(span_rows(org_id, ["gateway:9"]), key_id="k", source="gateway", dedupe=False)
        assert await store.versions.current(bystander) == before[bystander]
        assert await store.versions.current(org_id) != middle
    finally:
        await writer.close()
