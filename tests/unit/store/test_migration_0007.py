"""Migration 0007 on a database made by the schema before it: existing users become admins of their orgs,
existing sign-ins belong to those orgs, and they still work afterwards."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from spendpilot.store.database import MIGRATIONS_DIR


def upgrade(url: str, revision: str) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


def test_existing_users_become_admins_of_their_orgs_and_keep_their_sessions(tmp_path):
    url = f"sqlite:///{tmp_path / 'before.db'}"
    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        for org in ("org_a", "org_b"):
            conn.execute(text("INSERT INTO orgs (id, name, created_at) VALUES (:id, :id, '2026-01-01 00:00:00')"),
                         {"id": org})
        for user, org in (("usr_1", "org_a"), ("usr_2", "org_b"), ("usr_3", "org_b")):
            conn.execute(text("INSERT INTO users (id, org_id, email, name, password_hash, created_at) "
                              "VALUES (:id, :org, :email, '', NULL, '2026-01-02 00:00:00')"),
                         {"id": user, "org": org, "email": f"{user}@example.com"})
        conn.execute(text("INSERT INTO token_families (id, user_id, created_at) "
                          "VALUES ('fam_1', 'usr_2', '2026-01-03 00:00:00')"))
    engine.dispose()

    upgrade(url, "head")
    engine = create_engine(url)
    with engine.connect() as conn:
        memberships = conn.execute(text("SELECT org_id, user_id, role FROM memberships ORDER BY user_id")).all()
        families = conn.execute(text("SELECT id, org_id, revoked_at FROM token_families")).all()
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
    engine.dispose()
    assert [tuple(m) for m in memberships] == [("org_a", "usr_1", "admin"), ("org_b", "usr_2", "admin"),
                                               ("org_b", "usr_3", "admin")]
    assert [tuple(f) for f in families] == [("fam_1", "org_b", None)]
    assert {"invitations", "password_resets", "audit_log"} <= tables


def test_it_downgrades_back_to_0002(tmp_path):
    url = f"sqlite:///{tmp_path / 'roundtrip.db'}"
    upgrade(url, "0007")
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0002")
    with engine.connect() as conn:
        tables = {r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'table'"))}
        columns = {r[1] for r in conn.execute(text("PRAGMA table_info(token_families)"))}
    engine.dispose()
    assert "memberships" not in tables and "audit_log" not in tables
    assert columns == {"id", "user_id", "created_at", "revoked_at"}
