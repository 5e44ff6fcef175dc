"""The verifier passes a spec-following fake and fails each broken one on the right check."""

from __future__ import annotations

import io
import json
import xml.etree.ElementTree as ET

import pytest
from rich.console import Console

from spendpilot.verify import CHECK_NAMES, verify

from .broken_servers import serve_fake

TIMEOUT = 3.0  # each request, and the run deadline: the broken fakes fail within seconds


def _run(tmp_path, breakage):
    out = io.StringIO()
    json_path, junit_path = tmp_path / "verify.json", tmp_path / "verify.xml"
    with serve_fake(breakage) as url:
        code = verify(url, timeout=TIMEOUT, run_deadline=TIMEOUT, json_path=str(json_path),
                      junit_path=str(junit_path), console=Console(file=out, width=200))
    report = json.loads(json_path.read_text())
    junit = ET.parse(junit_path).getroot()
    print(out.getvalue())
    return code, report, junit, out.getvalue()


def _failed(report) -> dict[str, str]:
    return {c["name"]: c["reason"] for c in report["checks"] if not c["passed"]}


def test_verifier_passes_reference_fake(tmp_path):
    code, report, junit, text = _run(tmp_path, None)
    assert _failed(report) == {}
    assert code == 0 and report["passed"] is True
    assert [c["name"] for c in report["checks"]] == CHECK_NAMES
    assert set(report["latencies_ms"]) >= {"ack", "first_event", "final_event"}
    cases = junit.findall(".//testcase")
    assert [c.get("name") for c in cases] == CHECK_NAMES
    assert not junit.findall(".//failure")
    assert "PASSED" in text


BROKEN = [
    # breakage, the check that must fail, words its reason must contain
    ("no_events", "golden_path", "no run events"),
    ("echo_subprotocol", "handshake_subprotocol", "not offered"),
    ("echo_offered", "subprotocol_rule", "multiple values"),
    ("reorder", "golden_path", "where 3 was expected"),
    ("leak", "isolation", "other user's run reached this socket"),
    ("no_final", "golden_path", "no final event"),
    ("never_ends", "golden_path", "no final event"),
    ("single_tab", "multi_tab", "second tab got seqs []"),
    ("parallel_runs", "queued_message", "before the first run ended"),
    ("no_ack", "golden_path", "no ack for client id"),
    ("no_ready", "handshake_bearer", "no connection_ready within 3s"),
]


@pytest.mark.parametrize(("breakage", "check", "words"), BROKEN, ids=[b[0] for b in BROKEN])
def test_verifier_fails_broken_server(tmp_path, breakage, check, words):
    code, report, junit, text = _run(tmp_path, breakage)
    failed = _failed(report)
    assert code != 0 and report["passed"] is False
    assert check in failed, failed
    assert words in failed[check]
    case = next(c for c in junit.findall(".//testcase") if c.get("name") == check)
    assert case.find("failure") is not None
    assert "FAILED" in text
    # A failure is pinned on the right check: the login and token checks still pass.
    assert not {"health", "login", "token_forged_refused"} & set(failed)


def test_leak_is_only_an_isolation_failure(tmp_path):
    _, report, _, _ = _run(tmp_path, "leak")
    assert set(_failed(report)) == {"isolation"}


def test_echo_never_breaks_the_offered_case(tmp_path):
    _, report, _, _ = _run(tmp_path, "echo_subprotocol")
    # Offering spendpilot.v1 makes the echo coincide with the right answer; the others must fail.
    assert set(_failed(report)) == {"handshake_bearer", "handshake_subprotocol"}


def test_unreachable_server_fails_every_check(tmp_path):
    out = io.StringIO()
    json_path = tmp_path / "verify.json"
    code = verify("http://127.0.0.1:9", timeout=TIMEOUT, json_path=str(json_path), console=Console(file=out))
    report = json.loads(json_path.read_text())
    assert code != 0
    assert all(not c["passed"] for c in report["checks"])
    assert "unreachable" in report["checks"][-1]["reason"]
