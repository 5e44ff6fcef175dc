"""create_app(settings) -> FastAPI: routers, lifespan, middleware, the web app."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from spendpilot import __version__
from spendpilot.api import discovery, health, runs, threads, usage
from spendpilot.auth import routes as auth_routes
from spendpilot.bootstrap import build_services, close_services
from spendpilot.config import Settings
from spendpilot.errors import install_error_handlers
from spendpilot.unavailable import install_unavailable_handlers
from spendpilot.http_policy import SecurityHeadersMiddleware
from spendpilot.realtime import endpoint as realtime

STATIC_DIR = Path(__file__).parent / "web" / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.services = await build_services(settings)
        try:
            yield
        finally:
            await close_services(app.state.services)

    app = FastAPI(title="Spendpilot", version=__version__, lifespan=lifespan)
    install_error_handlers(app)
    install_unavailable_handlers(app)  # a database or bus outage is a 503, for every role
    for module in (health, discovery, auth_routes, threads, runs, usage, realtime):
        app.include_router(module.router)
    app.add_middleware(SecurityHeadersMiddleware, settings=settings)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_credentials=False,
                           allow_methods=["GET", "POST", "PATCH", "DELETE"],
                           allow_headers=["Authorization", "Content-Type", "Last-Event-ID"])

    @app.get("/", include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app
