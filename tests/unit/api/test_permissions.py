"""The permission matrix: every route, socket frame type and CLI command declares one action from
auth.permissions, and each role gets exactly what the table grants: 403 with a JSON error where it
may not, anything but 403 where it may. A route, frame type or command added without a declaration
fails here."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIWebSocketRoute, iter_route_contexts
from starlette.routing import Mount, Route

from spendpilot.auth.permissions import ACTIONS, HOST, PUBLIC, Role, allowed, check_declared
from spendpilot.cli import COMMAND_ACTIONS
from spendpilot.cli import app as cli_app
from spendpilot.config import Settings
from spendpilot.realtime import endpoint as realtime
from spendpilot.realtime.protocol import FRAME_ACTIONS, KNOWN_TYPES, TYPE_ALIASES
from spendpilot.server.app import create_app
from tests.support.client import open_socket, recv_json
from tests.support.server import RunningServer, free_port
from tests.support.teams import bearer, make_team

# FastAPI's own schema and docs pages: public by design, and they hold no org's data.
FRAMEWORK_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
# Requests that end the caller's membership go last, after the rest of the walk for that role.
ENDS_MEMBERSHIP = {("POST", "/api/org/leave")}


@dataclass(frozen=True)
class Declared:
    method: str
    path: str
    action: str
    caller: str | None  # "member" for a signed-in user's token


def _declarations(dependant) -> list[tuple[str, str | None]]:
    found = []
    stack = list(dependant.dependencies)
    while stack:
        dep = stack.pop()
        if hasattr(dep.call, "action"):
            found.append((dep.call.action, getattr(dep.call, "caller", None)))
        stack.extend(dep.dependencies)
    return found


def _served_routes(app: FastAPI):
    """(route, its path, its effective dependencies) for every route the app serves, routers flattened."""
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        dependant = getattr(context, "dependant", None) or getattr(route, "dependant", None)
        yield route, context.path or getattr(route, "path", "?"), dependant


def walk_routes(app: FastAPI) -> tuple[list[Declared], list[str]]:
    """(every HTTP route with its one action, every problem found) for an app's routes."""
    declared: list[Declared] = []
    problems: list[str] = []
    for route, path, dependant in _served_routes(app):
        if isinstance(route, APIRoute):
            found = set(_declarations(dependant))
            actions = {action for action, _ in found}
            for method in sorted(route.methods):
                if len(actions) != 1:
                    problems.append(f"{method} {path} declares {sorted(actions) or 'no action'}")
                    continue
                action, caller = next(iter(found))
                try:
                    check_declared(action)
                except KeyError:
                    problems.append(f"{method} {path} names an unknown action {action!r}")
                    continue
                declared.append(Declared(method, path, action, caller))
        elif isinstance(route, APIWebSocketRoute):
            # The socket authenticates at the handshake and declares each frame type it reads.
            if route.endpoint is not realtime.websocket_endpoint:
                problems.append(f"websocket {path} is not the declared socket endpoint")
        elif isinstance(route, Mount):
            if path != "/static":
                problems.append(f"mount {path} is not declared")
        elif isinstance(route, Route):
            if path not in FRAMEWORK_ROUTES:
                problems.append(f"route {path} is not declared")
        else:
            problems.append(f"unknown route type {type(route).__name__} at {path}")
    return declared, problems


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path_factory.mktemp("routes")))


@pytest.fixture(scope="module")
def routes(app) -> list[Declared]:
    declared, problems = walk_routes(app)
    assert problems == []
    return declared


def test_every_route_declares_exactly_one_known_action(app):
    declared, problems = walk_routes(app)
    assert problems == [], "routes without one declared action: " + "; ".join(problems)
    # The walk reaches the routes of every area, public and not.
    assert {("GET", "/api/org/members"), ("POST", "/auth/login"), ("POST", "/api/usage/import")} <= \
        {(d.method, d.path) for d in declared}
    assert {d.action for d in declared} >= {PUBLIC, "members.manage", "usage.import", "audit.read"}


def test_the_walk_fails_on_a_route_added_without_a_declaration(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))

    @app.get("/api/forgotten")
    async def forgotten():
        return {}

    @app.websocket("/ws/other")
    async def other_socket(websocket):
        return None

    _, problems = walk_routes(app)
    assert problems == ["GET /api/forgotten declares no action",
                        "websocket /ws/other is not the declared socket endpoint"]


def test_every_frame_type_and_alias_declares_a_known_action():
    assert set(FRAME_ACTIONS) == KNOWN_TYPES
    for frame_type, action in FRAME_ACTIONS.items():
        assert action in ACTIONS, (frame_type, action)
    assert set(TYPE_ALIASES.values()) <= KNOWN_TYPES


def test_every_cli_command_declares_an_action_or_host():
    commands = {c.name or c.callback.__name__.replace("_", "-") for c in cli_app.registered_commands}
    for group in cli_app.registered_groups:  # `keys create` and the like
        commands |= {f"{group.name} {c.name or c.callback.__name__.replace('_', '-')}"
                     for c in group.typer_instance.registered_commands}
    assert commands == set(COMMAND_ACTIONS), "commands without a declaration: " + \
        ", ".join(sorted(commands ^ set(COMMAND_ACTIONS)))
    for name, action in COMMAND_ACTIONS.items():
        assert action == HOST or action in ACTIONS, (name, action)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("matrix"), free_port(),
                            env={"SPENDPILOT_SEED_DEMO": "false", "SPENDPILOT_WS_MESSAGES_PER_MINUTE": "10000"}).start()
    yield running
    running.stop()


@pytest.fixture
async def team(server):
    """A fresh org per test: the route walk ends with its members leaving."""
    return await make_team(server.url)


def _path(path: str) -> str:
    # Every path parameter names something that does not exist: an allowed caller gets 404 or 422.
    return path.replace("{", "missing-").replace("}", "")


def _ordered(routes: list[Declared]) -> list[Declared]:
    return sorted(routes, key=lambda d: (d.method, d.path) in ENDS_MEMBERSHIP)


async def test_each_role_gets_exactly_what_the_table_grants_on_every_route(server, team, routes):
    member_routes = [d for d in routes if d.caller == "member"]
    assert len(member_routes) >= 20
    checked: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        for declared in member_routes:
            anonymous = await http.request(declared.method, _path(declared.path), json={})
            assert anonymous.status_code == 401, (declared, anonymous.text)
        for role in Role:
            headers = bearer(team[role]["access_token"])
            for declared in _ordered(member_routes):
                response = await http.request(declared.method, _path(declared.path), json={}, headers=headers)
                where = (role.value, declared.method, declared.path, declared.action, response.status_code)
                if allowed(role, declared.action):
                    assert response.status_code not in (401, 403), (where, response.text)
                else:
                    assert response.status_code == 403, (where, response.text)
                    error = response.json()["error"]
                    assert error["code"] == "forbidden" and declared.action in error["message"]
                    checked[role.value] = checked.get(role.value, 0) + 1
    # Viewers and analysts were refused something; admins nothing.
    assert checked.get("viewer", 0) > checked.get("analyst", 0) > 0 and "admin" not in checked


def _frame(frame_type: str) -> dict:
    data = {"user_message": {"content": "What did we spend?"}, "cancel": {"run_id": "missing-run"},
            "regenerate": {"thread_id": "missing-thread"},
            "edit_message": {"thread_id": "missing-thread", "message_id": "missing-message", "content": "Edited"},
            "resume": {"run_id": "missing-run", "after_seq": 0}, "ping": {"nonce": "n"},
            "auth": {"access_token": "not-a-token"}}[frame_type]
    return {"type": frame_type, "id": uuid.uuid4().hex, "data": data}


async def test_each_role_gets_exactly_what_the_table_grants_on_every_frame_type(server, team):
    for role in Role:
        ws = await open_socket(server.ws_url, team[role]["access_token"])
        try:
            for frame_type in sorted(FRAME_ACTIONS):
                frame = _frame(frame_type)
                await ws.send(json.dumps(frame))
                while True:
                    reply = await recv_json(ws)
                    if reply["type"] in ("ack", "pong", "auth_ok") or (
                            reply["type"] == "error" and reply["data"].get("client_id") == frame["id"]) or (
                            reply["type"] == "error" and frame_type in ("ping", "auth")):
                        break
                refused = reply["type"] == "error" and reply["data"]["code"] == "forbidden"
                assert refused is not allowed(role, FRAME_ACTIONS[frame_type]), (role, frame_type, reply)
        finally:
            await ws.close()
