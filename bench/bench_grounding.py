"""What holding model text to the facts costs: filing a run's tool results, and guarding a streamed report.

    .venv/bin/python bench/bench_grounding.py --rows 60000 --repeat 200

Loads demo usage into a temporary chDB, runs every tool of the catalogue as the pipeline does, then
times (a) filing all their results into Facts, (b) streaming the report prose through StreamGuard one
word at a time, as a model streams it, and (c) reading claims from text, in characters per second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

from spendpilot.agents.grounding import Facts, StreamGuard, claims_in
from spendpilot.agents.report import build_report, period_of, render_markdown
from spendpilot.analytics.analyses import REGISTRY
from spendpilot.analytics.catalog import TOOLS, OrgUsage
from spendpilot.analytics.demo import seed_demo
from spendpilot.analytics.store import ChdbStore
from spendpilot.analytics.window import Period

ORG = "bench_org"


def timed(repeat: int, work) -> list[float]:
    """Milliseconds per call of `work`, `repeat` times."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def show(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
    print(f"  {name:<44} p50 {statistics.median(ordered):7.3f} ms   p95 {p95:7.3f} ms")


async def tool_results(rows: int) -> list[object]:
    store = ChdbStore(Path(tempfile.mkdtemp(prefix="spendpilot-bench-grounding-")))
    await store.ensure_schema()
    await seed_demo(store, ORG, rows=rows)
    usage = OrgUsage(store, ORG)
    results = [await tool.run(usage, tool.arguments()) for tool in TOOLS.values()]
    await store.close()
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    results = await tool_results(args.rows)
    by_name = dict(zip(TOOLS, results, strict=True))
    profile, summary, overview = by_name["profile_usage"], by_name["usage_summary"], by_name["spend_overview"]
    findings = [f for a in REGISTRY if a.kind == "savings" for f in by_name[a.tool]]
    anomalies = [f for a in REGISTRY if a.kind == "anomalies" for f in by_name[a.tool]]

    def fill() -> Facts:
        facts = Facts()
        for result in results:
            facts.add_result(result)
        return facts

    facts = fill()
    report = build_report(period=period_of(profile, Period()), summary=summary, overview=overview,
                          sufficiency="sufficient", findings=findings, anomalies=anomalies, profile=profile,
                          facts=facts)
    prose = render_markdown(report, "cost_analysis")
    words = re.findall(r"\s*\S+\s*", prose)

    def stream() -> None:
        guard = StreamGuard(facts)
        for word in words:
            guard.feed(word)
        guard.finish()

    print(f"machine: {platform.machine()} {os.cpu_count()} cores, python {platform.python_version()}; "
          f"{args.rows:,} demo rows, {len(TOOLS)} tools, report {len(prose):,} chars in {len(words)} deltas, "
          f"{len(claims_in(prose))} claims")
    show("file every tool result into Facts", timed(args.repeat, fill))
    stream_ms = timed(args.repeat, stream)
    show("guard the streamed report (whole answer)", stream_ms)
    print(f"  {'per delta':<44} mean {statistics.mean(stream_ms) / len(words) * 1000:7.1f} µs")
    extract_ms = timed(args.repeat, lambda: claims_in(prose))
    print(f"  {'read claims':<44} {len(prose) / (statistics.median(extract_ms) / 1000) / 1e6:7.2f} M chars/s")


if __name__ == "__main__":
    asyncio.run(main())
