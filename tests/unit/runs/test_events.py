"""The frame catalogue is the one list of server frame types: the emitter, verifier, docs and web app agree."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
import pytest

from spendpilot.runs.events import (
    CATALOGUE,
    CONNECTION_FRAME_TYPES,
    RUN_EVENT_TYPES,
    UnknownFrameType,
    encode,
    is_final,
)
from spendpilot.verify import protocol as verifier
from spendpilot.web import STATIC_DIR

ROOT = Path(__file__).parents[3]


def test_each_type_is_declared_once_and_in_one_scope():
    names = [t.name for t in CATALOGUE]
    assert len(names) == len(set(names))
    assert RUN_EVENT_TYPES.isdisjoint(CONNECTION_FRAME_TYPES)
    assert RUN_EVENT_TYPES | CONNECTION_FRAME_TYPES == set(names)
    # Only run events can end a run.
    assert all(t.final == "never" for t in CATALOGUE if t.scope == "connection")


@pytest.mark.parametrize(("type", "data", "final"), [
    ("run_cancelled", {"reason": "x"}, True),
    ("agent_completed", {"final": True}, True),
    ("agent_completed", {"agent": "data"}, False),
    ("agent_completed", {"final": "yes"}, False),  # only a real true ends a run
    ("agent_error", {"final": True}, True),
    ("agent_error", {"final": False}, False),
    ("agent_thinking", {"final": True}, False),
    ("no_such_type", {"final": True}, False),
])
def test_is_final_reads_the_rule_from_the_catalogue(type, data, final):
    assert is_final(type, data) is final


def test_encode_refuses_a_type_nobody_declared():
    with pytest.raises(UnknownFrameType):
        encode("agent_typing", {})


def test_a_run_event_carries_its_run_and_seq_and_a_connection_frame_does_not():
    run_event = orjson.loads(encode("agent_thinking", {"agent": "triage", "thought": "x"}, run_id="run_1",
                                    thread_id="thr_1", seq=3))
    assert (run_event["type"], run_event["run_id"], run_event["thread_id"], run_event["seq"]) == (
        "agent_thinking", "run_1", "thr_1", 3)
    frame = orjson.loads(encode("pong", {"nonce": 1}))
    assert "run_id" not in frame and "seq" not in frame and frame["data"] == {"nonce": 1}


def test_an_odd_value_degrades_to_json_instead_of_failing():
    from decimal import Decimal

    frame = orjson.loads(encode("agent_thinking", {"agent": "data", "thought": Decimal("1.5")}, run_id="r",
                                thread_id="t", seq=1))
    assert frame["data"]["agent"] == "data"


def test_the_verifier_checks_against_the_same_catalogue():
    assert verifier.RUN_TYPES == RUN_EVENT_TYPES
    assert verifier.CONNECTION_TYPES == CONNECTION_FRAME_TYPES
    for declared in CATALOGUE:
        if declared.scope == "run":
            data = {"final": True}
            assert verifier.is_final({"type": declared.name, "data": data}) is is_final(declared.name, data)


def test_the_protocol_docs_list_every_type():
    documented = set(re.findall(r"^\| `(\w+)` \|", (ROOT / "docs" / "protocol.md").read_text(), re.M))
    assert documented == RUN_EVENT_TYPES | CONNECTION_FRAME_TYPES


def test_the_web_app_handles_every_type():
    timeline = (STATIC_DIR / "timeline.js").read_text()
    socket = (STATIC_DIR / "socket.js").read_text()
    assert {t for t in RUN_EVENT_TYPES if f'case "{t}"' not in timeline} == set()
    assert {t for t in CONNECTION_FRAME_TYPES if f'case "{t}"' not in socket} == set()
