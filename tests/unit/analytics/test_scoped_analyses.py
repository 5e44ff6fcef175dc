"""Every analysis reads only its scope: run with a scope, it finds exactly what it finds in an org that holds only
the scope's rows, on the rollups (feature, model, provider) and on raw rows (user, tag) alike."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from spendpilot.analytics.analyses import REGISTRY
from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.scope import Scope

SCOPES = [Scope(feature="code-review"), Scope(provider="anthropic"), Scope(model="gemini-2.5-pro"),
          Scope(feature="support-bot"), Scope(user="scheduler"), Scope(tag="team=knowledge"),
          Scope(feature="search-rerank", tag="team=search")]


def _in(row: dict, scope: Scope) -> bool:
    for key, value in scope.as_dict().items():
        if key == "tag":
            name, _, wanted = value.partition("=")
            if row["tags"].get(name) != wanted:
                return False
        elif row[key] != value:
            return False
    return True


@pytest.fixture(scope="module")
async def orgs(store):
    """The demo org (planted waste everywhere), and for each scope an org holding only that scope's rows."""
    whole = f"org_{uuid.uuid4().hex[:10]}"
    rows = list(generate_usage(whole, 40_000, end=date(2026, 6, 30)))
    await store.insert_rows(rows)
    only: dict[Scope, str] = {}
    for scope in SCOPES:
        org = f"org_{uuid.uuid4().hex[:10]}"
        await store.insert_rows([{**row, "org_id": org} for row in rows if _in(row, scope)])
        only[scope] = org
    days = sorted(row["ts"].date() for row in rows)
    return whole, only, (days[0], days[-1])


@pytest.mark.parametrize("analysis", REGISTRY, ids=[a.name for a in REGISTRY])
async def test_an_analysis_with_a_scope_finds_what_the_scope_alone_holds(store, orgs, analysis):
    whole, only, (first, last) = orgs
    found_any = False
    for scope in SCOPES:
        scoped = await analysis.run(store, whole, first, last, scope)
        alone = await analysis.run(store, only[scope], first, last)
        assert scoped == alone, (analysis.name, scope)
        found_any = found_any or bool(scoped)
    everything = await analysis.run(store, whole, first, last)
    # The scopes cut something away: the whole org's answer is not every scope's.
    assert any([everything != await analysis.run(store, whole, first, last, scope) for scope in SCOPES])
    assert found_any or analysis.name in ("batch_api",), f"{analysis.name} found nothing in any scope"
