"""Fixtures for the agent tests: a replaying provider server, a report built from tool results, seeded usage."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
from provider_replay import ProviderReplay

from spendpilot.agents.context import AgentContext
from spendpilot.agents.report import build_report
from spendpilot.config import Settings

HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def provider_server():
    server = ProviderReplay().start()
    yield server
    server.stop()


@pytest.fixture
def replay(provider_server):
    """The provider server with an empty queue; the test fails if a request did not match its recording."""
    provider_server.reset()
    yield provider_server
    assert not provider_server.mismatches, provider_server.mismatches
    assert not provider_server.pending(), f"recordings never requested: {provider_server.pending()}"


@pytest.fixture
def make_settings(tmp_path):
    def make(llm: str | None, **overrides) -> Settings:
        return Settings(llm=llm, data_dir=tmp_path, **overrides)
    return make


@pytest.fixture
def tool_results() -> dict:
    return json.loads((HERE / "tool_results.json").read_text())


@pytest.fixture
def report(tool_results) -> dict:
    """The report the pipeline builds from these tool results, before any prose is written."""
    built = build_report(period=tool_results["period"], summary=tool_results["summary"],
                         overview=tool_results["overview"], sufficiency="sufficient",
                         findings=tool_results["findings"], anomalies=tool_results["anomalies"],
                         profile=tool_results["profile"])
    built["intent"] = "cost_analysis"
    return built


@pytest.fixture(scope="session")
async def usage_store(tmp_path_factory):
    from spendpilot.analytics.store import ChdbStore

    store = ChdbStore.open_shared(tmp_path_factory.mktemp("chdb"))
    await store.ensure_schema()
    yield store
    await store.close()


@pytest.fixture(scope="session")
async def seeded_org(usage_store) -> str:
    """An organisation with a few thousand rows of demo usage over 90 days."""
    from spendpilot.analytics.demo import seed_demo

    org_id = f"org_{uuid.uuid4().hex[:12]}"
    await seed_demo(usage_store, org_id, rows=3000)
    return org_id


class RecordedRun:
    """One pipeline run's context, keeping every event it emitted."""

    def __init__(self, store, org_id: str, content: str, model):
        self.events: list[tuple[str, dict]] = []
        self.ctx = AgentContext(run_id=f"run_{uuid.uuid4().hex[:8]}", org_id=org_id, content=content,
                                emit=self._emit, cancel=asyncio.Event(), analytics=store, model=model)

    async def _emit(self, type: str, data: dict) -> int:
        self.events.append((type, data))
        return len(self.events)

    def of(self, type: str, agent: str | None = None) -> list[dict]:
        return [d for t, d in self.events if t == type and (agent is None or d.get("agent") == agent)]


@pytest.fixture
def recorded_run(usage_store, seeded_org):
    def make(content: str, model) -> RecordedRun:
        return RecordedRun(usage_store, seeded_org, content, model)
    return make
