"""Usage data over REST: import a file (streamed to the importer) and the spend summary."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query, UploadFile

from spendpilot.analytics import queries
from spendpilot.analytics.importers import ImportFormatError, import_usage
from spendpilot.api.deps import PrincipalDep, ServicesDep
from spendpilot.errors import ApiError

router = APIRouter(tags=["usage"])
FORMATS = ("generic", "openai", "anthropic", "otlp")


@router.post("/api/usage/import")
async def import_file(file: UploadFile, principal: PrincipalDep, services: ServicesDep,
                      format: str | None = Query(default=None)):
    if format is not None and format not in FORMATS:
        raise ApiError(422, "invalid_format", f"format must be one of {', '.join(FORMATS)}")
    try:
        return await import_usage(services.analytics, principal.org_id, file.file, filename=file.filename,
                                  format=format)
    except ImportFormatError as exc:
        raise ApiError(400, "unrecognised_format", str(exc)) from exc


@router.get("/api/usage/summary")
async def usage_summary(principal: PrincipalDep, services: ServicesDep,
                        start: date | None = Query(default=None, alias="from"),
                        end: date | None = Query(default=None, alias="to"),
                        group_by: str = Query(default="model", pattern="^(model|provider|feature|day)$")):
    if start and end and start > end:
        raise ApiError(422, "invalid_request", "'from' must not be after 'to'")
    return await queries.usage_summary(services.analytics, principal.org_id, start, end, group_by=group_by)
