"""Plain functions behind the analytics CLI commands (the CLI module wraps them with Typer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from .demo import write_demo_file
from .importers import import_usage
from .store import open_analytics


def ingest_file(settings: Any, path: Path, org_id: str, format: str | None) -> dict:
    """Import a usage file into an org's analytics store, with a progress bar by bytes read."""
    path = Path(path)
    store = open_analytics(settings)
    size = path.stat().st_size

    async def run() -> dict:
        database = None
        if settings.database_url:
            # Take the same per-org import lock as the deployment's API processes (PostgreSQL).
            from spendpilot.store.database import Database

            database = Database(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
            if database.engine_name == "postgresql":
                store.share_import_lock(database.usage_import_lock)
        try:
            with open(path, "rb") as source, Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                transient=True,
            ) as progress:
                task = progress.add_task(f"Importing {path.name}", total=size)
                return await import_usage(
                    store,
                    org_id,
                    source,
                    filename=path.name,
                    format=format,
                    progress=lambda done: progress.update(task, completed=done),
                )
        finally:
            await store.close()
            if database is not None:
                await database.close()

    return asyncio.run(run())


def demo_data(path: Path, rows: int) -> int:
    """Write the demo usage (with its planted waste) as a generic CSV; returns rows written."""
    return write_demo_file(path, rows)
