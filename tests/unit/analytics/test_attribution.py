"""Attribution: spend by user, by ingesting API key and by a tag's value, read from the raw calls."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from spendpilot.analytics.queries import tag_names, usage_summary
from spendpilot.analytics.rows import build_row

START = datetime(2025, 6, 1, tzinfo=UTC)
USERS = ["ana", "bo", "cy", ""]
KEYS = ["key_a", "key_b", ""]
TEAMS = ["search", "support", None]


@pytest.fixture(scope="module")
async def calls(store):
    org = "org_attribution_test"
    rows = []
    for i in range(600):
        team = TEAMS[i % 3]
        tags = {"env": "prod" if i % 2 else "staging"}
        if team:
            tags["team"] = team
        rows.append(build_row(org_id=org, ts=START + timedelta(minutes=37 * i), provider="openai",
                              model="gpt-4o" if i % 4 else "gpt-4o-mini", feature="chat",
                              input_tokens=500 + i, output_tokens=100 + i % 50, user=USERS[i % 4],
                              api_key_id=KEYS[i % 3 if i % 5 else 2], tags=tags))
    await store.insert_rows(rows)
    return org, rows


def expected(rows: list[dict], key) -> dict[str, list]:
    groups: dict[str, list] = defaultdict(lambda: [0.0, 0, 0, 0])
    for r in rows:
        g = groups[key(r)]
        g[0] += r["cost_usd"]
        g[1] += r["requests"]
        g[2] += r["input_tokens"]
        g[3] += r["output_tokens"]
    return groups


@pytest.mark.parametrize(("group_by", "key"), [
    ("user", lambda r: r["user"]),
    ("api_key", lambda r: r["api_key_id"]),
    ("tag:team", lambda r: r["tags"].get("team", "")),
    ("tag:env", lambda r: r["tags"].get("env", "")),
])
async def test_each_attribution_groups_the_calls_and_adds_up_to_the_total(store, calls, group_by, key):
    org, rows = calls
    summary = await usage_summary(store, org, group_by=group_by)
    want = expected(rows, key)
    assert {g["key"] for g in summary["groups"]} == set(want)
    for g in summary["groups"]:
        cost, requests, tokens_in, tokens_out = want[g["key"]]
        assert g["cost_usd"] == pytest.approx(cost, abs=2e-6)
        assert (g["requests"], g["input_tokens"], g["output_tokens"]) == (requests, tokens_in, tokens_out)
    # The groups read raw calls, the total reads the rollups: they agree.
    assert sum(g["cost_usd"] for g in summary["groups"]) == pytest.approx(summary["total_usd"], abs=1e-5)
    assert summary["group_count"] == len(want) and summary["truncated"] is False
    costs = [g["cost_usd"] for g in summary["groups"]]
    assert costs == sorted(costs, reverse=True)


async def test_a_limit_keeps_the_biggest_groups_and_says_more_were_left_out(store, calls):
    org, rows = calls
    full = await usage_summary(store, org, group_by="user")
    top = await usage_summary(store, org, group_by="user", limit=2)
    assert top["groups"] == full["groups"][:2]
    assert top["group_count"] == len(full["groups"]) == 4 and top["truncated"] is True


async def test_the_window_applies_to_attribution(store, calls):
    org, rows = calls
    day = START.date() + timedelta(days=3)
    summary = await usage_summary(store, org, start=day, end=day, group_by="user")
    on_day = [r for r in rows if r["ts"].date() == day]
    assert sum(g["requests"] for g in summary["groups"]) == len(on_day) > 0


async def test_a_tag_nobody_set_groups_everything_under_the_empty_key(store, calls):
    org, rows = calls
    summary = await usage_summary(store, org, group_by="tag:region")
    assert [(g["key"], g["requests"]) for g in summary["groups"]] == [("", len(rows))]


async def test_tag_names_lists_what_the_calls_carry(store, calls):
    org, _ = calls
    assert await tag_names(store, org) == ["env", "team"]
