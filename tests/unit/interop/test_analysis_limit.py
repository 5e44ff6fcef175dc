"""analyze_costs runs a whole report: an org gets as many at once as a person may have runs, and no more."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from spendpilot.analytics.window import Period
from spendpilot.config import Settings
from spendpilot.errors import RateLimited
from spendpilot.interop import analysis


async def test_an_org_past_its_share_of_analyses_is_told_to_wait_and_others_are_not(monkeypatch, tmp_path):
    release = asyncio.Event()

    async def held(_services, org_id, _question, _period):
        await release.wait()
        return {"org": org_id}

    monkeypatch.setattr(analysis, "_analyze", held)
    services = SimpleNamespace(settings=Settings(data_dir=tmp_path, max_active_runs_per_user=1))
    first = asyncio.create_task(analysis.analyze(services, "org_a", "q", Period()))
    await asyncio.sleep(0)
    with pytest.raises(RateLimited) as refused:
        await analysis.analyze(services, "org_a", "q", Period())
    assert refused.value.code == "too_many_runs"
    other = asyncio.create_task(analysis.analyze(services, "org_b", "q", Period()))
    release.set()
    assert await first == {"org": "org_a"} and await other == {"org": "org_b"}
    assert await analysis.analyze(services, "org_a", "q", Period()) == {"org": "org_a"}
    assert analysis._running == {}
