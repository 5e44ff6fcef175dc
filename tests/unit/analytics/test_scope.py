"""Scope: each key narrows the summary to exactly the rows it names, on the rollup and on raw rows alike."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from spendpilot.analytics.catalog import SummaryArgs
from spendpilot.analytics.queries import spend_overview, usage_summary
from spendpilot.analytics.rows import build_row
from spendpilot.analytics.scope import Scope, ScopeError
from spendpilot.analytics.window import Window, daily_costs

END = date(2025, 6, 30)
MODELS = [("openai", "gpt-4o"), ("openai", "gpt-4o-mini"), ("anthropic", "claude-sonnet-4-5")]


@pytest.fixture(scope="module")
async def tagged(store):
    org = f"scope_{uuid.uuid4().hex[:8]}"
    rng = random.Random(11)
    rows = []
    for i in range(3000):
        provider, model = rng.choice(MODELS)
        day = END - timedelta(days=rng.randrange(20))
        rows.append(build_row(
            org, ts=datetime(day.year, day.month, day.day, rng.randrange(24), tzinfo=UTC), provider=provider,
            model=model, feature=rng.choice(["chat", "search", "summaries"]), user=rng.choice(["ann", "bob", "cy", ""]),
            input_tokens=rng.randrange(100, 3000), output_tokens=rng.randrange(10, 800),
            latency_ms=rng.randrange(100, 3000), source_id=f"call-{i}",
            tags={"team": rng.choice(["core", "growth"]), "env": rng.choice(["prod", "staging"]),
                  "company": "acme"}))
    await store.insert_rows(rows)
    return org, rows


def _matches(row: dict, scope: Scope) -> bool:
    for key, value in scope.as_dict().items():
        if key == "tag":
            name, _, wanted = value.partition("=")
            if (row.get("tags") or {}).get(name) != wanted:
                return False
        elif row[key] != value:
            return False
    return True


SCOPES = [
    Scope(),
    Scope(feature="chat"),
    Scope(model="gpt-4o"),
    Scope(provider="anthropic"),
    Scope(user="ann"),
    Scope(tag="team=growth"),
    Scope(feature="search", model="gpt-4o-mini", user="bob"),
    Scope(provider="openai", tag="env=staging"),
    Scope(feature="no-such-feature"),
]


@pytest.mark.parametrize("scope", SCOPES, ids=lambda s: s.key())
@pytest.mark.parametrize("group_by", ["model", "day"])
async def test_summary_of_a_scope_is_the_sum_of_its_rows(store, tagged, scope, group_by):
    org, rows = tagged
    wanted = [r for r in rows if _matches(r, scope)]
    summary = await usage_summary(store, org, group_by=group_by, scope=scope)
    assert summary["scope"] == scope.as_dict()
    assert summary["total_requests"] == len(wanted)
    assert summary["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in wanted), abs=1e-6)
    assert sum(g["requests"] for g in summary["groups"]) == len(wanted)
    if group_by == "model":
        assert {g["key"] for g in summary["groups"]} == {r["model"] for r in wanted}


async def test_raw_and_rollup_paths_agree_to_the_last_digit(store, tagged):
    """A tag every row carries reads raw rows, yet must give the rollup's figures for the same rows."""
    org, _ = tagged
    for key, value in (("feature", "chat"), ("model", "gpt-4o"), ("provider", "openai")):
        rollup, raw = Scope.of({key: value}), Scope.of({key: value, "tag": "company=acme"})
        assert not rollup.needs_raw and raw.needs_raw
        on_rollup = await usage_summary(store, org, group_by="day", scope=rollup)
        on_raw = await usage_summary(store, org, group_by="day", scope=raw)
        assert on_raw["groups"] == on_rollup["groups"]
        assert on_raw["total_usd"] == on_rollup["total_usd"] and on_raw["total_requests"] == on_rollup["total_requests"]


async def test_overview_and_daily_costs_honour_the_scope(store, tagged):
    org, rows = tagged
    scope = Scope(user="cy", feature="summaries")
    wanted = [r for r in rows if _matches(r, scope)]
    overview = await spend_overview(store, org, scope=scope)
    assert overview["scope"] == {"user": "cy", "feature": "summaries"}
    assert overview["requests"] == len(wanted)
    assert {f["feature"] for f in overview["by_feature"]} == {"summaries"}
    assert overview["latency_p50_ms"] is not None
    days = await daily_costs(store, Window(org, END - timedelta(days=19), END), scope)
    assert sum(d["requests"] for d in days) == len(wanted)


def test_scope_values_are_checked_and_tags_need_a_name_and_a_value():
    assert Scope.of({"feature": " chat ", "model": "", "colour": "red"}) == Scope(feature="chat")
    assert Scope.of({"tag": " team = core "}).tag == "team=core"
    assert Scope.of({}).as_dict() == {} and Scope().describe() == "the whole organisation"
    for bad in ({"tag": "team"}, {"tag": "=core"}, {"tag": "team="}, {"user": "x" * 201}, {"model": 3}):
        with pytest.raises(ScopeError):
            Scope.of(bad)


def test_scope_values_are_bound_never_formatted_into_sql():
    scope = Scope(feature="x' OR 1=1 --", tag="a'b=c")
    assert "OR 1=1" not in "".join(scope.conditions())
    assert scope.params()["scope_feature"] == "x' OR 1=1 --"
    assert scope.params()["scope_tag_name"] == "a'b"


def test_tool_arguments_show_from_to_and_only_the_scope_keys_that_are_set():
    args = SummaryArgs.model_validate({"from": "2025-06-01", "to": "2025-06-07", "feature": "support-bot"})
    assert args.model_dump(mode="json", by_alias=True) == {
        "from": "2025-06-01", "to": "2025-06-07", "feature": "support-bot", "group_by": "model"}
    assert args.scope == Scope(feature="support-bot")
    with pytest.raises(ValueError):
        SummaryArgs.model_validate({"tag": "no-equals-sign"})
