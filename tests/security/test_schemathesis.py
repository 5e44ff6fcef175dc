"""Schemathesis over /openapi.json of a real server, authenticated: no operation ever answers 5xx."""

from __future__ import annotations

import asyncio

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.security.conftest import bearer, new_user


@pytest.fixture(scope="module")
def auth_headers(security_server) -> dict:
    return bearer(asyncio.run(new_user(security_server.url))["access_token"])


def test_no_operation_answers_5xx(security_server, auth_headers):
    """Each operation of the schema, with generated parameters and bodies (schemathesis' Python API;
    its pytest plugin's subtests do not run under this pytest)."""
    loaded = schemathesis.openapi.from_url(f"{security_server.url}/openapi.json")
    failures, tried = [], 0
    for result in loaded.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=10, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def check(case):
            response = case.call(base_url=security_server.url, headers=auth_headers, timeout=60)
            assert response.status_code < 500, (response.status_code, response.text[:300])
            case.validate_response(response, checks=[not_a_server_error])

        try:
            check()
        except Exception as exc:  # collect every failing operation, then report them all
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
        tried += 1
    assert tried >= 15
    # The server logs where an unhandled error was raised: show it beside the failing operations.
    where = [line for line in security_server.log_text().splitlines() if "unhandled_error" in line]
    assert not failures, "\n".join(failures + where)


def test_the_schema_covers_the_api(security_server):
    """The fuzz above is only as wide as the schema: every REST route must be in it."""
    loaded = schemathesis.openapi.from_url(f"{security_server.url}/openapi.json")
    operations = {f"{op.ok().method.upper()} {op.ok().path}" for op in loaded.get_all_operations()}
    for expected in ("POST /auth/register", "POST /auth/login", "POST /auth/refresh", "POST /auth/logout",
                     "GET /auth/me", "POST /auth/oauth/session", "GET /api/threads", "POST /api/threads",
                     "PATCH /api/threads/{thread_id}", "DELETE /api/threads/{thread_id}",
                     "GET /api/threads/{thread_id}/messages", "POST /api/threads/{thread_id}/runs",
                     "GET /api/runs/{run_id}", "POST /api/runs/{run_id}/cancel", "GET /api/runs/{run_id}/events",
                     "POST /api/usage/import", "GET /api/usage/summary"):
        assert expected in operations, expected
