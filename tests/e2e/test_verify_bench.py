"""The Typer-facing verify and bench commands, and bench's detection of broken runs, against fakes."""

from __future__ import annotations

import json

import httpx
import typer
from typer.testing import CliRunner

from spendpilot.verify.commands import bench_command, verify_command

from .broken_servers import serve_fake

app = typer.Typer()
app.command("verify")(verify_command)
app.command("bench")(bench_command)


def _bench(url: str, *args: str):
    result = CliRunner().invoke(app, ["bench", url, "--json", "--timeout", "3", *args])
    start = result.stdout.index("{")
    return result.exit_code, json.loads(result.stdout[start:])


def test_verify_command_writes_json_and_exits_zero(tmp_path):
    out = tmp_path / "v.json"
    with serve_fake() as url:
        result = CliRunner().invoke(app, ["verify", url, "--timeout", "3", "--json", str(out)])
    assert result.exit_code == 0, result.stdout
    assert json.loads(out.read_text())["passed"] is True


def test_verify_command_refuses_token_with_password():
    result = CliRunner().invoke(
        app, ["verify", "http://127.0.0.1:9", "--token", "t", "--email", "a@b.c", "--password", "p"]
    )
    assert result.exit_code == 2


def test_bench_clean_runs():
    with serve_fake() as url:
        code, result = _bench(url, "--users", "12", "--ramp", "0.2")
    assert code == 0, result
    assert result["runs"]["completed"] == 12 and result["errors"] == {}
    assert result["registration"]["accounts"] == 12
    for stage in ("ack", "first_event", "final_event"):
        assert result["latency_ms"][stage]["n"] == 12
        assert result["latency_ms"][stage]["p50"] <= result["latency_ms"][stage]["p99"]
    assert result["events"] == {"total": 12 * 19, "lost": 0, "duplicated": 0, "out_of_order": 0}


def test_bench_counts_reordered_events():
    with serve_fake("reorder") as url:
        code, result = _bench(url, "--users", "3")
    assert code == 1
    assert result["events"]["out_of_order"] == 3
    assert result["errors"] == {"protocol": 3}


def test_bench_reports_runs_without_events():
    with serve_fake("no_events") as url:
        code, result = _bench(url, "--users", "2")
    assert code == 1
    assert result["errors"] == {"timeout:no_events": 2}
    assert result["runs"]["completed"] == 0


def test_bench_with_one_shared_account():
    with serve_fake() as url:
        email, password = "shared@example.com", "Sp-shared-password-1"
        httpx.post(f"{url}/auth/register", json={"email": email, "password": password})
        code, result = _bench(url, "--users", "4", "--email", email, "--password", password)
    assert code == 0, result
    assert result["registration"]["accounts"] == 1
    assert result["runs"]["completed"] == 4


def test_bench_seeds_usage_into_each_account():
    with serve_fake() as url:
        code, result = _bench(url, "--users", "3", "--seed-usage", "50")
    assert code == 0, result
    assert result["registration"]["seed_rows"] == 50
    assert result["runs"]["completed"] == 3
