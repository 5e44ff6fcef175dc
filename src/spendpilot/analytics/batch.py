"""The full analysis's reads for many orgs at once: one statement per read serves every org waiting.

A run of the full analysis (profile, summary, overview, the savings analyses) over an org's whole stored usage
asks about a dozen statements of the rollups. Each costs the engine a few milliseconds of fixed work however
small the org, so a burst of runs for hundreds of orgs spends its time on that fixed work. Here the runs that
are waiting at the same moment are served together: each statement runs once for all of them (`org_id IN
(...)`, grouped by org as well), and each org's rows are filed in the analysis cache under the very statement
and parameters its tools will ask, so the tools find them there. Nothing else changes: a tool whose statement
was not filed (a scope, a period, a statement not listed here) runs it as before.

The reads of the hourly rollup (the org's bounds, totals, summaries, breakdowns, daily costs and three analyses'
groups) are one statement for every org, even one alone (analytics.grouped): the rollup is planned and read once, not
once per read. The failed calls it reads are what the retry search depends on: that search (the tool's own statement,
for the groups the tool's own function picks) is started as soon as they are read. Each other batched statement is
the tool's own statement with the org condition widened and `org_id` added to its groups. The window filter is left
out: the whole-usage window runs from the org's first to its last stored day, so it holds every row of the org.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Hashable
from dataclasses import dataclass, field
from datetime import date
from weakref import WeakKeyDictionary

from spendpilot.logs import get_logger

from . import sql
from .analyses import batching, caching, outputs, retries, rightsizing
from .cache import QueryCache, cache_for, statement_key
from .grouped import fuse
from .schema import HOURLY
from .store import AnalyticsStore
from .window import Period, Window

log = get_logger(__name__)

# Orgs served by one round of statements: bounds the statements' size and a round's latency.
MAX_ORGS_PER_ROUND = 128
# An org with more calls reads its profile and its statements with limits alone (the fused hourly statement and
# an open period's reads excepted, which read the same rows either way): its statements' own window and limits
# read less than the batch's forms, and it gains nothing from sharing a statement's fixed cost.
MAX_BATCHED_CALLS = sql.PROFILE_ATTRIBUTION_CALLS

_ORGS = sql.ORGS
# The whole-usage window of each rollup, as the statements spell it, and the org condition alone.
_WINDOWS = [sql.ORG + " AND " + sql.DAYS.format(col=col) for col in ("hour", "day", "slot")]


def for_orgs(statement: str) -> str | None:
    """The statement over every org in {orgs} with org_id as its first column and group, or None if it cannot be."""
    out = statement
    for window in _WINDOWS:
        out = out.replace(window, _ORGS)
    out = out.replace(sql.ORG, _ORGS)
    if re.search(r"\{(org_id|start|end):", out) or out.count("SELECT ") != 1 or out.count("GROUP BY ") > 1:
        return None
    out = out.replace("SELECT ", "SELECT org_id, ", 1)
    if "GROUP BY " in out:
        return out.replace("GROUP BY ", "GROUP BY org_id, ", 1)
    if re.search(r"\b(HAVING|ORDER BY|LIMIT)\b", out):
        return None
    return out.rstrip() + "\nGROUP BY org_id\n"


def _window_params(org_id: str, bounds: dict) -> dict:
    return {"org_id": org_id, "start": date.fromisoformat(bounds["first_day"]),
            "end": date.fromisoformat(bounds["last_day"])}


# Spend by user, the pipeline's breakdown when calls name their users (queries.usage_summary's default limit).
USER_LIMIT = 1000


# The org's bounds and the suite's reads of the hourly rollup: asked in one statement (analytics.grouped) for
# every org waiting, over its whole usage, each read's rows filed under the org's own statement. Every summary the
# rollup answers is among them: the provider and day summaries add a grouping set (the day's is the daily costs'
# own) to a statement planned anyway, where each alone would be a statement of its own, planned and run after it.
HOURLY_READS = (sql.BOUNDS, sql.TOTALS, *sql.SUMMARIES.values(), sql.BY_MODEL_READ, sql.DAILY_READ,
                rightsizing.MIX, batching.HOURS, retries.FAILED_CALLS)
_HOURLY_PARAMS = {"off_start": batching.OFF_HOURS_UTC[0], "off_end": batching.OFF_HOURS_UTC[1]}
FUSED = fuse(HOURLY_READS, HOURLY, _ORGS, by=("org_id",))


def hourly_reads(org_id: str, bounds: dict) -> list[tuple[str, dict]]:
    """The statement each of HOURLY_READS is asked as by the org's tools, with its parameters."""
    params = {**_window_params(org_id, bounds), **_HOURLY_PARAMS}
    return [(sql.ORG_BOUNDS, {"org_id": org_id})] + [(sql.window_read(read), params) for read in HOURLY_READS[1:]]


# The suite's reads of other rollups that every run asks, each with its parameters beyond the window.
OTHER_READS: list[tuple[str, dict]] = [
    (sql.LATENCY_HISTOGRAM, {}),
    (caching.PREFIX_REPEATS, {"min_prefix_tokens": caching.MIN_PREFIX_TOKENS, "min_repeats": caching.MIN_REPEATS}),
    (outputs.OUTPUT_HISTOGRAMS, {}),
]


def suite_reads(org_id: str, bounds: dict) -> list[tuple[str, dict, str | None]]:
    """The other statements the full analysis of the org's whole usage asks: each with its parameters and its
    form for several orgs."""
    window = _window_params(org_id, bounds)
    return [(statement, {**window, **extra}, for_orgs(statement)) for statement, extra in OTHER_READS] + [
        (sql.attribution_by("user"), {**window, "limit": USER_LIMIT}, sql.attribution_by("user", orgs=True))]


def _whole_usage(period: Period | None, bounds: dict) -> bool:
    if period is None or not bounds["rows"]:
        return False
    first, last = date.fromisoformat(bounds["first_day"]), date.fromisoformat(bounds["last_day"])
    return period.start in (None, first) and period.end in (None, last)


@dataclass
class _Waiting:
    org_id: str
    version: Hashable
    # None: the profile's reads; else the suite's for this period.
    period: Period | None
    done: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class SuiteBatcher:
    """Serves the waiting orgs' reads in rounds, one statement per read for all of them."""

    def __init__(self, cache: QueryCache):
        self.cache = cache
        self.store = cache.store
        self._waiting: list[_Waiting] = []
        self._runner: asyncio.Task | None = None

    async def warm_profile(self, org_id: str, version: Hashable) -> None:
        """File the org's profile reads in the cache (at this usage version); returns when they are there."""
        await self._wait(_Waiting(org_id, version, None))

    async def warm(self, org_id: str, version: Hashable, period: Period) -> None:
        """File the org's suite reads in the cache (at this usage version) when `period` is its whole stored
        usage (open ends, or its first and last day); returns when they are there."""
        await self._wait(_Waiting(org_id, version, period))

    async def _wait(self, waiting: _Waiting) -> None:
        self._waiting.append(waiting)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.ensure_future(self._run())
        await asyncio.shield(waiting.done)

    async def _run(self) -> None:
        while self._waiting:
            # Runs that arrive while a round is under way wait for the next one, together.
            await asyncio.sleep(0)
            round_, self._waiting = self._waiting[:MAX_ORGS_PER_ROUND], self._waiting[MAX_ORGS_PER_ROUND:]
            try:
                await self._profiles([w for w in round_ if w.period is None])
                await self._suites([w for w in round_ if w.period is not None])
            except Exception as exc:  # the tools then read for themselves
                log.warning("suite_batch_failed", orgs=len(round_), error=exc)
            for waiting in round_:
                if not waiting.done.done():
                    waiting.done.set_result(None)

    async def _profiles(self, round_: list[_Waiting]) -> None:
        if len(round_) < 2:  # alone, an org reads for itself
            return
        found = await self._rows(for_orgs(sql.PROFILE), {"orgs": sorted({w.org_id for w in round_})})
        # An org without rows is left out: its (empty) profile is read the usual way.
        small = [w for w in round_ if w.org_id in found and found[w.org_id][0]["rows"] <= MAX_BATCHED_CALLS]
        for w in small:
            self._file(w, sql.PROFILE, {"org_id": w.org_id}, found[w.org_id])
        if len(small) > 1:
            await self._file_all(small, sql.profile_attribution(orgs=True), {},
                                 [(sql.PROFILE_ATTRIBUTION, {"org_id": w.org_id}) for w in small],
                                 missing_is_empty=False)

    async def _suites(self, round_: list[_Waiting]) -> None:
        if not round_:
            return
        # An open period is its org's whole usage whatever its bounds: the other reads it asks need no bounds, and
        # run beside the fused statement (the store may run them at the same time).
        open_orgs = sorted({w.org_id for w in round_ if w.period == Period()})
        early = [self._rows(for_orgs(statement), {**extra, "orgs": open_orgs})
                 for statement, extra in (OTHER_READS if open_orgs else [])]
        # Every org's hourly reads, whatever its size: the rollup is read once instead of once per read.
        fused, *early_found = await asyncio.gather(
            self.store.query(FUSED.sql, {**_HOURLY_PARAMS, "orgs": sorted({w.org_id for w in round_})}),
            *early)
        found = FUSED.split(fused, by=("org_id",))
        bounds = {org: reads[0][0] for (org,), reads in found.items() if reads[0]}
        whole = [w for w in round_ if w.org_id in bounds and _whole_usage(w.period, bounds[w.org_id])]
        for w in whole:
            for read, (statement, params), rows in zip(HOURLY_READS, hourly_reads(w.org_id, bounds[w.org_id]),
                                                       found[(w.org_id,)], strict=True):
                # A read without groups answers one row even for no rows: it is filed only when found.
                self._file(w, statement, params, rows if rows or read.keys else None)
            self._start_retry_search(w, bounds[w.org_id], found[(w.org_id,)][HOURLY_READS.index(retries.FAILED_CALLS)])
            if w.org_id not in open_orgs:
                continue
            for (statement, params, _), by_org in zip(suite_reads(w.org_id, bounds[w.org_id]), early_found,
                                                      strict=False):
                self._file(w, statement, params, by_org.get(w.org_id, [] if "GROUP BY " in statement else None))
        together = [w for w in whole if bounds[w.org_id]["rows"] <= MAX_BATCHED_CALLS]
        if len(together) < 2:  # alone, an org asks its user breakdown (and an explicit period's reads) itself
            return
        reads = {w.org_id: suite_reads(w.org_id, bounds[w.org_id]) for w in together}
        for index, (statement, params, batched) in enumerate(reads[together[0].org_id]):
            asking = [w for w in together if index >= len(early_found) or w.org_id not in open_orgs]
            if len(asking) < 2:
                continue
            shared = {k: v for k, v in params.items() if k not in ("org_id", "start", "end")}
            await self._file_all(asking, batched, shared, [reads[w.org_id][index][:2] for w in asking],
                                 missing_is_empty="GROUP BY " in statement)

    def _start_retry_search(self, waiting: _Waiting, bounds: dict, failures: list[dict]) -> None:
        """The retry search the tool asks once it has the failures, which have just been read: started now, beside
        the round's other reads and the tools' own work, the tool finds it under way or done."""
        window = Window(waiting.org_id, date.fromisoformat(bounds["first_day"]), date.fromisoformat(bounds["last_day"]))
        candidates = retries.qualifying(failures, window)
        if candidates:
            statement, params = retries.retry_search(window, candidates)
            self.cache.start(waiting.org_id, waiting.version, statement_key(statement, params),
                             lambda: self.store.query(statement, params))

    async def _file_all(self, round_: list[_Waiting], batched: str | None, shared: dict,
                        asked: list[tuple[str, dict]], *, missing_is_empty: bool) -> None:
        """Run `batched` for the round's orgs and file each org's rows under the statement it will ask."""
        found = await self._rows(batched, {**shared, "orgs": sorted({w.org_id for w in round_})})
        for w, (statement, params) in zip(round_, asked, strict=True):
            self._file(w, statement, params, found.get(w.org_id, [] if missing_is_empty else None))

    async def _rows(self, batched: str | None, params: dict) -> dict[str, list[dict]]:
        if batched is None:
            raise ValueError("statement cannot be read for several orgs")
        by_org: dict[str, list[dict]] = {}
        for row in await self.store.query(batched, params):
            by_org.setdefault(row.pop("org_id"), []).append(row)
        return by_org

    def _file(self, waiting: _Waiting, statement: str, params: dict, rows: list[dict] | None) -> None:
        if rows is not None:
            self.cache.put(waiting.org_id, waiting.version, statement_key(statement, params), rows)


_batchers: WeakKeyDictionary[AnalyticsStore, SuiteBatcher] = WeakKeyDictionary()


def batcher_for(store: AnalyticsStore) -> SuiteBatcher:
    """One batcher per store, beside its cache."""
    batcher = _batchers.get(store)
    if batcher is None:
        batcher = _batchers[store] = SuiteBatcher(cache_for(store))
    return batcher
