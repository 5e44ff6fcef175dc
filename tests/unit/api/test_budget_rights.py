"""Budgets, alerts and forecasts declare their rights: every role reads, analysts and admins write, admins
choose where alerts are sent."""

from __future__ import annotations

import pytest
from fastapi.routing import APIRoute

from spendpilot.api import alerts, budgets, usage
from spendpilot.auth.permissions import Role, allowed


def declared_actions(route: APIRoute) -> set[str]:
    found: set[str] = set()
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        action = getattr(dependant.call, "action", None)
        if action:
            found.add(action)
        stack.extend(dependant.dependencies)
    return found


EXPECTED = {
    ("POST", "/api/budgets"): "budgets.write",
    ("GET", "/api/budgets"): "budgets.read",
    ("GET", "/api/budgets/{budget_id}"): "budgets.read",
    ("PATCH", "/api/budgets/{budget_id}"): "budgets.write",
    ("DELETE", "/api/budgets/{budget_id}"): "budgets.write",
    ("GET", "/api/alerts"): "alerts.read",
    ("GET", "/api/usage/forecast"): "usage.read",
    ("GET", "/api/usage/summary"): "usage.read",
}


def test_each_route_declares_exactly_its_action():
    routes = {(method, route.path): route for router in (budgets.router, alerts.router, usage.router)
              for route in router.routes if isinstance(route, APIRoute) for method in route.methods}
    for key, action in EXPECTED.items():
        assert declared_actions(routes[key]) == {action}, key
    for key, route in routes.items():
        assert declared_actions(route), f"{key} declares no action"


@pytest.mark.parametrize("role, action, may", [
    (Role.VIEWER, "budgets.read", True), (Role.VIEWER, "alerts.read", True), (Role.VIEWER, "budgets.write", False),
    (Role.ANALYST, "budgets.write", True), (Role.ANALYST, "webhooks.manage", False),
    (Role.ADMIN, "budgets.write", True), (Role.ADMIN, "webhooks.manage", True),
])
def test_roles(role, action, may):
    assert allowed(role, action) is may
