"""Test-only servers that speak spendpilot.v1, correctly or broken in one way, for the verifier's tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from .fake import BREAKAGES, FakeSpendpilot

__all__ = ["BREAKAGES", "FakeSpendpilot", "serve_fake"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_fake(breakage: str | None = None, **options: Any) -> Iterator[str]:
    """Run a FakeSpendpilot with `breakage` (and FakeSpendpilot's `options`) on a free port in a thread."""
    fake = FakeSpendpilot(breakage, **options)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(fake.app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, name=f"fake-{breakage or 'ok'}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("fake server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
