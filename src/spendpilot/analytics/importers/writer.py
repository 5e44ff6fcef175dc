"""Batched, idempotent writes of imported rows: keys already stored are counted, not inserted.

A row's identity comes from its source (`source_id`: a request id, a span, a bucket and its
group keys). Rows whose source names none are never merged by value: the n-th repeat of the
same content in one file is numbered (see schema.ROW_KEY and sql.number_rows), so five
identical calls stay five rows, and importing the same file again still adds nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import numpy as np
import pyarrow as pa

from .. import sql
from ..schema import INSERT_COLUMNS
from ..store import AnalyticsStore
from .report import ImportReport
from .seen import SeenFilter, row_hashes, rows_table


class UsageWriter:
    """Writes batches through private numbering and staging tables; use as an async context manager."""

    def __init__(self, store: AnalyticsStore, org_id: str, report: ImportReport) -> None:
        self.store = store
        self.org_id = org_id
        self.report = report
        name = f"llm_usage_import_{uuid.uuid4().hex}"
        self.staging, self.numbering, self.seen = name, f"{name}_n", f"{name}_seen"
        # Rows handed in so far: each row's position in the file orders repeats of one content.
        self.position = 0
        self.filter = SeenFilter()

    async def __aenter__(self) -> UsageWriter:
        for statement in [sql.create_staging(self.staging), *sql.create_numbering(self.numbering),
                          sql.create_seen(self.seen)]:
            await self.store.command(statement)
        return self

    async def __aexit__(self, *exc: Any) -> None:
        for name in (self.staging, self.numbering, self.seen):
            await self.store.command(sql.drop_staging(name))

    async def write_rows(self, rows: list[dict]) -> None:
        if rows:
            first = self.position
            for row in rows:
                row["seq"] = self.position
                self.position += 1
            identified = np.array([bool(r.get("source_id")) for r in rows])
            flagged = await asyncio.to_thread(lambda: self.filter.candidates(row_hashes(rows_table(rows)), identified))
            await self.store.insert_rows(rows, table=self.numbering, columns=[*INSERT_COLUMNS, "seq"])
            await self._merge(flagged + first)
            await self.store.release_memory()

    async def write_arrow(self, table: Any) -> None:
        if table.num_rows:
            first = self.position
            seq = pa.array(range(self.position, self.position + table.num_rows), pa.uint64())
            self.position += table.num_rows
            # Off the event loop, so the next batch's parsing and this hashing share the cores.
            flagged = await asyncio.to_thread(lambda: self.filter.candidates(row_hashes(table)))
            if not (len(flagged) == 0 and await self._direct(table)):
                await self.store.insert_arrow(table.append_column("seq", seq), table=self.numbering)
                await self._merge(flagged + first)
            # The engine's insert buffers go back before the next batch's are taken.
            await self.store.release_memory()

    async def _direct(self, table: Any) -> bool:
        """Write a batch straight into llm_usage when no row of it can be a duplicate or a repeat: it
        repeats nothing (the filter cleared every row) and the org has nothing stored in its time range
        (the first import of a file, mostly). Saves the staging pass, about a sixth of the work."""
        import pyarrow.compute as pc

        bounds = pc.min_max(table.column("ts"))
        span = {"org_id": self.org_id, "start": bounds["min"].as_py(), "end": bounds["max"].as_py()}
        if (await self.store.query(sql.ROWS_IN_RANGE, span))[0]["n"]:
            return False
        await self.store.insert_arrow(table)
        await self.store.command(sql.RECORD_SEEN_RANGE.format(seen=self.seen), span)
        self.report.imported += table.num_rows
        return True

    async def _merge(self, flagged: np.ndarray) -> None:
        params = {"org_id": self.org_id}
        source = self.numbering
        if len(flagged):
            # Rows the filter could not clear: the engine says exactly whether any repeat earlier content,
            # and only then does the batch take the numbering pass.
            seqs = {"seqs": [int(s) for s in flagged]}
            repeated = (await self.store.query(sql.repeats(self.numbering, self.seen), seqs))[0]["n"]
            if repeated:
                await self.store.command(sql.number_rows(self.numbering, self.staging, self.seen, INSERT_COLUMNS),
                                         seqs)
                source = self.staging
        # Remembered after numbering: the next batches count this one's rows as earlier.
        await self.store.command(sql.record_seen(self.numbering, self.seen))
        if source != self.numbering:
            await self.store.command(sql.truncate_table(self.numbering))
        counts = (await self.store.query(sql.staging_counts(source), params))[0]
        await self.store.command(sql.merge_staging(source, INSERT_COLUMNS), params)
        await self.store.command(sql.truncate_table(source))
        fresh = int(counts["unique_keys"]) - int(counts["stored_keys"])
        self.report.imported += fresh
        self.report.duplicates += int(counts["rows"]) - fresh
