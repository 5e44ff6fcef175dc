"""Usage data over REST: import a file (streamed to the importer), the spend summary and its breakdowns."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query, UploadFile

from spendpilot.analytics import queries
from spendpilot.analytics.forecast import MAX_HORIZON_DAYS, forecast_spend
from spendpilot.analytics.importers import FORMATS, ImportFormatError, import_usage, normalize_format
from spendpilot.analytics.scope import Scope, ScopeError
from spendpilot.api.deps import ClientDep, ServicesDep, UsageImporter, UsageReader
from spendpilot.errors import AppError, InvalidInput
from spendpilot.store import audit

router = APIRouter(tags=["usage"])


def scope_query(feature: str | None = Query(default=None, max_length=200),
                model: str | None = Query(default=None, max_length=200),
                provider: str | None = Query(default=None, max_length=200),
                user: str | None = Query(default=None, max_length=200),
                tag: str | None = Query(default=None, max_length=200, description="name=value")) -> Scope:
    """The scope keys of a usage query (SPEC §13): `feature=&model=&provider=&user=&tag=`."""
    try:
        return Scope.of({"feature": feature, "model": model, "provider": provider, "user": user, "tag": tag})
    except ScopeError as exc:
        raise InvalidInput("invalid_scope", str(exc)) from exc


ScopeQuery = Annotated[Scope, Depends(scope_query)]


@router.post("/api/usage/import")
async def import_file(file: UploadFile, principal: UsageImporter, services: ServicesDep, client: ClientDep,
                      format: str | None = Query(default=None)):
    if format is not None:
        try:
            normalize_format(format)
        except ImportFormatError as exc:
            raise InvalidInput("invalid_format", str(exc)) from exc
    try:
        result = await import_usage(services.analytics, principal.org_id, file.file, filename=file.filename,
                                    format=format)
    except ImportFormatError as exc:
        raise AppError("unrecognised_format", str(exc)) from exc
    await audit.record(services.db, org_id=principal.org_id, action="usage.imported", actor=principal,
                       target_type="file", target_id=(file.filename or "")[:200], detail=audit.import_detail(result),
                       ip=client.ip)
    if result["imported"]:
        services.alerts.usage_changed(principal.org_id)
    return result


@router.get("/api/usage/summary")
async def usage_summary(principal: UsageReader, services: ServicesDep, scope: ScopeQuery,
                        start: date | None = Query(default=None, alias="from"),
                        end: date | None = Query(default=None, alias="to"),
                        group_by: str = Query(default="model", pattern=queries.GROUP_BY_PATTERN,
                                              description=queries.GROUP_BY_HELP),
                        limit: int = Query(default=1000, ge=1, le=queries.MAX_ATTRIBUTION_GROUPS,
                                           description="At most this many groups for user, api_key and tag:<name>")):
    if start and end and start > end:
        raise InvalidInput("invalid_request", "'from' must not be after 'to'")
    return await queries.usage_summary(services.analytics, principal.org_id, start, end, group_by=group_by,
                                       limit=limit, scope=scope)


@router.get("/api/usage/tags")
async def usage_tags(principal: UsageReader, services: ServicesDep):
    """The tag names the org's usage carries: each is a breakdown, `group_by=tag:<name>`."""
    return await queries.tag_names(services.analytics, principal.org_id)


@router.get("/api/usage/forecast")
async def usage_forecast(principal: UsageReader, services: ServicesDep, scope: ScopeQuery,
                         horizon_days: int = Query(default=30, ge=1, le=MAX_HORIZON_DAYS)):
    """Spend of the coming `horizon_days` days with a 95% interval, or `data_sufficiency: insufficient`."""
    return await forecast_spend(services.analytics, principal.org_id, scope, horizon_days)


@router.get("/api/usage/formats")
async def import_formats(_principal: UsageReader):
    """The import formats this server reads, in the order they are recognised."""
    return [{"name": f.name, "label": f.label, "aliases": list(f.aliases), "identity": f.identity} for f in FORMATS]
