"""Migration 0008 on a database made before it: runs and messages keep their rows and gain the conversation
columns (empty: an earlier run has no stored scope), share links get their table, and 0008 downgrades cleanly."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, inspect, text

from spendpilot.store.database import MIGRATIONS_DIR


def migrate(url: str, revision: str, down: bool = False) -> None:
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
        cfg.attributes["connection"] = conn
        (command.downgrade if down else command.upgrade)(cfg, revision)
    engine.dispose()


def test_existing_runs_and_messages_gain_the_conversation_columns(tmp_path):
    url = f"sqlite:///{tmp_path / 'before.db'}"
    migrate(url, "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO orgs (id, name, created_at) VALUES ('org_a', 'a', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO users (id, org_id, email, name, created_at) "
                          "VALUES ('usr_1', 'org_a', 'a@example.com', '', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO threads (id, user_id, org_id, title, created_at, updated_at) "
                          "VALUES ('thr_1', 'usr_1', 'org_a', 't', '2026-01-01 00:00:00', '2026-01-01 00:00:00')"))
        conn.execute(text("INSERT INTO runs (id, thread_id, user_id, org_id, content, status, last_seq, created_at, "
                          "deadline_at) VALUES ('run_1', 'thr_1', 'usr_1', 'org_a', 'q', 'completed', 9, "
                          "'2026-01-01 00:00:00', '2026-01-01 00:02:00')"))
        conn.execute(text("INSERT INTO messages (id, thread_id, user_id, role, content, run_id, created_at) "
                          "VALUES ('msg_1', 'thr_1', 'usr_1', 'user', 'q', 'run_1', '2026-01-01 00:00:00')"))
    engine.dispose()

    migrate(url, "head")
    engine = create_engine(url)
    with engine.connect() as conn:
        run = conn.execute(text("SELECT status, last_seq, period_from, period_to, scope, intent, regenerates "
                                "FROM runs")).one()
        message = conn.execute(text("SELECT content, edits, regenerates, superseded_by FROM messages")).one()
        share_columns = {c["name"] for c in inspect(conn).get_columns("shares")}
    engine.dispose()
    assert tuple(run) == ("completed", 9, None, None, None, None, None)
    assert tuple(message) == ("q", None, None, None)
    assert {"token_hash", "token_sealed", "run_id", "thread_id", "user_id", "org_id"} <= share_columns

    migrate(url, "0006", down=True)
    engine = create_engine(url)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
        columns = {c["name"] for c in inspect(conn).get_columns("runs")}
        assert conn.execute(text("SELECT content FROM messages")).scalar() == "q"
    engine.dispose()
    assert "shares" not in tables and "scope" not in columns
