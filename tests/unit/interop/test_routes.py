"""The interop routes are ordinary routes of the app, each declaring its action in the table of rights."""

from __future__ import annotations

from fastapi.routing import APIRoute

try:  # newer FastAPI keeps an included router as one entry; this walks its routes with their dependencies
    from fastapi.routing import iter_route_contexts
except ImportError:
    iter_route_contexts = None

from spendpilot.auth.permissions import ACTIONS, PUBLIC, Role, allowed
from spendpilot.config import Settings
from spendpilot.server.app import create_app

EXPECTED = {
    "/mcp": "usage.read",
    "/ag-ui": "chat.use",
    "/.well-known/oauth-protected-resource": PUBLIC,
    "/.well-known/oauth-protected-resource/mcp": PUBLIC,
    "/api/mcp/config": PUBLIC,
    "/api/mcp/servers": PUBLIC,
}


def actions_of(dependant) -> list[str]:
    found = []
    for dependency in dependant.dependencies:
        if getattr(dependency.call, "action", None) is not None:
            found.append(dependency.call.action)
        found.extend(actions_of(dependency))
    return found


def routes_of(app):
    """(path, methods, dependant) of every API route, included routers' too."""
    if iter_route_contexts is None:
        return [(r.path, r.methods, r.dependant) for r in app.routes if isinstance(r, APIRoute)]
    return [(c.path, c.methods, c.dependant) for c in iter_route_contexts(app.routes)
            if isinstance(c.original_route, APIRoute)]


def test_each_interop_route_declares_one_known_action(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    routes = {path: (methods, dependant) for path, methods, dependant in routes_of(app) if path in EXPECTED}
    assert set(routes) == set(EXPECTED)
    for path, action in EXPECTED.items():
        assert actions_of(routes[path][1]) == [action], path
        assert action == PUBLIC or action in ACTIONS
    assert routes["/mcp"][0] == {"POST"}
    # Reading usage over MCP is open to every role, as the usage pages are.
    assert all(allowed(role, "usage.read") for role in Role)
