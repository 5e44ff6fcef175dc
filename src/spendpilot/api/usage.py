"""Usage data over REST: import a file (streamed to the importer) and the spend summary."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, UploadFile

from spendpilot.analytics import queries
from spendpilot.analytics.importers import FORMATS, ImportFormatError, import_usage, normalize_format
from spendpilot.api.deps import ServicesDep, UsageImporter, UsageReader
from spendpilot.errors import AppError, InvalidInput

router = APIRouter(tags=["usage"])


@router.post("/api/usage/import")
async def import_file(file: UploadFile, principal: UsageImporter, services: ServicesDep,
                      format: str | None = Query(default=None)):
    if format is not None:
        try:
            normalize_format(format)
        except ImportFormatError as exc:
            raise InvalidInput("invalid_format", str(exc)) from exc
    try:
        return await import_usage(services.analytics, principal.org_id, file.file, filename=file.filename,
                                  format=format)
    except ImportFormatError as exc:
        raise AppError("unrecognised_format", str(exc)) from exc


@router.get("/api/usage/summary")
async def usage_summary(principal: UsageReader, services: ServicesDep,
                        start: date | None = Query(default=None, alias="from"),
                        end: date | None = Query(default=None, alias="to"),
                        group_by: str = Query(default="model", pattern="^(model|provider|feature|day)$")):
    if start and end and start > end:
        raise InvalidInput("invalid_request", "'from' must not be after 'to'")
    return await queries.usage_summary(services.analytics, principal.org_id, start, end, group_by=group_by)


@router.get("/api/usage/formats")
async def import_formats(_principal: UsageReader):
    """The import formats this server reads, in the order they are recognised."""
    return [{"name": f.name, "label": f.label, "aliases": list(f.aliases), "identity": f.identity} for f in FORMATS]
