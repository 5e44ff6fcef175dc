"""Plain functions behind the analytics CLI commands (the CLI module wraps them with Typer)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from rich.console import Console
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
                # The report goes to stdout; the bar must not leave anything there.
                console=Console(stderr=True),
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


def report_lines(report: dict, max_rejected: int = 50) -> list[str]:
    """The import report as the CLI prints it: every count, then what needs the user's attention."""
    lines = [f"format={report['format']} imported={report['imported']} duplicates={report['duplicates']} "
             f"rejected={report['rejected_count']} skipped={report['skipped']} cost_lines={report['cost_lines']} "
             f"without_model={report['without_model']}"]
    if report["unpriced_models"]:
        lines.append("unpriced models (imported at $0; their spend is missing): "
                     + ", ".join(report["unpriced_models"]))
    if report["unknown_columns"]:
        lines.append("columns not read: " + ", ".join(report["unknown_columns"]))
    stated = report.get("stated_vs_computed")
    if stated:
        pct = f" ({stated['difference_pct']:+.2f}%)" if stated["difference_pct"] is not None else ""
        lines.append(f"stated cost ${stated['stated_usd']:.6f} vs computed ${stated['computed_usd']:.6f} over "
                     f"{stated['rows']} rows: difference ${stated['difference_usd']:+.6f}{pct}")
        for model in stated["by_model"]:
            lines.append(f"  {model['model']}: stated ${model['stated_usd']:.6f}, "
                         f"computed ${model['computed_usd']:.6f}")
    lines += [f"note: {note}" for note in report["notes"]]
    for rejected in report["rejected"][:max_rejected]:
        lines.append(f"  line {rejected['line']}: {rejected['reason']}")
    if report["rejected_count"] > max_rejected:
        lines.append(f"  ... and {report['rejected_count'] - max_rejected} more rejected")
    return lines


def demo_data(path: Path, rows: int) -> int:
    """Write the demo usage (with its planted waste) as a generic CSV; returns rows written."""
    return write_demo_file(path, rows)
