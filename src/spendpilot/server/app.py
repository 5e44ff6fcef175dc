"""create_app(settings) -> FastAPI: routers, lifespan, middleware, the web app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from spendpilot import __version__
from spendpilot.api import ROUTERS
from spendpilot.api.deps import PUBLIC_ROUTE
from spendpilot.bus import control
from spendpilot.config import Settings
from spendpilot.errors import install_error_handlers
from spendpilot.intake.routes import ROUTERS as INTAKE_ROUTERS
from spendpilot.intake.upstream import Gateway
from spendpilot.interop import ROUTERS as INTEROP_ROUTERS
from spendpilot.interop.mcp_server import McpEndpoint
from spendpilot.realtime import endpoint as realtime
from spendpilot.realtime.registry import ConnectionRegistry
from spendpilot.server.bootstrap import build_services, close_services
from spendpilot.server.middleware import BodyLimitMiddleware, SecurityHeadersMiddleware
from spendpilot.services import Services
from spendpilot.web import STATIC_DIR


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """The app; with `services` already built (the CLI builds them first, to refuse a bad start cleanly)."""
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.connections = ConnectionRegistry()
        app.state.services = services if services is not None else await build_services(settings)
        # Revoked sessions and changed roles, from any instance, reach the sockets held here.
        stop_control = control.subscribe(app.state.services.bus, app.state.connections.apply)
        # The MCP transport's task group lives as long as the app (one per app: it cannot be restarted).
        app.state.mcp = McpEndpoint()
        # The gateway's one pooled client to the providers.
        app.state.gateway = Gateway(app.state.services.settings)
        try:
            async with app.state.mcp.running():
                yield
        finally:
            stop_control()
            app.state.connections.close_all()
            await close_services(app.state.services)
            await app.state.gateway.close()

    app = FastAPI(title="Spendpilot", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    for router in (*ROUTERS, *INTAKE_ROUTERS, *INTEROP_ROUTERS, realtime.router):
        app.include_router(router)
    # The last added is the outermost: security headers also go on the body cap's 413.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID", "Mcp-Protocol-Version",
                                          "Mcp-Session-Id"])

    @app.get("/", include_in_schema=False, dependencies=[PUBLIC_ROUTE])
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app

