"""Warn when an import puts usage rows and billed cost lines of one provider on the same days.

Both count as spend (costlines.py), so an organisation that imports the usage export and the
cost export of the same days sees that spend twice; the report says where, with both totals,
which also shows how far the usage priced at list prices is from the bill.
"""

from __future__ import annotations

from ..rows import COST_LINE
from ..store import AnalyticsStore
from .report import ImportReport

# Stored rows of one provider in a time range: cost lines counted as spend (not those kept only for
# reconciliation, at $0), or usage (everything else).
_OTHER = """
SELECT toUInt64(count()) AS rows, toFloat64(sum(cost_usd)) AS cost_usd,
       toString(min(toDate(ts))) AS first_day, toString(max(toDate(ts))) AS last_day
FROM llm_usage
WHERE org_id = {org_id:String} AND provider = {provider:String}
  AND ts >= toStartOfDay({start:DateTime64(3)}) AND ts < toStartOfDay({end:DateTime64(3)}) + INTERVAL 1 DAY
  AND (tags['kind'] = {kind:String}) = {cost:UInt8}
  AND (cost_usd > 0 OR {cost:UInt8} = 0)
"""


async def overlap_notes(store: AnalyticsStore, org_id: str, report: ImportReport) -> None:
    for spans, other_is_cost in ((report.usage_spans, 1), (report.cost_spans, 0)):
        for provider, (start, end) in spans.items():
            found = (await store.query(_OTHER, {"org_id": org_id, "provider": provider, "start": start, "end": end,
                                                "kind": COST_LINE, "cost": other_is_cost}))[0]
            if not found["rows"]:
                continue
            what = "billed cost lines" if other_is_cost else "token usage"
            report.note(
                f"{provider}: {found['rows']} stored rows of {what} ({found['first_day']} to {found['last_day']}, "
                f"${found['cost_usd']:.2f}) cover days this file also covers; usage and cost lines both count as "
                "spend, so those days are counted twice. Keep one of the two per provider."
            )
