"""Connectors over REST: add one (its admin key is stored encrypted and never returned), list, remove,
pull now. Every route is connectors.manage (admins); another organisation's connector is a 404."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from spendpilot.api.deps import ConnectorAdmin, ServicesDep
from spendpilot.connectors import KINDS

router = APIRouter(tags=["connectors"])


class NewConnector(BaseModel):
    kind: str = Field(description="openai or anthropic")
    name: str = Field(default="", max_length=200)
    admin_key: str = Field(min_length=8, max_length=500, description="The provider's admin key; never returned")
    start_at: datetime | None = Field(default=None, description="Pull usage from this instant (default 30 days ago)")
    interval_minutes: int | None = Field(default=None, ge=5, le=7 * 24 * 60)


@router.get("/api/connectors/kinds")
async def connector_kinds(_principal: ConnectorAdmin):
    return [{"kind": k.name, "label": k.label, "reports": [r.name for r in k.reports]} for k in KINDS.values()]


@router.get("/api/connectors")
async def list_connectors(principal: ConnectorAdmin, services: ServicesDep):
    return await services.connectors.list(principal.org_id)


@router.post("/api/connectors", status_code=201)
async def create_connector(body: NewConnector, principal: ConnectorAdmin, services: ServicesDep):
    interval = body.interval_minutes * 60 if body.interval_minutes else None
    return await services.connectors.create(principal.org_id, principal.user_id, body.kind, body.name,
                                            body.admin_key, body.start_at, interval)


@router.delete("/api/connectors/{connector_id}", status_code=204)
async def delete_connector(connector_id: str, principal: ConnectorAdmin, services: ServicesDep) -> Response:
    await services.connectors.delete(principal.org_id, connector_id)
    return Response(status_code=204)


@router.post("/api/connectors/{connector_id}/run")
async def run_connector(connector_id: str, principal: ConnectorAdmin, services: ServicesDep):
    """Pull now; answers with the run's report (per report: window, pages, the import report)."""
    owner = services.scheduler.owner if services.scheduler else f"api:{principal.user_id}"
    return await services.connectors.run_now(principal.org_id, connector_id, owner)
