"""The import report is the same from the API and the CLI: every count, rejected lines, skipped records,
unpriced models, unknown columns, stated versus computed cost; and the CLI never prints a traceback.

Samples: tests/samples/ (sources in its README).
"""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest

from spendpilot.auth.permissions import Role
from tests.support.accounts import member_of_own_org
from tests.support.client import login
from tests.unit.analytics.samples import SAMPLES

# A real OpenAI dashboard export (xavierjflanagan/Guardian @69d31e9c, README) with a bad line, a model
# the price tables do not know and a column nobody reads added.
EXPORT = (SAMPLES / "openai/dashboard_usage_export.csv").read_text().splitlines()
MIXED = "\n".join([
    EXPORT[0] + ",region",
    *(line + ",eu" for line in EXPORT[1:]),
    EXPORT[1].replace("gpt-4o-2024-08-06", "acme-llm-7").replace("1759622400", "1759622401", 1) + ",eu",
    EXPORT[1].replace("59200.0", "-5") + ",eu",
]).encode()


def _cli(*args: str, data_dir) -> subprocess.CompletedProcess:
    env = {**os.environ, "SPENDPILOT_DATA_DIR": str(data_dir)}
    return subprocess.run([sys.executable, "-m", "spendpilot", *args], capture_output=True, text=True, env=env,
                          timeout=120)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from tests.support.server import RunningServer, free_port

    running = RunningServer(tmp_path_factory.mktemp("report"), free_port(),
                            env={"SPENDPILOT_SEED_DEMO": "1"}).start()
    yield running
    running.stop()


async def test_api_report_lists_everything(server):
    tokens = await login(server.url, server.demo_email, server.demo_password)
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    async with httpx.AsyncClient(base_url=server.url, headers=headers, timeout=60) as client:
        response = await client.post("/api/usage/import", files={"file": ("usage.csv", MIXED, "text/csv")})
        assert response.status_code == 200, response.text
        report = response.json()
        assert (report["format"], report["imported"], report["duplicates"], report["skipped"]) == ("openai", 7, 0, 1)
        assert report["rejected"] == [{"line": 10, "reason": "invalid input_tokens -5: must not be negative"}]
        assert (report["unpriced_models"], report["unknown_columns"]) == (["acme-llm-7"], ["region"])
        bad = await client.post("/api/usage/import", files={"file": ("notes.txt", b"hello\nworld\n", "text/plain")})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "unrecognised_format"


def test_cli_prints_the_whole_report_and_no_traceback(tmp_path):
    email, org_id = member_of_own_org(tmp_path / "data", role=Role.ANALYST)
    member = ("--as", email, "--org", org_id)
    path = tmp_path / "usage.csv"
    path.write_bytes(MIXED)
    done = _cli("ingest", str(path), *member, data_dir=tmp_path / "data")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "format=openai imported=7 duplicates=0 rejected=1 skipped=1 cost_lines=0 without_model=0"
    assert "unpriced models (imported at $0; their spend is missing): acme-llm-7" in lines
    assert "columns not read: region" in lines
    assert "  line 10: invalid input_tokens -5: must not be negative" in lines

    stated = tmp_path / "stated.csv"
    stated.write_bytes((SAMPLES / "edge/input_tokens_header.csv").read_bytes())
    done = _cli("ingest", str(stated), *member, data_dir=tmp_path / "data")
    assert "stated cost $0.910000 vs computed $0.910688 over 2 rows: difference $+0.000688 (+0.08%)" in done.stdout

    junk = tmp_path / "notes.txt"
    junk.write_text("hello\nworld\n")
    done = _cli("ingest", str(junk), *member, data_dir=tmp_path / "data")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert "notes.txt: CSV is not a recognised usage format" in done.stderr or \
        "notes.txt: file is not a recognised usage format" in done.stderr
