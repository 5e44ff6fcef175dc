"""`spendpilot verify` passes every check against a real `spendpilot up`."""

from __future__ import annotations

import io
import json

from rich.console import Console

from spendpilot.verify import CHECK_NAMES, verify


def _verify(tmp_path, url: str, **credentials) -> tuple[int, dict, str]:
    out = io.StringIO()
    json_path = tmp_path / "verify.json"
    code = verify(url, timeout=60.0, json_path=str(json_path), console=Console(file=out, width=200), **credentials)
    return code, json.loads(json_path.read_text()), out.getvalue()


def _failures(report: dict) -> str:
    return "\n".join(f"{c['name']}: {c['reason']}" for c in report["checks"] if not c["passed"])


def test_verifier_passes_against_spendpilot(spendpilot_server, tmp_path):
    code, report, text = _verify(
        tmp_path, spendpilot_server.url,
        email=spendpilot_server.demo_email, password=spendpilot_server.demo_password,
    )
    print(text)
    assert [c["name"] for c in report["checks"]] == CHECK_NAMES
    assert _failures(report) == ""
    assert code == 0 and report["passed"] is True


def test_verifier_passes_with_a_fresh_account(spendpilot_server, tmp_path):
    code, report, text = _verify(tmp_path, spendpilot_server.url)
    print(text)
    assert _failures(report) == ""
    assert code == 0
