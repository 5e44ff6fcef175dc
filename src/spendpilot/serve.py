"""`spendpilot serve --role api|worker|all`: the split deployment on PostgreSQL, Redis and ClickHouse.

api: HTTP and WebSocket, enqueues runs. worker: executes runs. all: both in one process.
Every role runs a watchdog, so runs of a worker that disappears are still ended.
"""

from __future__ import annotations

import asyncio
import signal
import time

import uvicorn
from redis.asyncio import Redis
from rich.console import Console

from spendpilot.config import Settings
from spendpilot.logs import configure_logging, get_logger

log = get_logger(__name__)
console = Console(stderr=True)

# How long open sockets get to complete their close handshake (1001) at shutdown.
SOCKET_CLOSE_WAIT_S = 5.0


def preflight(settings: Settings) -> str | None:
    """Why this process cannot start, in words an operator can act on; None when it can."""
    if not settings.redis_url:
        return "SPENDPILOT_REDIS_URL is not set; `serve` needs Redis (use `spendpilot up` for one process)."
    if settings.role != "all" and not settings.database_url:
        return (f"SPENDPILOT_DATABASE_URL is not set; the {settings.role} role shares PostgreSQL with the other "
                "processes (e.g. postgresql://user:pass@host:5432/spendpilot).")
    problem = asyncio.run(_redis_problem(settings.redis_url))
    if problem:
        return f"Redis at {_redacted(settings.redis_url)} is unreachable ({problem}); start it or fix SPENDPILOT_REDIS_URL."
    return None


async def _redis_problem(url: str) -> str | None:
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


def _redacted(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest


class GracefulServer(uvicorn.Server):
    """Closes every socket with 1001 (going away) first; uvicorn's own shutdown would send 1012."""

    def __init__(self, config: uvicorn.Config, app):
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets=None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the open ones say goodbye
        services = getattr(self.app.state, "services", None)
        if services is not None:
            services.connections.close_all(1001, "server shutting down")
            deadline = time.monotonic() + SOCKET_CLOSE_WAIT_S
            while services.connections.total() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await super().shutdown(sockets)


def serve(role: str, host: str, port: int) -> int:
    """Run one role until SIGTERM/SIGINT; returns the exit code."""
    from spendpilot.production import exit_if_unsafe

    settings = Settings(role=role)
    configure_logging(json_output=settings.env == "production")
    exit_if_unsafe(settings)
    problem = preflight(settings)
    if problem:
        console.print(f"[red]spendpilot serve:[/red] {problem}")
        return 2
    if role == "worker":
        _run(run_worker(settings))
        return 0
    if not settings.signing_key:
        log.warning("signing_key_unset", hint="set SPENDPILOT_SIGNING_KEY so every API instance accepts "
                                              "the others' tokens")
    return _run(run_api(settings, host, port))


def _run(main):
    """uvloop when installed (uvicorn[standard] brings it): less CPU per socket write and read."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def uvicorn_config(app, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """The one uvicorn configuration, for `up` and for the api role."""
    return uvicorn.Config(app, host=host, port=port, ws_max_size=settings.transport_max_bytes,
                          log_level="warning", lifespan="on", proxy_headers=True, server_header=False,
                          forwarded_allow_ips=settings.forwarded_allow_ips, timeout_graceful_shutdown=10)


async def serve_app(app, settings: Settings, host: str, port: int, on_ready) -> bool:
    """Serve until stopped; calls on_ready once listening. False if it never started."""
    server = GracefulServer(uvicorn_config(app, settings, host, port), app)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        on_ready()
    await task
    return server.started


async def run_api(settings: Settings, host: str, port: int) -> int:
    from spendpilot.app import create_app

    app = create_app(settings)

    def ready() -> None:
        console.print(f"Spendpilot {settings.role} ready on http://{host}:{port}/ (bus redis, "
                      f"database {app.state.services.db.engine_name})")

    return 0 if await serve_app(app, settings, host, port, ready) else 1


async def run_worker(settings: Settings) -> None:
    from spendpilot.bootstrap import build_services, close_services

    services = await build_services(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    console.print(f"Spendpilot worker ready ({services.runs.executor.worker.holder})")
    await stop.wait()
    console.print("Spendpilot worker stopping: finishing runs in hand")
    await close_services(services)
