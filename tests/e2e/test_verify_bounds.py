"""`spendpilot verify` against servers that go silent: a line per check on stdout as it goes, every wait bounded.

The command runs as a real process and its stdout is read while it runs. The fake server's
/api/health (the second check) answers only once this test has read the line of the first
check, so api_health can pass only if that line reached stdout while the verifier was still
at work: buffered output would leave it waiting until its request timed out.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from spendpilot.verify import CHECK_NAMES

from .broken_servers import serve_fake

ROOT = Path(__file__).resolve().parents[2]
# SPEC: a silent server fails within 30 s with the verifier's default bounds.
SILENT_SERVER_LIMIT_S = 30.0


@dataclass
class Streamed:
    lines: list[str] = field(default_factory=list)
    header: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


def _read(process: subprocess.Popen, streamed: Streamed, gate: threading.Event) -> None:
    assert process.stdout is not None
    for raw in process.stdout:
        line = raw.rstrip("\n")
        streamed.lines.append(line)
        if line.startswith("spendpilot verify "):
            streamed.header.set()
        if line.split()[:2] == ["PASS", "health"]:
            gate.set()  # only now may the server answer the next check
    streamed.done.set()


def run_verify(tmp_path: Path, breakage: str, *args: str) -> tuple[int, Streamed, dict, ET.Element]:
    gate = threading.Event()
    json_path, junit_path = tmp_path / "verify.json", tmp_path / "verify.xml"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with serve_fake(breakage, health_gate=gate) as url:
        process = subprocess.Popen(
            [sys.executable, "-m", "spendpilot", "verify", url, "--json", str(json_path), "--junit", str(junit_path),
             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=tmp_path)
        streamed = Streamed()
        reader = threading.Thread(target=_read, args=(process, streamed, gate), daemon=True)
        reader.start()
        try:
            assert streamed.header.wait(60), f"no header line: {streamed.lines}"
            # From the first line on, the whole verification must end within the bound.
            code = process.wait(timeout=SILENT_SERVER_LIMIT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail(f"verify still running {SILENT_SERVER_LIMIT_S:g}s after it started:\n" +
                        "\n".join(streamed.lines))
        finally:
            gate.set()
        assert streamed.done.wait(10)
    print("\n".join(streamed.lines))
    return code, streamed, json.loads(json_path.read_text()), ET.parse(junit_path).getroot()


def check_lines(streamed: Streamed) -> dict[str, tuple[str, str]]:
    """{check: (PASS|FAIL, reason)} from the lines printed, asserting one line per check in order."""
    found = [line.split(maxsplit=4) for line in streamed.lines if line.split()[:1] in (["PASS"], ["FAIL"])]
    assert [parts[1] for parts in found] == CHECK_NAMES, streamed.lines
    return {parts[1]: (parts[0], parts[4] if len(parts) > 4 else "") for parts in found}


SILENT = [
    # breakage, extra flags, what golden_path's line must say
    ("no_events", [], "ack then no run events within 5s"),
    ("no_ack", [], "within 1s"),
    ("no_final", ["--run-deadline", "4"], "no final event within 6s"),
]


@pytest.mark.parametrize(("breakage", "flags", "words"), SILENT, ids=[s[0] for s in SILENT])
def test_a_silent_server_fails_within_the_bounds_with_a_line_per_check_as_it_goes(tmp_path, breakage, flags, words):
    code, streamed, report, junit = run_verify(tmp_path, breakage, *flags)
    lines = check_lines(streamed)
    assert code == 1 and report["passed"] is False
    # Streamed: the second check could answer only after the first check's line was read.
    assert lines["api_health"][0] == "PASS", lines["api_health"]
    verdict, reason = lines["golden_path"]
    assert verdict == "FAIL" and words in reason, reason
    if breakage == "no_ack":
        assert reason.startswith("no ack for client id verify-")
    # The checks that drive runs are not left to wait out the same bound again.
    for name in ("resume", "cancel", "multi_tab", "queued_message", "isolation", "legacy_aliases"):
        assert lines[name] == ("FAIL", f"not run: runs unanswered (golden_path: {_stage(reason)})"), lines[name]
    assert streamed.lines[-1].startswith("FAILED: ")
    # The files say the same as the lines.
    assert [c["name"] for c in report["checks"]] == CHECK_NAMES
    assert {c["name"]: c["reason"] for c in report["checks"]}["golden_path"] == reason
    assert report["bounds_s"]["ack_s"] == 1.0 and report["bounds_s"]["first_event_s"] == 5.0
    golden = next(c for c in junit.iter("testcase") if c.get("name") == "golden_path")
    assert golden.find("failure") is not None and words in golden.find("failure").text


def _stage(reason: str) -> str:
    """The silence golden_path names for the other checks: its reason without client id and tail."""
    if reason.startswith("no ack for client id"):
        return "no ack within 1s"
    if reason.startswith("ack then "):
        return reason.removeprefix("ack then ")
    return reason.split(" (")[0]


def test_a_server_whose_sockets_never_get_ready_fails_fast(tmp_path):
    code, streamed, report, _ = run_verify(tmp_path, "no_ready", "--timeout", "3")
    lines = check_lines(streamed)
    assert code == 1
    assert lines["handshake_bearer"] == ("FAIL", "no connection_ready within 3s of the upgrade")
    assert lines["golden_path"][1].startswith("not run: socket unanswered (handshake_bearer: ")
    assert lines["login"][0] == "PASS" and lines["token_forged_refused"][0] == "PASS"
