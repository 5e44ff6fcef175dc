"""The AG-UI reference client (@ag-ui/client's HttpAgent, which verifies every stream it reads) runs the example
in docs/examples against a real server: it must accept the stream, and what it shows must be what was stored."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from .conftest import Org, rest

EXAMPLE = Path(__file__).parents[3] / "docs" / "examples" / "ag-ui-client.mjs"
CLIENT = "@ag-ui/client@1"


@pytest.fixture(scope="module")
def reference_client(tmp_path_factory) -> Path:
    """The example beside an installed @ag-ui/client (from the npm registry, like any JavaScript app gets it)."""
    if not shutil.which("node") or not shutil.which("npm"):
        pytest.skip("node and npm are needed to run the AG-UI reference client")
    where = tmp_path_factory.mktemp("agui-js")
    (where / "package.json").write_text(json.dumps({"name": "agui-example", "private": True, "type": "module"}))
    installed = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent", CLIENT], cwd=where,
                               capture_output=True, text=True, timeout=300)
    if installed.returncode != 0:
        pytest.skip(f"npm could not install {CLIENT}: {installed.stderr[-300:]}")
    shutil.copy(EXAMPLE, where / EXAMPLE.name)
    return where / EXAMPLE.name


async def test_the_reference_client_accepts_the_stream_and_shows_the_stored_answer(org: Org, reference_client):
    env = {**os.environ, "SPENDPILOT_URL": org.url, "SPENDPILOT_TOKEN": org.token,
           "SUPPRESS_TRANSFORMATION_WARNINGS": "true"}
    ran = subprocess.run(["node", reference_client.name, "Analyze my AI costs"], cwd=reference_client.parent,
                         env=env, capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert "Agent execution failed" not in ran.stderr
    steps = [line.split()[1] for line in ran.stderr.splitlines() if line.startswith("step ")]
    assert steps == ["supervisor", "triage", "data", "optimization", "report"]
    closing = ran.stderr.strip().splitlines()[-1]
    thread_id, run_id = closing.split(",")[0].split()[1], closing.split(",")[1].split()[1].rstrip(":")
    messages = await rest(org, f"/api/threads/{thread_id}/messages")
    answer = next(m for m in messages if m["role"] == "assistant" and m["run_id"] == run_id)
    # What the client printed is the answer Spendpilot stored, and its state held the stored report.
    assert ran.stdout.strip() == answer["content"].strip()
    assert f"${answer['report']['total_monthly_savings_usd']} a month to save" in closing
