"""Every catalogue tool's answer on the demo data, as JSON: run it on two trees and diff the files.

    .venv/bin/python bench/analysis_outputs.py --rows 60000 --out /tmp/after.json
    PYTHONPATH=<other tree>/src .venv/bin/python bench/analysis_outputs.py --out /tmp/before.json
    cmp /tmp/before.json /tmp/after.json

Covers the whole org and one scope of each kind (feature, model, provider: rollups; user, tag: raw rows),
over all stored usage and over a fixed 30-day window, so a change to how the figures are read (fused
statements, rollups, caches) can be checked to leave every dollar figure exactly as it was.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from datetime import date
from pathlib import Path

from spendpilot.analytics.catalog import TOOLS, OrgUsage
from spendpilot.analytics.demo import seed_demo
from spendpilot.analytics.scope import Scope
from spendpilot.analytics.store import ChdbStore
from spendpilot.analytics.window import Period

ORG = "outputs_org"
OTHER = "outputs_other_org"
SCOPES = [{}, {"feature": "code-review"}, {"model": "gpt-4o"}, {"provider": "anthropic"},
          {"user": "user-001"}, {"tag": "team=support"}]
# Tools whose answer depends on today's date (forecasts, budgets) are left out: two runs on different
# days would differ for reasons unrelated to how usage is read.
LEFT_OUT = {"forecast_spend", "plan_capacity", "budget_status"}


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def outputs(rows: int, warm: bool) -> dict:
    store = ChdbStore(Path(tempfile.mkdtemp(prefix="spendpilot-outputs-")))
    await store.ensure_schema()
    await seed_demo(store, ORG, rows=rows)
    if warm:
        await seed_demo(store, OTHER, rows=rows // 3)
    usage = OrgUsage(store, ORG)
    out: dict = {"profile_usage": await TOOLS["profile_usage"].run(usage, TOOLS["profile_usage"].arguments())}
    first = out["profile_usage"]["first_day"]
    for period in ({}, {"from": first, "to": None}):
        for scope in SCOPES:
            for name, tool in TOOLS.items():
                if name in LEFT_OUT or name == "profile_usage":
                    continue
                args: dict = {**scope}
                if name == "compare_periods":
                    args.update({"from": out["profile_usage"]["last_day"], "to": out["profile_usage"]["last_day"]})
                elif name == "compare_models":
                    args.update(period, to_model="gpt-4o-mini")
                else:
                    args.update(period)
                groups = ["model", "provider", "feature", "day", "user", "api_key", "tag:team"] \
                    if name == "usage_summary" else [None]
                for group in groups:
                    if group:
                        args["group_by"] = group
                    key = f"{name}|{json.dumps(args, sort_keys=True)}"
                    fresh = OrgUsage(store, ORG)  # each answer on its own, as a new run reads it
                    if warm:  # the full analysis's reads filed first, read together with another org's
                        await store.usage_written(None)  # (analytics.batch): each answer from a cold cache
                        fresh = OrgUsage(store, ORG)
                        period_ = Period(_day(args.get("from")), _day(args.get("to")))
                        await asyncio.gather(fresh.profile(), OrgUsage(store, OTHER).profile())
                        await asyncio.gather(fresh.warm(period_, Scope.of(scope)),
                                             OrgUsage(store, OTHER).warm(Period()))
                    out[key] = await tool.run(fresh, tool.arguments.model_validate(args))
    await store.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--warm", action="store_true", help="file the full analysis's reads first (OrgUsage.warm)")
    args = parser.parse_args()
    result = asyncio.run(outputs(args.rows, args.warm))
    args.out.write_text(json.dumps(result, sort_keys=True, indent=1, default=str))
    print(f"{len(result)} answers written to {args.out}")


if __name__ == "__main__":
    main()
