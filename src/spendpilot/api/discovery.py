"""Discovery: where the socket is, how to authenticate, what this server can do; and the agents."""

from __future__ import annotations

from fastapi import APIRouter, Request

from spendpilot import __version__
from spendpilot.agents.pipeline import AGENTS
from spendpilot.analytics.catalog import TOOLS
from spendpilot.analytics.importers import FORMATS
from spendpilot.api.deps import PUBLIC_ROUTE, ServicesDep
from spendpilot.realtime.handshake import PROTOCOL

router = APIRouter(tags=["discovery"], dependencies=[PUBLIC_ROUTE])


@router.get("/api/discovery/services")
async def discovery(request: Request, services: ServicesDep):
    base = str(request.base_url).rstrip("/")
    ws_base = "wss" + base[5:] if base.startswith("https") else "ws" + base[4:]
    return {
        "service": "spendpilot",
        "version": __version__,
        "websocket": {"url": f"{ws_base}/ws", "aliases": [f"{ws_base}/api/v1/websocket"], "protocol": PROTOCOL,
                      "token_carriers": ["authorization_header", "subprotocol_jwt"],
                      "max_frame_bytes": services.settings.max_frame_bytes},
        "auth": {"register": "/auth/register", "login": "/auth/login", "refresh": "/auth/refresh",
                 "logout": "/auth/logout", "jwks": "/.well-known/jwks.json", "providers": "/auth/providers",
                 "switch_org": "/auth/switch-org", "password": "/auth/password",
                 "password_reset": "/auth/password-reset/request", "sessions": "/auth/sessions"},
        # Interoperability (SPEC §12): the MCP server and the AG-UI endpoint (docs/connect-mcp.md, docs/ag-ui.md).
        "mcp": {"url": f"{base}/mcp", "transport": "streamable-http", "config": "/api/mcp/config",
                "servers": "/api/mcp/servers", "resource_metadata": "/.well-known/oauth-protected-resource"},
        "ag_ui": {"url": f"{base}/ag-ui", "protocol_version": "1.0"},
        "features": {"resume": True, "cancel": True, "sse": True, "usage_import_formats":
                     [f.name for f in FORMATS], "model": services.model.name, "budgets": True, "alerts": True,
                     "forecast": True, "regenerate": True, "export": True, "share": True},
    }


@router.get("/api/agents")
async def agents():
    return {"agents": [{"name": name, "description": description,
                        "tools": [{"name": t.name, "description": t.description} for t in TOOLS.values()
                                  if t.agent == name]}
                       for name, description in AGENTS.items()]}
