"""Shared fixtures: a real Spendpilot server per test session, and servers made to order."""

from __future__ import annotations

import os

import pytest

from tests.support.server import RunningServer, free_port

REQUIRE_SERVICES = os.environ.get("SPENDPILOT_REQUIRE_SERVICES") == "1"


@pytest.fixture(scope="session")
def spendpilot_server(tmp_path_factory):
    """`spendpilot up` on a fresh data dir with the demo organisation; shared by read-mostly tests."""
    server = RunningServer(tmp_path_factory.mktemp("spendpilot"), free_port()).start()
    yield server
    server.stop()


@pytest.fixture
def make_server(tmp_path):
    """Start servers with their own data dir and settings; all stopped at the end of the test."""
    started: list[RunningServer] = []

    def make(env: dict | None = None, data_dir=None, port: int | None = None) -> RunningServer:
        server = RunningServer(data_dir or tmp_path / f"server{len(started)}", port or free_port(), env=env or {})
        started.append(server)
        return server.start()

    yield make
    for server in started:
        server.stop()


def need_service(name: str, reachable: bool) -> None:
    """Skip when a real service is missing, unless CI demands it (then fail)."""
    if reachable:
        return
    if REQUIRE_SERVICES:
        pytest.fail(f"{name} is required (SPENDPILOT_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} not reachable")
