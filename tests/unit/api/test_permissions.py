"""The table of rights: each route and socket frame declares one known action; roles nest viewer < analyst < admin."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import APIRouter, Depends, FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, APIWebSocketRoute
from starlette.routing import Mount, WebSocketRoute

from spendpilot.api.deps import PUBLIC_ROUTE, requirement
from spendpilot.auth.permissions import ACTIONS, PUBLIC, Role, UnknownAction, allowed
from spendpilot.auth.service import Principal
from spendpilot.config import Settings
from spendpilot.errors import Forbidden
from spendpilot.realtime.protocol import FRAME_ACTIONS, KNOWN_TYPES, TYPE_ALIASES
from spendpilot.server.app import create_app

try:  # newer FastAPI keeps an included router as one entry; this lists its routes with the include's dependencies
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI copies every included route into app.routes
    iter_route_contexts = None

SOCKET_PATHS = {"/ws", "/api/v1/websocket"}
STATIC_PATH = "/static"


def framework_docs(app: FastAPI) -> set[str]:
    """FastAPI's own OpenAPI and documentation pages: public, and not routes of ours to declare."""
    return {p for p in (app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url) if p}


def routes_of(app: FastAPI) -> Iterator[tuple[object, str, set[str], Dependant | None]]:
    """(route, path, methods, the dependency tree a request to it resolves) for every route the app serves."""
    if iter_route_contexts is None:
        for route in app.routes:
            yield route, route.path, getattr(route, "methods", None) or set(), getattr(route, "dependant", None)
        return
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        dependant = context.dependant if isinstance(route, APIRoute) else None
        yield route, context.path, context.methods or set(), dependant


def declared_actions(dependant: Dependant) -> list[str]:
    """Every `.action` carried by a dependency anywhere in the tree."""
    found: list[str] = []
    for dependency in dependant.dependencies:
        action = getattr(dependency.call, "action", None)
        if action is not None:
            found.append(action)
        found.extend(declared_actions(dependency))
    return found


def table_problems(app: FastAPI) -> list[str]:
    problems: list[str] = []
    allowed_elsewhere = framework_docs(app)
    for route, path, methods, dependant in routes_of(app):
        name = f"{' '.join(sorted(methods)) or type(route).__name__} {path}"
        if isinstance(route, APIRoute):
            actions = declared_actions(dependant)
            if not actions:
                problems.append(f"{name} declares no action (take a caller such as ChatUser, or PUBLIC_ROUTE)")
            elif len(actions) > 1:
                problems.append(f"{name} declares {len(actions)} actions, one expected: {actions}")
            problems.extend(f"{name} declares {a!r}, which is not in auth.permissions.ACTIONS"
                            for a in actions if a != PUBLIC and a not in ACTIONS)
        elif isinstance(route, (APIWebSocketRoute, WebSocketRoute)) and path in SOCKET_PATHS:
            continue  # each frame type declares its action (FRAME_ACTIONS)
        elif isinstance(route, Mount) and path == STATIC_PATH:
            continue
        elif path in allowed_elsewhere:
            continue
        else:
            problems.append(f"{name} is a {type(route).__name__}, which cannot declare an action")
    return problems


def check_table(app: FastAPI) -> None:
    problems = table_problems(app)
    assert not problems, "routes outside the table of rights:\n" + "\n".join(problems)


@pytest.fixture
def app(tmp_path) -> FastAPI:
    return create_app(Settings(data_dir=tmp_path))


def test_every_route_declares_exactly_one_known_action(app):
    check_table(app)


def test_the_walk_sees_every_kind_of_route(app):
    """The check above is only as good as the walk: it must reach the included routers and their actions."""
    seen = {(type(route).__name__, path): dependant for route, path, _, dependant in routes_of(app)}
    paths = {path for _, path in seen}
    assert SOCKET_PATHS | {STATIC_PATH, "/", "/auth/login", "/api/threads", "/api/usage/import"} <= paths
    actions = {a for d in seen.values() if d is not None for a in declared_actions(d)}
    assert {PUBLIC, "chat.use", "usage.read", "usage.import", "account.read"} <= actions


def test_a_route_that_declares_nothing_is_named_in_the_failure(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))

    @app.get("/api/undeclared")
    async def undeclared():
        return {}

    with pytest.raises(AssertionError, match=r"GET /api/undeclared declares no action"):
        check_table(app)


def test_a_route_in_an_included_router_is_checked_with_the_routers_dependencies(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    covered, bare = APIRouter(), APIRouter()

    @covered.get("/api/covered")
    async def covered_route():
        return {}

    @bare.post("/api/bare")
    async def bare_route():
        return {}

    app.include_router(covered, dependencies=[Depends(requirement("usage.read"))])
    app.include_router(bare)
    assert table_problems(app) == ["POST /api/bare declares no action (take a caller such as ChatUser, "
                                   "or PUBLIC_ROUTE)"]


def test_a_route_with_two_actions_or_outside_the_table_is_named(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))

    @app.get("/api/both", dependencies=[PUBLIC_ROUTE, Depends(requirement("chat.use"))])
    async def both():
        return {}

    async def raw(_request):
        return None

    app.add_route("/raw", raw)
    problems = table_problems(app)
    assert len(problems) == 2
    assert problems[0].startswith("GET /api/both declares 2 actions")
    assert "/raw is a Route" in problems[1]


def test_requirement_refuses_an_action_nobody_declared():
    with pytest.raises(UnknownAction):
        requirement("usage.delete_everything")


def test_every_socket_frame_type_names_a_declared_action():
    assert set(FRAME_ACTIONS) == KNOWN_TYPES
    assert {action for action in FRAME_ACTIONS.values() if action not in ACTIONS} == set()
    assert set(TYPE_ALIASES.values()) <= KNOWN_TYPES


# Who may do what, written out: a change to the table must change this too.
EXPECTED = {
    Role.VIEWER: {"account.read", "chat.use", "usage.read", "agents.read"},
    Role.ANALYST: {"account.read", "chat.use", "usage.read", "agents.read", "usage.import"},
    Role.ADMIN: {"account.read", "chat.use", "usage.read", "agents.read", "usage.import"},
}


def test_the_expected_table_names_every_action_and_role():
    assert set().union(*EXPECTED.values()) == set(ACTIONS)
    assert set(EXPECTED) == set(Role)


@pytest.mark.parametrize("role", list(Role))
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_allowed_follows_the_table(role, action):
    assert allowed(role, action) is (action in EXPECTED[role])
    assert allowed(role.value, action) is (action in EXPECTED[role])  # roles stored as text work the same


def test_each_role_has_every_right_of_the_role_below_it():
    for action in ACTIONS:
        rights = [allowed(role, action) for role in (Role.VIEWER, Role.ANALYST, Role.ADMIN)]
        assert rights == sorted(rights), action  # False before True: a higher role never has less


def test_allowed_refuses_an_unknown_action_or_role():
    with pytest.raises(UnknownAction):
        allowed(Role.ADMIN, "usage.delete_everything")
    with pytest.raises(ValueError):
        allowed("owner", "usage.read")


@pytest.mark.parametrize("role", list(Role))
def test_a_public_action_is_allowed_to_every_role(role):
    assert allowed(role, PUBLIC) is True


def principal(role: Role) -> Principal:
    return Principal("usr_1", "org_1", "a@example.com", 0, role=role)


async def test_the_route_dependency_lets_through_only_roles_with_the_right():
    authorise = requirement("usage.import")
    assert authorise.action == "usage.import"
    for role in (Role.ANALYST, Role.ADMIN):
        assert await authorise(principal=principal(role)) == principal(role)
    with pytest.raises(Forbidden) as refused:
        await authorise(principal=principal(Role.VIEWER))
    assert refused.value.status == 403 and "viewer" in refused.value.message and "usage.import" in refused.value.message
