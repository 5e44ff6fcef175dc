"""Spendpilot inside the tools people already use: an MCP server and an AG-UI endpoint, over the domain.

Adapters like api/ and realtime/: they read the tool catalogue, start runs through runs.service and
authenticate through auth; nothing in the domain knows about them. ROUTERS is what the app mounts.
"""

from fastapi import APIRouter

from spendpilot.interop import agui, mcp_routes

ROUTERS: tuple[APIRouter, ...] = (mcp_routes.router, agui.router)
