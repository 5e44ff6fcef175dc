"""Connectors pull the providers' usage and cost APIs page by page, back off on 429, never count a bucket
twice, keep the admin key encrypted, and run once across instances.

The fake (tests/support/fake_admin_apis.py) serves the documented response shapes with results copied
from tests/samples/ (OpenAI's grouped usage page and costs capture, Anthropic's Admin API docs example
and cost capture; sources in tests/samples/README.md).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text

from spendpilot.config import Settings
from spendpilot.connectors import service as service_module
from spendpilot.connectors.secrets import SecretBox, SecretError
from spendpilot.connectors.service import ConnectorService
from spendpilot.store.database import Database
from spendpilot.store.models import Connector

T0 = datetime(2026, 11, 20, 10, 30, tzinfo=UTC)
START = datetime(2026, 11, 19, tzinfo=UTC)
USAGE = "SELECT count() AS n, sum(input_tokens) AS inp, sum(cost_usd) AS cost, sum(requests) AS req FROM llm_usage " \
        "WHERE org_id = {org_id:String} AND tags['kind'] != 'cost'"
COSTS = "SELECT count() AS n, sum(cost_usd) AS cost, sum(stated_cost_usd) AS stated FROM llm_usage " \
        "WHERE org_id = {org_id:String} AND tags['kind'] = 'cost'"


@pytest.fixture
async def db(tmp_path):
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    await database.migrate()
    yield database
    await database.close()


def make_service(db, store, fake, tmp_path, **settings) -> ConnectorService:
    config = Settings(data_dir=tmp_path, openai_admin_url=fake.url + "/v1", anthropic_admin_url=fake.url,
                      **settings)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    service = ConnectorService(db, store, config, SecretBox.from_settings(None, tmp_path), sleep=sleep)
    service.waits = waits  # type: ignore[attr-defined]
    return service


def at(monkeypatch, now: datetime) -> None:
    monkeypatch.setattr(service_module, "utcnow", lambda: now)


async def test_openai_pull_pages_backs_off_and_is_incremental(db, store, fake, org_id, tmp_path, monkeypatch):
    service = make_service(db, store, fake, tmp_path)
    at(monkeypatch, T0)
    created = await service.create(org_id, "u1", "openai", "prod", fake.openai_key, start_at=START)
    fake.requests.clear()
    fake.throttle = 1
    result = await service.run_now(org_id, created["id"], "instance-a")
    assert result["status"] == "ok", result
    usage = result["reports"]["usage"]
    # 2026-11-19 00:00 to 2026-11-20 10:00: 34 complete hourly buckets, 10 a page -> 4 pages.
    assert (usage["window"], usage["pages"], usage["imported"]) == (
        ["2026-11-19T00:00:00.000Z", "2026-11-20T10:00:00.000Z"], 4, 34)
    assert service.waits == [0.0]  # the 429's Retry-After: 0
    assert [dict(r["params"]).get("page") is not None for r in fake.requests if "usage" in r["path"]] == [
        False, False, True, True, True]  # the throttled first request, then pages 1-4
    assert ("group_by", "model") in fake.requests[-1]["params"] or any(
        ("group_by", "model") in r["params"] for r in fake.requests)
    (rows,) = await store.query(USAGE, {"org_id": org_id})
    assert (rows["n"], rows["inp"], rows["req"]) == (34, 34 * 1_233_391, 34 * 29)
    assert rows["cost"] == pytest.approx(34 * 0.07824935, abs=1e-9)
    (costs,) = await store.query(COSTS, {"org_id": org_id})
    # Billed cost lines are kept for reconciliation, not added to the spend.
    assert (costs["n"], costs["cost"], costs["stated"]) == (1, 0, pytest.approx(10.1425634))
    recon = result["reconciliation"]
    assert (recon["billed_usd"], recon["computed_usd"]) == (pytest.approx(10.1425634),
                                                            pytest.approx(24 * 0.07824935, abs=1e-6))

    # Three hours later only the three new buckets are asked for; the day's costs are not complete yet.
    fake.requests.clear()
    at(monkeypatch, datetime(2026, 11, 20, 13, 10, tzinfo=UTC))
    again = await service.run_now(org_id, created["id"], "instance-a")
    assert fake.windows("/v1/organization/usage/completions") == [(str(int(T0.replace(minute=0).timestamp())),
                                                                  str(int(T0.replace(hour=13, minute=0).timestamp())))]
    assert fake.windows("/v1/organization/costs") == []
    assert (again["reports"]["usage"]["imported"], again["reports"]["usage"]["duplicates"]) == (3, 0)

    # A pull that repeats a window (a crash before its cursor was saved) adds nothing.
    async with db.session() as s:
        await s.execute(text("UPDATE connectors SET cursors = '{}' WHERE id = :id"), {"id": created["id"]})
        await s.commit()
    repeat = await service.run_now(org_id, created["id"], "instance-a")
    assert (repeat["reports"]["usage"]["imported"], repeat["reports"]["usage"]["duplicates"]) == (0, 37)
    (rows,) = await store.query(USAGE, {"org_id": org_id})
    assert rows["n"] == 37


async def test_anthropic_pull_prices_searches_and_reads_cents(db, store, fake, org_id, tmp_path, monkeypatch):
    service = make_service(db, store, fake, tmp_path)
    at(monkeypatch, datetime(2026, 11, 20, 3, 0, tzinfo=UTC))
    created = await service.create(org_id, "u1", "anthropic", "", fake.anthropic_key, start_at=START)
    result = await service.run_now(org_id, created["id"], "instance-a")
    assert result["status"] == "ok", result
    assert result["reports"]["usage"]["imported"] == 27  # 2026-11-19 00:00 to 2026-11-20 03:00
    (rows,) = await store.query(USAGE, {"org_id": org_id})
    assert rows["cost"] == pytest.approx(27 * 0.119935, abs=1e-9)
    (costs,) = await store.query(COSTS, {"org_id": org_id})
    assert costs["stated"] == pytest.approx(9.466)  # "946.6" cents
    request = next(r for r in fake.requests if r["path"].endswith("usage_report/messages"))
    assert ("group_by[]", "model") in request["params"]


async def test_the_admin_key_is_stored_encrypted_and_never_shown(db, store, fake, org_id, tmp_path):
    service = make_service(db, store, fake, tmp_path)
    created = await service.create(org_id, "u1", "openai", "prod", fake.openai_key)
    assert fake.openai_key not in str(created) and created["key_hint"] == "…" + fake.openai_key[-4:]
    assert fake.openai_key not in str(await service.list(org_id))
    async with db.session() as s:
        stored = (await s.execute(text("SELECT key_ciphertext FROM connectors"))).scalar_one()
    assert fake.openai_key not in stored and fake.openai_key[-8:] not in stored
    assert service.box.decrypt(stored) == fake.openai_key
    other = SecretBox.from_settings(None, tmp_path / "other")  # another deployment's key
    with pytest.raises(SecretError):
        other.decrypt(stored)


async def test_a_refused_key_is_recorded_and_releases_the_lease(db, store, fake, org_id, tmp_path, monkeypatch):
    service = make_service(db, store, fake, tmp_path)
    at(monkeypatch, T0)
    created = await service.create(org_id, "u1", "openai", "prod", "sk-admin-WRONGwrongWRONG")
    result = await service.run_now(org_id, created["id"], "instance-a")
    assert result["status"] == "error" and "refused the key (401" in result["error"]
    async with db.session() as s:
        row = (await s.scalars(select(Connector).where(Connector.id == created["id"]))).one()
    assert (row.last_status, row.lease_owner, row.cursors) == ("error", None, {})


@pytest.fixture(params=["sqlite", "postgresql"])
async def shared_db(request, tmp_path):
    """The database instances share: SQLite, and PostgreSQL as a split deployment uses (when reachable)."""
    if request.param == "sqlite":
        database = Database(f"sqlite+aiosqlite:///{tmp_path / 'shared.sqlite'}")
        url = None
    else:
        from tests.conftest import need_service
        from tests.integration.cluster import PG_ADMIN_DSN, create_database, drop_database, reachable

        need_service("PostgreSQL", reachable("127.0.0.1", 5432))
        url = await asyncio.to_thread(create_database, PG_ADMIN_DSN)
        database = Database(Settings(database_url=url).sqlalchemy_url, pool_size=2, max_overflow=2)
    await database.migrate()
    yield database
    await database.close()
    if url:
        await asyncio.to_thread(drop_database, url, PG_ADMIN_DSN)


async def test_only_one_instance_pulls_a_due_connector(shared_db, store, fake, org_id, tmp_path, monkeypatch):
    """Two API processes tick at the same moment: the lease lets exactly one of them pull."""
    db = shared_db
    first = make_service(db, store, fake, tmp_path)
    second = make_service(db, store, fake, tmp_path)
    at(monkeypatch, T0)
    await first.create(org_id, "u1", "openai", "prod", fake.openai_key, start_at=START)
    fake.requests.clear()
    ran = await asyncio.gather(first.run_due("instance-a"), second.run_due("instance-b"))
    assert sorted(ran) == [0, 1]
    assert len(fake.windows("/v1/organization/usage/completions")) == 1
    # Not due again until its interval has passed.
    assert await first.run_due("instance-a") == 0
