"""Fixtures for the real-service tests: a fresh PostgreSQL database and Redis key prefix per cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from tests.conftest import need_service
from tests.integration.cluster import (
    PG_ADMIN_DSN,
    REDIS_URL,
    Cluster,
    create_database,
    delete_redis_keys,
    drop_database,
    reachable,
    signing_key_pem,
)
from tests.support.clickhouse_standin import ClickHouseStandin


def _reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    return reachable(parsed.hostname or "127.0.0.1", parsed.port or default_port)


@pytest.fixture(scope="session")
def postgres_admin() -> str:
    need_service("PostgreSQL", _reachable(PG_ADMIN_DSN, 5432))
    return PG_ADMIN_DSN


@pytest.fixture(scope="session")
def redis_url() -> str:
    need_service("Redis", _reachable(REDIS_URL, 6379))
    return REDIS_URL


@pytest.fixture(scope="session")
def signing_key() -> str:
    return signing_key_pem()


@pytest.fixture(scope="session")
def clickhouse(tmp_path_factory, postgres_admin, redis_url) -> Iterator[ClickHouseStandin]:
    """One ClickHouse (the stand-in over chDB) that every cluster's processes share; orgs keep data apart."""
    standin = ClickHouseStandin(tmp_path_factory.mktemp("clickhouse") / "data").start()
    yield standin
    standin.stop()


def base_env(database_url: str, redis_url: str, prefix: str, signing_key: str, clickhouse_url: str) -> dict:
    return {
        "SPENDPILOT_DATABASE_URL": database_url,
        "SPENDPILOT_REDIS_URL": redis_url,
        "SPENDPILOT_CLICKHOUSE_URL": clickhouse_url,
        "SPENDPILOT_REDIS_PREFIX": prefix,
        "SPENDPILOT_SIGNING_KEY": signing_key,
        "SPENDPILOT_SEED_DEMO": "0",
        "SPENDPILOT_LEASE_S": "3",
        "SPENDPILOT_WATCHDOG_INTERVAL_S": "0.5",
        "SPENDPILOT_WORKER_DRAIN_S": "3",
        "SPENDPILOT_LLM": "offline",
        # Several clusters and other suites share the machine's PostgreSQL (max_connections 100).
        "SPENDPILOT_DB_POOL_SIZE": "4",
        "SPENDPILOT_DB_MAX_OVERFLOW": "8",
    }


class Clusters:
    """Makes clusters, each on its own database and prefix (a watchdog judges every run of its database)."""

    def __init__(self, root: Path, postgres_admin: str, redis_url: str, signing_key: str,
                 clickhouse: ClickHouseStandin):
        self.root, self.postgres_admin, self.redis_url, self.signing_key = root, postgres_admin, redis_url, signing_key
        self.clickhouse = clickhouse
        self.made: list[tuple[Cluster, str, bool]] = []

    def __call__(self, env: dict | None = None, redis: str | None = None, database: str | None = None) -> Cluster:
        """`redis`/`database` name private servers a test controls; by default the machine's are used."""
        prefix = f"sptest{uuid.uuid4().hex[:10]}"
        database_url = database or create_database(self.postgres_admin)
        bus_url = redis or self.redis_url
        cluster = Cluster(self.root / f"cluster{len(self.made)}", database_url, bus_url,
                          env={**base_env(database_url, bus_url, prefix, self.signing_key, self.clickhouse.url),
                               **(env or {})})
        self.made.append((cluster, prefix, database is None))
        return cluster

    def close(self, failed: bool = False) -> None:
        for cluster, prefix, own_database in self.made:
            cluster.stop_all()
            if failed:
                print(cluster.logs())
                print(f"--- clickhouse stand-in\n{self.clickhouse.log_text()}")
            if own_database:
                drop_database(cluster.database_url, self.postgres_admin)
            if cluster.redis_url == self.redis_url:
                delete_redis_keys(self.redis_url, prefix)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def _failed(node) -> bool:
    report = getattr(node, "report_call", None)
    return bool(report and report.failed)


@pytest.fixture
def make_cluster(request, tmp_path, postgres_admin, redis_url, signing_key, clickhouse):
    clusters = Clusters(tmp_path, postgres_admin, redis_url, signing_key, clickhouse)
    yield clusters
    clusters.close(failed=_failed(request.node))


@pytest.fixture(scope="module")
def module_clusters(request, tmp_path_factory, postgres_admin, redis_url, signing_key, clickhouse):
    clusters = Clusters(tmp_path_factory.mktemp("clusters"), postgres_admin, redis_url, signing_key, clickhouse)
    yield clusters
    clusters.close(failed=any(_failed(item) for item in request.session.items
                              if getattr(item, "module", None) is request.module))
