"""Demo data: deterministic, priced, and the same rows whether seeded or imported from its CSV."""

from __future__ import annotations

import csv
from datetime import date

import pytest

from spendpilot.analytics.demo import CSV_COLUMNS, generate_usage, seed_demo, write_demo_file
from spendpilot.analytics.importers import import_usage
from spendpilot.analytics.queries import usage_summary


def test_generation_is_deterministic_and_spans_the_days():
    a = list(generate_usage("o", 3000, days=30, seed=5, end=date(2025, 1, 30)))
    b = list(generate_usage("o", 3000, days=30, seed=5, end=date(2025, 1, 30)))
    c = list(generate_usage("o", 3000, days=30, seed=6, end=date(2025, 1, 30)))
    assert a == b and a != c
    assert 2900 <= len(a) <= 3200  # about the rows asked for (retries add a few)
    assert a[0]["ts"].date() == date(2025, 1, 1) and a[-1]["ts"].date() == date(2025, 1, 30)
    assert [r["ts"] for r in a] == sorted(r["ts"] for r in a)
    assert {r["provider"] for r in a} == {"openai", "anthropic", "google"}
    assert all(r["priced"] == 1 and r["cost_usd"] > 0 for r in a if r["output_tokens"] or r["input_tokens"])


def test_unknown_planted_waste_is_refused():
    with pytest.raises(ValueError, match="unknown planted"):
        list(generate_usage("o", 10, planted={"free_lunch"}))


async def test_seed_then_import_of_the_demo_file_adds_nothing(store, org_id, tmp_path):
    inserted = await seed_demo(store, org_id, rows=5_000)
    summary = await usage_summary(store, org_id)
    assert summary["total_requests"] == inserted >= 4_900

    path = tmp_path / "demo.csv"
    written = write_demo_file(path, 5_000, org_id=org_id)
    with open(path, newline="") as fh:
        assert next(csv.reader(fh)) == CSV_COLUMNS
    assert written == inserted
    # The file holds the very rows seeded: the CSV path computes the same row keys.
    with open(path, "rb") as fh:
        report = await import_usage(store, org_id, fh, filename="demo.csv")
    assert (report["imported"], report["duplicates"], report["rejected"]) == (0, written, [])
    assert await usage_summary(store, org_id) == summary


async def test_demo_file_imports_into_a_new_org_with_the_same_totals(store, org_id, tmp_path):
    path = tmp_path / "demo.csv"
    rows = list(generate_usage("x", 4_000, days=20, seed=9))
    write_demo_file(path, 4_000, days=20, seed=9)
    with open(path, "rb") as fh:
        report = await import_usage(store, org_id, fh)
    assert report["imported"] == len(rows) and report["duplicates"] == 0
    summary = await usage_summary(store, org_id)
    # Costs in the file are kept as given (not re-priced).
    assert summary["total_usd"] == pytest.approx(sum(r["cost_usd"] for r in rows), abs=1e-5)
