"""A local fake of the OpenAI Usage/Costs APIs and the Anthropic Admin usage/cost reports.

It serves the providers' documented response shapes page by page (`data` buckets, `has_more`,
`next_page`), with results copied from the real and documented samples in tests/samples/ (see its
README), one result per bucket of the window asked for. It checks the admin key in each provider's
header, answers 429 with Retry-After when told to, and records every request so tests can assert
what a connector asked for (windows, group_by, page tokens).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support.server import free_port

SAMPLES = Path(__file__).parents[1] / "samples"


def _sample_result(path: str, bucket: int = 0, index: int = 0) -> dict:
    doc = json.loads((SAMPLES / path).read_text())
    return doc["data"][bucket]["results"][index]


# gpt-5-mini on 2025-08-13 (the grouped page sample): $0.07824935 a bucket at its price.
OPENAI_USAGE = _sample_result("openai/usage_completions_grouped_by_model_page.json", 1, 1)
OPENAI_COST = _sample_result("openai/costs_page.json")
# claude-sonnet-4 with cache writes and 10 web searches (the Admin API docs example): $0.119935.
ANTHROPIC_USAGE = _sample_result("anthropic/admin_usage_report_grouped_docs_example.json")
ANTHROPIC_COST = _sample_result("anthropic/admin_cost_report_grouped_capture.json")


@dataclass
class FakeAdminApis:
    openai_key: str = "sk-admin-EXAMPLEexampleEXAMPLE0001"
    anthropic_key: str = "sk-ant-admin01-EXAMPLEexampleEXAMPLE"
    # Buckets per page at most, below the limit a client asks for, so every window spans pages.
    page_buckets: int = 10
    # The next this many requests answer 429 (with Retry-After: 0).
    throttle: int = 0
    requests: list[dict] = field(default_factory=list)
    port: int = field(default_factory=free_port)
    _server: uvicorn.Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.get("/v1/organization/usage/completions")
        async def openai_usage(request: Request):
            return self._serve(request, "openai", "start_time", "end_time", timedelta(hours=1), unix=True,
                               result=lambda: {**OPENAI_USAGE, "project_id": "proj_EXAMPLE01", "user_id": None,
                                               "api_key_id": "key_EXAMPLE01", "batch": False,
                                               "service_tier": "default"})

        @app.get("/v1/organization/costs")
        async def openai_costs(request: Request):
            return self._serve(request, "openai", "start_time", "end_time", timedelta(days=1), unix=True,
                               result=lambda: {**OPENAI_COST, "line_item": "gpt-5-mini-2025-08-07, input",
                                               "project_id": "proj_EXAMPLE01"})

        @app.get("/v1/organizations/usage_report/messages")
        async def anthropic_usage(request: Request):
            return self._serve(request, "anthropic", "starting_at", "ending_at", timedelta(hours=1), unix=False,
                               result=lambda: dict(ANTHROPIC_USAGE))

        @app.get("/v1/organizations/cost_report")
        async def anthropic_cost(request: Request):
            return self._serve(request, "anthropic", "starting_at", "ending_at", timedelta(days=1), unix=False,
                               result=lambda: dict(ANTHROPIC_COST))

        return app

    def _serve(self, request: Request, provider: str, start_key: str, end_key: str, width: timedelta, *,
               unix: bool, result) -> JSONResponse:
        params = request.query_params
        self.requests.append({"path": request.url.path, "params": list(params.multi_items())})
        if provider == "openai":
            if request.headers.get("authorization") != f"Bearer {self.openai_key}":
                return JSONResponse({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error",
                                               "code": "invalid_api_key"}}, status_code=401)
        elif request.headers.get("x-api-key") != self.anthropic_key or not request.headers.get("anthropic-version"):
            return JSONResponse({"type": "error", "error": {"type": "authentication_error",
                                                            "message": "invalid x-api-key"}}, status_code=401)
        if self.throttle > 0:
            self.throttle -= 1
            return JSONResponse({"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                                status_code=429, headers={"Retry-After": "0"})

        def when(value: str) -> datetime:
            return datetime.fromtimestamp(int(value), tz=UTC) if unix else datetime.fromisoformat(
                value.replace("Z", "+00:00"))

        start, end = when(params[start_key]), when(params[end_key])
        offset = int(base64.urlsafe_b64decode(params["page"]).decode()) if params.get("page") else 0
        limit = min(int(params.get("limit", self.page_buckets)), self.page_buckets)
        starts = []
        at = start
        while at < end:
            starts.append(at)
            at += width
        chunk = starts[offset:offset + limit]
        more = offset + limit < len(starts)

        def stamp(value: datetime) -> int | str:
            return int(value.timestamp()) if unix else value.strftime("%Y-%m-%dT%H:%M:%SZ")

        buckets = [{"object": "bucket", start_key: stamp(b), end_key: stamp(b + width), "results": [result()]}
                   for b in chunk]
        token = base64.urlsafe_b64encode(str(offset + limit).encode()).decode() if more else None
        return JSONResponse({"object": "page", "data": buckets, "has_more": more, "next_page": token})

    def start(self) -> FakeAdminApis:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning")
        self._server = uvicorn.Server(config)
        threading.Thread(target=self._server.run, daemon=True).start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("the fake admin APIs did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True

    def windows(self, path: str) -> list[tuple[str, str]]:
        """(start, end) of every first-page request to a report."""
        found = []
        for r in self.requests:
            params = dict(r["params"])
            if r["path"] == path and "page" not in params:
                found.append((params.get("start_time") or params.get("starting_at"),
                              params.get("end_time") or params.get("ending_at")))
        return found
