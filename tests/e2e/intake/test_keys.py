"""Org API keys: shown once, stored as a hash, scoped, another org's keys are 404, revoked everywhere in 1 s."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import subprocess
import sys
import time

import httpx
import pytest

from tests.support.server import RunningServer, free_port

from .conftest import sign_up

ONE_SPAN = (b'{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"k"}}]},'
            b'"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331",'
            b'"name":"chat","startTimeUnixNano":"1767000000000000000","endTimeUnixNano":"1767000001000000000",'
            b'"attributes":[{"key":"gen_ai.request.model","value":{"stringValue":"gpt-4o-mini"}},'
            b'{"key":"gen_ai.usage.input_tokens","value":{"intValue":"10"}}]}]}]}]}')


def send(url: str, key: str) -> int:
    return httpx.post(f"{url}/v1/traces", content=ONE_SPAN,
                      headers={"content-type": "application/json", "x-spendpilot-key": key}).status_code


def test_a_key_is_shown_once_and_stored_only_as_its_hash(server):
    org = sign_up(server.url)
    created = httpx.post(f"{server.url}/api/keys", json={"name": "billing worker", "scopes": ["read", "ingest"]},
                         headers=org.auth)
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    body = created.json()
    key = body["key"]
    assert key.startswith("sp_") and len(key) >= 35 and key.replace("-", "").replace("_", "").isalnum()
    assert body["prefix"] == key[:len(body["prefix"])] and body["scopes"] == ["ingest", "read"]
    listed = httpx.get(f"{server.url}/api/keys", headers=org.auth).json()
    assert {k["id"] for k in listed} == {org.key_id, body["id"]}
    assert all("key" not in k and set(k) == {"id", "name", "prefix", "scopes", "created_at", "last_used_at"}
               for k in listed)
    with sqlite3.connect(server.data_dir / "spendpilot.db") as db:
        stored = db.execute("SELECT key_hash, prefix FROM api_keys WHERE id = ?", (body["id"],)).fetchone()
        everything = "".join(str(v) for row in db.execute("SELECT * FROM api_keys") for v in row)
    assert stored[0] == hashlib.sha256(key.encode()).hexdigest() and key not in everything


def test_last_used_at_is_set_by_use(server):
    org = sign_up(server.url)
    assert httpx.get(f"{server.url}/api/keys", headers=org.auth).json()[0]["last_used_at"] is None
    assert send(server.url, org.key) == 200
    [listed] = httpx.get(f"{server.url}/api/keys", headers=org.auth).json()
    assert listed["last_used_at"] is not None


@pytest.mark.parametrize("body", [{"name": "x", "scopes": ["admin"]}, {"name": "x", "scopes": []},
                                  {"name": "", "scopes": ["ingest"]}, {"scopes": ["ingest"]}])
def test_bad_key_requests_are_422(server, body):
    org = sign_up(server.url)
    answer = httpx.post(f"{server.url}/api/keys", json=body, headers=org.auth)
    assert answer.status_code == 422 and answer.json()["error"]["code"] in ("invalid_scopes", "invalid_request")


def test_keys_need_a_signed_in_admin_and_another_orgs_key_is_not_found(server):
    mine, theirs = sign_up(server.url), sign_up(server.url)
    assert httpx.get(f"{server.url}/api/keys").status_code == 401
    assert httpx.get(f"{server.url}/api/keys", headers={"Authorization": f"Bearer {mine.key}"}).status_code == 401
    assert [k["id"] for k in httpx.get(f"{server.url}/api/keys", headers=mine.auth).json()] == [mine.key_id]
    assert httpx.delete(f"{server.url}/api/keys/{theirs.key_id}", headers=mine.auth).status_code == 404
    assert send(server.url, theirs.key) == 200


def test_a_revoked_key_is_refused_at_once_here(server):
    org = sign_up(server.url)
    assert send(server.url, org.key) == 200
    assert httpx.delete(f"{server.url}/api/keys/{org.key_id}", headers=org.auth).status_code == 204
    assert send(server.url, org.key) == 401
    assert httpx.get(f"{server.url}/api/keys", headers=org.auth).json() == []
    assert httpx.delete(f"{server.url}/api/keys/{org.key_id}", headers=org.auth).status_code == 404


def test_revocation_and_cli_keys_reach_another_instance_within_a_second(tmp_path):
    """Two instances on one database: a key revoked (by the CLI, without any bus) is refused by the other in 1 s."""
    database = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_DATABASE_URL": database}
    first = RunningServer(tmp_path / "a", free_port(), env=env).start()
    second = RunningServer(tmp_path / "b", free_port(), env=env).start()
    try:
        org = sign_up(first.url)
        cli_env = {**os.environ, "SPENDPILOT_DATABASE_URL": database}
        created = subprocess.run([sys.executable, "-m", "spendpilot", "keys", "create", "--org", org.org_id,
                                  "--name", "from the cli"], env=cli_env, capture_output=True, text=True, check=True)
        cli_key = created.stdout.strip()
        assert cli_key.startswith("sp_") and cli_key not in created.stderr
        listed = subprocess.run([sys.executable, "-m", "spendpilot", "keys", "list", "--org", org.org_id],
                                env=cli_env, capture_output=True, text=True, check=True).stdout
        cli_id = next(line.split()[0] for line in listed.splitlines() if "from the cli" in line)
        assert cli_key not in listed

        # Both instances accept both keys (and now remember them).
        assert [send(s.url, k) for s in (first, second) for k in (org.key, cli_key)] == [200, 200, 200, 200]
        assert httpx.delete(f"{first.url}/api/keys/{org.key_id}", headers=org.auth).status_code == 204
        subprocess.run([sys.executable, "-m", "spendpilot", "keys", "revoke", cli_id, "--org", org.org_id],
                       env=cli_env, capture_output=True, check=True)
        revoked_at = time.monotonic()
        time.sleep(max(0.0, revoked_at + 1.0 - time.monotonic()))
        assert [send(s.url, k) for s in (first, second) for k in (org.key, cli_key)] == [401, 401, 401, 401]
        gone = subprocess.run([sys.executable, "-m", "spendpilot", "keys", "revoke", cli_id, "--org", org.org_id],
                              env=cli_env, capture_output=True, text=True)
        assert gone.returncode == 2 and "not found" in gone.stderr
    finally:
        first.stop()
        second.stop()
