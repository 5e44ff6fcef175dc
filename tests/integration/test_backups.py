"""The backups deploy/README.md describes: dumped, restored into a fresh store, and compared.

ClickHouse: `SELECT * FROM llm_usage FORMAT Native`, then `spendpilot migrate` and
`INSERT INTO llm_usage FORMAT Native` (with the setting the rollup views need) into an empty
store; the stand-in speaks ClickHouse's HTTP interface over the same engine. PostgreSQL:
`pg_dump --format=custom`, then `pg_restore --clean --if-exists --no-owner` over a database
Spendpilot has already migrated.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from datetime import date
from pathlib import Path

import asyncpg
import httpx
import pytest

from spendpilot.analytics.demo import generate_usage
from spendpilot.analytics.queries import data_profile, spend_overview, usage_summary
from spendpilot.analytics.store import ClickHouseServerStore
from spendpilot.clock import utcnow
from spendpilot.store.database import Database
from spendpilot.store.models import Org, User
from tests.conftest import need_service
from tests.integration.cluster import create_database, drop_database
from tests.support.clickhouse_standin import ClickHouseStandin

pytestmark = pytest.mark.services

README = (Path(__file__).resolve().parents[2] / "deploy" / "README.md").read_text()
DUMP = "SELECT * FROM llm_usage FORMAT Native"
RESTORE = "INSERT INTO llm_usage FORMAT Native"
END = date(2025, 6, 30)


def migrate(env: dict, data_dir: Path) -> None:
    """`spendpilot migrate`, as the README runs it before restoring."""
    done = subprocess.run([sys.executable, "-m", "spendpilot", "migrate"], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "SPENDPILOT_DATA_DIR": str(data_dir), **env})
    assert done.returncode == 0, done.stdout + done.stderr


async def figures(store, org: str) -> dict:
    """What the API answers from the rollups, and the raw table's own totals."""
    out = {group_by: await usage_summary(store, org, group_by=group_by)
           for group_by in ("model", "provider", "feature", "day")}
    out["overview"] = await spend_overview(store, org)
    out["profile"] = await data_profile(store, org)
    out["raw"] = await store.query("SELECT org_id, count() AS n, toString(sum(row_key)) AS keys FROM llm_usage "
                                   "GROUP BY org_id ORDER BY org_id")
    return out


async def test_clickhouse_usage_dump_restores_usage_and_its_rollups(clickhouse, tmp_path):
    assert DUMP in README and RESTORE in README and "worker-1 migrate" in README
    assert f'--prefer_column_name_to_alias=1 --query "{RESTORE}"' in README
    source = ClickHouseServerStore(clickhouse.url)
    await source.ensure_schema()
    org = f"backup_{uuid.uuid4().hex[:8]}"
    await source.insert_rows(list(generate_usage(org, 2_500, days=30, seed=5, end=END)))
    dump = httpx.post(clickhouse.url, content=DUMP.encode(), timeout=120)
    assert dump.status_code == 200 and dump.content

    restored = ClickHouseStandin(tmp_path / "restored").start()
    target = ClickHouseServerStore(restored.url)
    try:
        migrate({"SPENDPILOT_CLICKHOUSE_URL": restored.url}, tmp_path / "migrate")
        loaded = httpx.post(restored.url, params={"query": RESTORE, "prefer_column_name_to_alias": "1"},
                            content=dump.content, timeout=120)
        assert loaded.status_code == 200, loaded.text
        expected, got = await figures(source, org), await figures(target, org)
    finally:
        await target.close()
        await source.close()
        restored.stop()
    assert got == expected
    assert got["profile"]["rows"] > 0 and got["model"]["total_usd"] > 0


async def test_postgres_dump_restores_over_a_migrated_database(postgres_admin, tmp_path):
    need_service("pg_dump and pg_restore", bool(shutil.which("pg_dump") and shutil.which("pg_restore")))
    assert "pg_dump -U spendpilot --format=custom spendpilot" in README
    assert "pg_restore -U spendpilot -d spendpilot --clean --if-exists --no-owner" in README
    source_url, target_url = create_database(postgres_admin), create_database(postgres_admin)
    try:
        source = Database(source_url.replace("postgresql://", "postgresql+asyncpg://"), 1, 0)
        await source.migrate()
        async with source.session() as s:
            s.add(Org(id="org_backup", name="Backup org", created_at=utcnow()))
            await s.flush()
            s.add(User(id="usr_backup", org_id="org_backup", email="backup@example.com", name="Backup",
                       password_hash="argon2-hash", created_at=utcnow()))
            await s.commit()
        await source.close()
        # The deployment being restored has started before: its schema exists, with other rows.
        migrate({"SPENDPILOT_DATABASE_URL": target_url}, tmp_path / "migrate")
        stray = await asyncpg.connect(target_url)
        await stray.execute("INSERT INTO orgs (id, name, created_at) VALUES ('org_stray', 'Stray', now())")
        await stray.close()

        dump = tmp_path / "spendpilot.pgdump"
        with open(dump, "wb") as out:
            subprocess.run(["pg_dump", "--format=custom", f"--dbname={source_url}"], stdout=out, check=True,
                           timeout=120)
        with open(dump, "rb") as backup:
            subprocess.run(["pg_restore", f"--dbname={target_url}", "--clean", "--if-exists", "--no-owner"],
                           stdin=backup, check=True, timeout=120)

        async def rows(url: str) -> dict:
            conn = await asyncpg.connect(url)
            try:
                return {table: [dict(r) for r in await conn.fetch(f"SELECT * FROM {table} ORDER BY 1")]
                        for table in ("alembic_version", "orgs", "users")}
            finally:
                await conn.close()

        expected, got = await rows(source_url), await rows(target_url)
    finally:
        drop_database(source_url, postgres_admin)
        drop_database(target_url, postgres_admin)
    assert got == expected
    assert [u["email"] for u in got["users"]] == ["backup@example.com"]
