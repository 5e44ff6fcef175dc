"""Running a process: `spendpilot up` (everything in one) and `spendpilot serve --role api|worker|all`.

api: HTTP and WebSocket, enqueues runs. worker: executes runs. all: both in one process.
Every role runs a watchdog, so runs of a worker that disappears are still ended.
"""

from __future__ import annotations

import asyncio
import gc
import signal
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import uvicorn
from fastapi import FastAPI
from rich.console import Console
from rich.markup import escape

from spendpilot.config import Role, Settings
from spendpilot.logs import configure_logging, get_logger
from spendpilot.server.preflight import StartupRefused, exit_if_unsafe, serve_problem

if TYPE_CHECKING:
    from spendpilot.services import Services

log = get_logger(__name__)
console = Console(stderr=True)

# How long open sockets get to complete their close handshake (1001) at shutdown.
SOCKET_CLOSE_WAIT_S = 5.0


class GracefulServer(uvicorn.Server):
    """Closes every socket with 1001 (going away) first; uvicorn's own shutdown would send 1012."""

    def __init__(self, config: uvicorn.Config, app: FastAPI):
        super().__init__(config)
        self.app = app

    async def shutdown(self, sockets: Any = None) -> None:
        for server in self.servers:
            server.close()  # no new connections while the open ones say goodbye
        connections = getattr(self.app.state, "connections", None)
        if connections is not None:
            connections.close_all(1001, "server shutting down")
            deadline = time.monotonic() + SOCKET_CLOSE_WAIT_S
            while connections.total() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        await super().shutdown(sockets)


def run_loop(main: Coroutine[Any, Any, Any]) -> Any:
    """uvloop when installed (uvicorn[standard] brings it): less CPU per socket write and read."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def uvicorn_config(app: FastAPI, settings: Settings, host: str, port: int) -> uvicorn.Config:
    """The one uvicorn configuration, for `up` and for the api role."""
    return uvicorn.Config(app, host=host, port=port, ws_max_size=settings.transport_max_bytes,
                          log_level="warning", lifespan="on", proxy_headers=True, server_header=False,
                          # Frames are small JSON: compressing each one for each socket cost more CPU
                          # than the bytes it saved on the wire.
                          ws_per_message_deflate=False,
                          forwarded_allow_ips=settings.forwarded_allow_ips, timeout_graceful_shutdown=10)


async def serve_app(app: FastAPI, settings: Settings, host: str, port: int, on_ready: Callable[[], None]) -> bool:
    """Serve until stopped; calls on_ready once listening. False if it never started."""
    server = GracefulServer(uvicorn_config(app, settings, host, port), app)
    task = asyncio.create_task(server.serve())
    while not server.started and not task.done():
        await asyncio.sleep(0.05)
    if server.started:
        on_ready()
    await task
    return server.started


async def serve_http(settings: Settings, host: str, port: int, on_ready: Callable[[Services], None]) -> int:
    """Build the services, then serve HTTP and WebSocket; 2 if the process must not start, 1 if it failed."""
    from spendpilot.server.app import create_app
    from spendpilot.server.bootstrap import build_services

    try:
        services = await build_services(settings)
    except StartupRefused as exc:
        refuse(str(exc))
        return 2
    app = create_app(settings, services)
    settle_heap()
    started = await serve_app(app, settings, host, port, lambda: on_ready(services))
    return 0 if started else 1


# Young collections this far apart: a run allocates thousands of short-lived containers, and a
# pass every 700 of them cost about 4% of the CPU under a burst, mostly finding nothing to free.
GC_THRESHOLDS = (20_000, 20, 20)


def settle_heap() -> None:
    """After start-up: what was built so far (modules, services, the app) lives as long as the
    process, so the collector stops walking it (gc.freeze), and young collections run less often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def refuse(problem: str) -> None:
    console.print(f"[red]spendpilot:[/red] {escape(problem)}", highlight=False, soft_wrap=True)


def up(settings: Settings, host: str, port: int) -> int:
    """Everything in one process on embedded defaults."""
    exit_if_unsafe(settings)  # before anything is created
    configure_logging(json_output=settings.env == "production")

    def ready(_services: Services) -> None:
        shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
        console.print(f"[bold]Spendpilot[/bold] is ready at http://{shown}:{port}/")
        if settings.seed_demo:
            console.print(f"Demo account: {settings.demo_email} / {settings.demo_password}")
        console.print(f"Data directory: {settings.data_dir.resolve()}")

    return int(run_loop(serve_http(settings, host, port, ready)))


def serve(role: Role, host: str, port: int) -> int:
    """Run one role of a split deployment until SIGTERM/SIGINT; returns the exit code."""
    settings = Settings(role=role)
    configure_logging(json_output=settings.env == "production")
    exit_if_unsafe(settings)
    problem = serve_problem(settings)
    if problem:
        refuse(problem)
        return 2
    if role == "worker":
        return int(run_loop(run_worker(settings)))
    if not settings.signing_key:
        log.warning("signing_key_unset", hint="set SPENDPILOT_SIGNING_KEY so every API instance accepts "
                                              "the others' tokens")

    def ready(services: Services) -> None:
        console.print(f"Spendpilot {settings.role} ready on http://{host}:{port}/ (bus redis, "
                      f"database {services.db.engine_name}, analytics {services.analytics.engine})")

    return int(run_loop(serve_http(settings, host, port, ready)))


async def run_worker(settings: Settings) -> int:
    from spendpilot.server.bootstrap import build_services, close_services

    try:
        services = await build_services(settings)
    except StartupRefused as exc:
        refuse(str(exc))
        return 2
    settle_heap()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    console.print(f"Spendpilot worker ready ({services.worker_name()})")
    await stop.wait()
    console.print("Spendpilot worker stopping: finishing runs in hand")
    await close_services(services)
    return 0
