"""Share links (SPEC §13): the author creates, lists and revokes them; anyone with a link reads that one report.

The public routes answer from the link alone: no cookie is read or set, and the token opens nothing else
(sent to any other route, in any header, cookie or query, it is no credential at all).
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import HTMLResponse, JSONResponse

from spendpilot.api.deps import PUBLIC_ROUTE, ChatSharer, ClientDep, LinkBase, ServicesDep
from spendpilot.errors import NotFound
from spendpilot.services import Services
from spendpilot.sharing.links import ShareLinks
from spendpilot.sharing.page import not_found_page, render_page

router = APIRouter(tags=["shares"])
public = APIRouter(tags=["shared"], dependencies=[PUBLIC_ROUTE])
# A shared page is one person's answer: never cached on the way, never indexed.
PUBLIC_HEADERS = {"Cache-Control": "no-store", "X-Robots-Tag": "noindex, nofollow"}


def links(services: Services) -> ShareLinks:
    return ShareLinks(services.db, services.keys)


@router.post("/api/runs/{run_id}/share", status_code=201)
async def create_share(run_id: str, principal: ChatSharer, services: ServicesDep, base: LinkBase, client: ClientDep):
    return await links(services).create(principal, run_id, base, client.ip)


@router.get("/api/shares")
async def list_shares(principal: ChatSharer, services: ServicesDep, base: LinkBase):
    return await links(services).mine(principal, base)


@router.delete("/api/shares/{share_id}", status_code=204)
async def revoke_share(share_id: str, principal: ChatSharer, services: ServicesDep, client: ClientDep):
    await links(services).revoke(principal, share_id, client.ip)
    return Response(status_code=204)


@public.get("/api/shared/{token}")
async def read_shared(token: str, services: ServicesDep):
    shared = await links(services).read(token)
    return JSONResponse(shared.view(), headers=PUBLIC_HEADERS)


@public.get("/s/{token}", include_in_schema=False)
async def shared_page(token: str, services: ServicesDep):
    try:
        shared = await links(services).read(token)
    except NotFound:
        return HTMLResponse(not_found_page(), status_code=404, headers=PUBLIC_HEADERS)
    return HTMLResponse(render_page(shared), headers=PUBLIC_HEADERS)
