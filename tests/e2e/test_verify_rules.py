"""The verifier's pure rules: report consistency, run ordering, seq damage and the bad tokens it builds."""

from __future__ import annotations

import copy
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519

from spendpilot.verify import tokens
from spendpilot.verify.bench_stats import percentile, seq_damage
from spendpilot.verify.protocol import envelope_problems, run_problems
from spendpilot.verify.report_shape import report_problems

from .broken_servers.fake import REPORT


def _event(seq, kind, **data):
    return {"type": kind, "run_id": "run_1", "thread_id": "thr_1", "seq": seq, "ts": "2026-11-21T21:31:10.123Z",
            "data": data}


def _golden():
    return [
        _event(1, "agent_started", agent="supervisor", description="root"),
        _event(2, "agent_started", agent="data", description="d"),
        _event(3, "tool_executing", agent="data", tool="spend", call_id="c1", args={}),
        _event(4, "tool_completed", agent="data", tool="spend", call_id="c1", ok=True, result={"x": 1}, duration_ms=1),
        _event(5, "agent_completed", agent="data", summary="s", duration_ms=1),
        _event(6, "agent_completed", agent="supervisor", summary="s", duration_ms=2, final=True,
               final_response="# r", report=REPORT),
    ]


def test_a_correct_run_and_report_have_no_problems():
    assert run_problems(_golden()) == []
    assert report_problems(REPORT) == []


@pytest.mark.parametrize(
    ("mutate", "words"),
    [
        (lambda e: e.__setitem__(2, _event(3, "tool_completed", agent="data", tool="spend", call_id="c1", ok=True,
                                           result=1, duration_ms=1)), "completed before executing"),
        (lambda e: e.insert(5, _event(6, "run_cancelled", reason="x", final=True)), "final events"),
        (lambda e: e.append(_event(7, "agent_thinking", agent="supervisor", thought="late")), "not last"),
        (lambda e: e.pop(1), "has not started"),
        (lambda e: e.pop(3), "where"),
        (lambda e: e.insert(0, _event(1, "agent_thinking", agent="supervisor", thought="t")), "received twice"),
    ],
    ids=["completed-first", "two-finals", "final-not-last", "agent-not-started", "gap", "duplicate"],
)
def test_run_rule_violations_are_named(mutate, words):
    events = _golden()
    mutate(events)
    problems = run_problems(events)
    assert any(words in p for p in problems), problems


def test_a_run_without_tool_results_fails():
    events = [e for e in _golden() if e["type"] not in ("tool_executing", "tool_completed")]
    for seq, event in enumerate(events, 1):
        event["seq"] = seq
    assert "no tool_completed with ok and a result" in run_problems(events)


@pytest.mark.parametrize(
    ("path", "value", "words"),
    [
        (("total_monthly_savings_usd",), 91.0, "!= sum of recommendations"),
        (("savings_pct",), 12.0, "savings_pct"),
        (("recommendations", 0, "monthly_savings_usd"), 10.0, "not sorted"),
        (("recommendations", 1, "monthly_savings_usd"), None, "not a non-negative number"),
        (("spend", "monthly_usd"), 100.0, "normalised to 30 days"),
        (("data_sufficiency",), "plenty", "data_sufficiency"),
        (("scope",), ["support-bot"], "scope"),
        (("intent",), "fortune_telling", "intent"),
    ],
)
def test_report_inconsistencies_are_named(path, value, words):
    report = copy.deepcopy(REPORT)
    target = report
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert any(words in p for p in report_problems(report)), report_problems(report)


def test_a_report_without_its_scope_or_intent_is_named():
    report = {key: value for key, value in REPORT.items() if key not in ("scope", "intent")}
    assert "report lacks scope, intent" in report_problems(report)


def test_connection_frames_must_not_carry_run_fields():
    frame = {"type": "ack", "ts": "2026-11-21T21:31:10Z", "run_id": "run_1", "data": {}}
    assert envelope_problems(frame) == ["ack: connection frame carries run_id at top level"]


def test_seq_damage_and_percentiles():
    assert seq_damage([1, 2, 3]) == (0, 0, 0)
    assert seq_damage([1, 3, 3, 2, 5]) == (1, 1, 1)
    assert percentile([float(i) for i in range(1, 101)], 95) == 95.0
    assert percentile([], 50) is None


def test_bad_tokens_do_not_verify_with_the_real_key():
    key = ed25519.Ed25519PrivateKey.generate()
    now = int(time.time())
    real = jwt.encode({"sub": "u", "type": "access", "iat": now, "exp": now + 900}, key, algorithm="EdDSA",
                      headers={"kid": "k1"})
    public = key.public_key()
    assert jwt.decode(real, public, algorithms=["EdDSA"])["sub"] == "u"
    expired = tokens.expired_keeping_signature(real)
    assert tokens.split(expired)[1]["exp"] < now
    forged = tokens.forged_with_fresh_key(real)
    assert tokens.split(forged)[0]["kid"] == "k1"
    for bad in (expired, forged, tokens.alg_none(real)):
        with pytest.raises(jwt.PyJWTError):
            jwt.decode(bad, public, algorithms=["EdDSA"])
