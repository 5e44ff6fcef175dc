"""Batched, idempotent writes of imported rows: keys already stored are counted, not inserted."""

from __future__ import annotations

import uuid
from typing import Any

from .. import sql
from ..store import AnalyticsStore
from .report import ImportReport


class UsageWriter:
    """Writes batches through a private staging table; use as an async context manager."""

    def __init__(self, store: AnalyticsStore, org_id: str, report: ImportReport) -> None:
        self.store = store
        self.org_id = org_id
        self.report = report
        self.staging = f"llm_usage_import_{uuid.uuid4().hex}"

    async def __aenter__(self) -> UsageWriter:
        await self.store.command(sql.create_staging(self.staging))
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.store.command(sql.drop_staging(self.staging))

    async def write_rows(self, rows: list[dict]) -> None:
        if rows:
            await self.store.insert_rows(rows, table=self.staging)
            await self._merge()

    async def write_arrow(self, table: Any) -> None:
        if table.num_rows:
            await self.store.insert_arrow(table, table=self.staging)
            await self._merge()

    async def _merge(self) -> None:
        params = {"org_id": self.org_id}
        counts = (await self.store.query(sql.staging_counts(self.staging), params))[0]
        await self.store.command(sql.merge_staging(self.staging), params)
        await self.store.command(sql.truncate_table(self.staging))
        fresh = int(counts["unique_keys"]) - int(counts["stored_keys"])
        self.report.imported += fresh
        self.report.duplicates += int(counts["rows"]) - fresh
