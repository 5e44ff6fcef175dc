"""The interop routes are ordinary routes of the app, each declaring its action in the table of rights."""

from __future__ import annotations

from fastapi.routing import APIRoute

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


def test_each_interop_route_declares_one_known_action(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    routes = {route.path: route for route in app.routes if isinstance(route, APIRoute) and route.path in EXPECTED}
    assert set(routes) == set(EXPECTED)
    for path, action in EXPECTED.items():
        assert actions_of(routes[path].dependant) == [action], path
        assert action == PUBLIC or action in ACTIONS
    assert routes["/mcp"].methods == {"GET", "POST", "DELETE"}
    # Reading usage over MCP is open to every role, as the usage pages are.
    assert all(allowed(role, "usage.read") for role in Role)
