"""Org API keys over REST (SPEC §9): create (the key is shown once), list, revoke."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from spendpilot.api.deps import ClientDep, KeyManager, ServicesDep
from spendpilot.store import audit

router = APIRouter(tags=["keys"])


class KeyCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    scopes: list[str] = Field(default_factory=lambda: ["ingest"], max_length=10)


@router.post("/api/keys", status_code=201)
async def create_key(body: KeyCreate, principal: KeyManager, services: ServicesDep, client: ClientDep):
    created = await services.api_keys.create(principal.org_id, body.name, body.scopes, created_by=principal.user_id)
    await audit.record(services.db, org_id=principal.org_id, action="key.created", actor=principal,
                       target_type="api_key", target_id=created["id"],
                       detail={"name": created["name"], "scopes": created["scopes"]}, ip=client.ip)
    # The key itself is in this answer only: no cache, no copy anywhere on the way.
    return Response(content=orjson.dumps(created), status_code=201, media_type="application/json",
                    headers={"Cache-Control": "no-store"})


@router.get("/api/keys")
async def list_keys(principal: KeyManager, services: ServicesDep):
    return await services.api_keys.list(principal.org_id)


@router.delete("/api/keys/{key_id}", status_code=204)
async def revoke_key(key_id: str, principal: KeyManager, services: ServicesDep, client: ClientDep):
    await services.api_keys.revoke(principal.org_id, key_id)
    await audit.record(services.db, org_id=principal.org_id, action="key.revoked", actor=principal,
                       target_type="api_key", target_id=key_id, ip=client.ip)
    return Response(status_code=204)

