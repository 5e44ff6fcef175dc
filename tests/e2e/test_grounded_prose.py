"""A lying or broken model behind SPENDPILOT_LLM, over the real socket: nothing it invents reaches the user.

One `spendpilot up` (demo data) streams from the local fake OpenAI-compatible server; each test scripts what the
fake answers. For every run: no invented figure in any event sent on the socket or stored (events, messages),
exactly one final event, and where the model's text was dropped, the offline model's with a caveat saying so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import httpx
import pytest

from spendpilot.agents.grounding import Facts
from spendpilot.runs.events import is_final
from tests.e2e.checks import assert_run_well_formed
from tests.support.client import collect_run, login, open_socket, send_message
from tests.support.fake_providers import FakeProviders
from tests.support.hostile_prose import (
    HONEST_RATIONALE,
    INVENTED_COUNTS,
    INVENTED_DOLLARS,
    INVENTED_PERCENTS,
    LYING_RATIONALE,
    counts_as_money,
    honest_report,
    report_of,
    triage_json,
)
from tests.support.server import RunningServer, free_port

QUESTION = "Analyze my AI costs"
MODEL = "openai-compatible:liar"
STEP_TIMEOUT_S = 3


@pytest.fixture(scope="module")
def fake():
    started = FakeProviders.start()
    yield started
    started.stop()


@pytest.fixture(scope="module")
def server(fake, tmp_path_factory):
    # Demo data on: the report needs usage to have figures worth lying about.
    env = {"SPENDPILOT_LLM": fake.llm_setting("liar"), "SPENDPILOT_LLM_TIMEOUT_S": str(STEP_TIMEOUT_S)}
    running = RunningServer(tmp_path_factory.mktemp("grounded"), free_port(), env=env).start()
    yield running
    running.stop()


@pytest.fixture
def liar(fake):
    """The fake with an empty script; every scripted answer must have been asked for by the end of the test."""
    fake.reset()
    yield fake
    assert fake.pending == 0, "the run did not ask for every scripted answer"


@pytest.fixture(scope="module")
def summary(server) -> dict:
    """The demo organisation's usage summary by model, over all its data (as the report's data agent reads it)."""
    return _rest(server, "/api/usage/summary")


@dataclass
class Run:
    sent: list[dict]
    stored: list[dict]
    messages: list[dict]

    @property
    def final(self) -> dict:
        return self.sent[-1]["data"]

    @property
    def report(self) -> dict:
        return self.final["report"]

    def texts(self) -> list[str]:
        """Everything of the run a person reads: thoughts, streamed prose, the answer and the stored message."""
        return ([e["data"]["thought"] for e in self.sent if e["type"] == "agent_thinking"]
                + [e["data"]["delta"] for e in self.sent if e["type"] == "partial_result"]
                + [self.final["final_response"], self.messages[-1]["content"], *self.report["caveats"]])

    @property
    def rationale(self) -> str:
        """The triage line that gives the rationale (followed by what the data profile says)."""
        [line] = [t for t in self.thoughts("triage") if " Data: " in t]
        return line

    def thoughts(self, agent: str) -> list[str]:
        return [e["data"]["thought"] for e in self.sent
                if e["type"] == "agent_thinking" and e["data"]["agent"] == agent]


def _rest(server: RunningServer, path: str):
    session = httpx.post(f"{server.url}/auth/login", json={"email": server.demo_email,
                                                            "password": server.demo_password}).json()
    answer = httpx.get(f"{server.url}{path}", headers={"Authorization": f"Bearer {session['access_token']}"},
                       timeout=30)
    answer.raise_for_status()
    return answer.json()


async def ask(server: RunningServer, content: str = QUESTION) -> Run:
    session = await login(server.url, server.demo_email, server.demo_password)
    ws = await open_socket(server.ws_url, session["access_token"])
    try:
        ack = await send_message(ws, content)
        run_id, thread_id = ack["data"]["run_id"], ack["data"]["thread_id"]
        sent = await collect_run(ws, run_id, timeout=90)
    finally:
        await ws.close()
    assert_run_well_formed(sent, run_id, thread_id)
    stored = _rest(server, f"/api/runs/{run_id}/events")
    messages = _rest(server, f"/api/threads/{thread_id}/messages")
    return Run(sent, stored, messages)


def assert_nothing_invented(run: Run, invented: tuple[str, ...] | list[str] = ()) -> None:
    """No invented figure in any event sent or stored; exactly one final event; what people read is grounded."""
    assert run.stored == run.sent
    assert sum(is_final(e["type"], e["data"]) for e in run.stored) == 1
    everything = json.dumps([run.sent, run.stored, run.messages], ensure_ascii=False)
    for figure in invented:
        assert figure not in everything, f"{figure!r} reached the user"
    # The figures people read are the run's own: its tools' results, its report, and the question.
    facts = Facts()
    for event in run.sent:
        if event["type"] == "tool_completed":
            facts.add_result(event["data"]["result"])
    facts.add_result(run.report)
    facts = facts.with_text(QUESTION)
    for text in run.texts():
        assert facts.ungrounded(text) == [], text
    assert run.messages[-1]["content"] == run.final["final_response"]


def assert_offline_with_caveat(run: Run, caveat_start: str) -> str:
    """The offline model wrote the answer, and the caveat that says why is in the report and in the answer."""
    assert run.report["model"] == "offline"
    [caveat] = [c for c in run.report["caveats"] if c.startswith(caveat_start)]
    assert caveat in run.final["final_response"]
    return caveat


def report_chat_requests(fake: FakeProviders) -> list:
    return [r for r in fake.requests_to("/chat/completions") if r.body.get("stream")]


async def test_an_honest_model_is_kept_and_credited(server, liar, summary):
    prose = honest_report(summary)
    liar.queue(triage_json(HONEST_RATIONALE), prose)

    run = await ask(server)

    assert_nothing_invented(run)
    assert run.report["model"] == MODEL
    assert not any("language model" in c for c in run.report["caveats"])
    assert run.final["final_response"] == prose.strip()
    assert run.rationale.startswith(HONEST_RATIONALE)
    assert not any(e["data"].get("reset") for e in run.sent if e["type"] == "partial_result")


LIES = ([(figure, "an amount in EUR" if figure.startswith("€") else "a dollar amount") for figure in INVENTED_DOLLARS]
        + [(figure, "a percentage") for figure in INVENTED_PERCENTS]
        + [(figure, "a request count") for figure in INVENTED_COUNTS])


@pytest.mark.parametrize(("lie", "what"), LIES, ids=[figure for figure, _ in LIES])
async def test_a_report_that_lies_twice_is_dropped_for_the_offline_one(server, liar, lie, what):
    liar.queue(triage_json(HONEST_RATIONALE), report_of([lie]), report_of([lie]))

    run = await ask(server)

    assert_nothing_invented(run, [lie])
    caveat = assert_offline_with_caveat(run, f"The language model ({MODEL}) stated ")
    assert caveat == (f"The language model ({MODEL}) stated {what} that no tool produced, also after one rewrite; "
                      "its prose was dropped and this report was written by the offline model.")
    assert [t for t in run.thoughts("report") if "no tool produced" in t] == [
        f"The draft stated {what} that no tool produced; asking the model to rewrite it from the tool results.",
        f"The rewrite still stated {what} that no tool produced; writing the report with the offline model."]
    # One rewrite was asked for, naming what to fix (a count is named by its number); then no more.
    requests = report_chat_requests(liar)
    named = lie.removesuffix(" wasted requests").removesuffix(" calls")
    assert len(requests) == 2 and f"{named!r} (" in json.dumps(requests[1].body["messages"], ensure_ascii=False)


async def test_counts_presented_as_money_are_caught(server, liar, summary):
    lies = counts_as_money(summary)  # the real request count and a real token count, with a dollar sign
    liar.queue(triage_json(HONEST_RATIONALE), report_of(lies), report_of(lies))

    run = await ask(server)

    assert_nothing_invented(run, lies)
    caveat = assert_offline_with_caveat(run, f"The language model ({MODEL}) stated ")
    assert "stated a dollar amount that no tool produced" in caveat
    # The same numbers as counts are real, and the offline report may show them as such.
    assert f"{summary['total_requests']:,}" in json.dumps(run.sent)


async def test_a_rewrite_that_is_grounded_is_kept(server, liar, summary):
    prose = honest_report(summary)
    liar.queue(triage_json(HONEST_RATIONALE), report_of(INVENTED_DOLLARS[:2]), prose)

    run = await ask(server)

    assert_nothing_invented(run, INVENTED_DOLLARS)
    assert run.report["model"] == MODEL
    assert run.final["final_response"] == prose.strip()
    assert "The draft stated a dollar amount that no tool produced" in run.thoughts("report")[-1]


async def test_a_lying_triage_rationale_is_replaced_and_the_honest_report_kept(server, liar, summary):
    prose = honest_report(summary)
    liar.queue(triage_json(LYING_RATIONALE), triage_json(LYING_RATIONALE), prose)

    run = await ask(server)

    assert_nothing_invented(run, ("$1.2M", "$48,200", "87%"))
    note = (f"The language model ({MODEL}) gave a triage rationale stating 2 dollar amounts and a percentage that "
            "no tool produced, also after one rewrite; the offline model's rationale is shown instead.")
    assert note in run.rationale and note in run.report["caveats"]
    # Only that piece was dropped: the model's intent stands and its grounded report is credited.
    assert run.report["intent"] == "cost_analysis" and run.report["model"] == MODEL
    assert run.final["final_response"] == prose.strip()
    triage_requests = [r for r in liar.requests_to("/chat/completions") if not r.body.get("stream")]
    assert len(triage_requests) == 2 and "$1.2M" in json.dumps(triage_requests[1].body["messages"])


async def test_a_lying_rationale_rewritten_honestly_is_kept(server, liar, summary):
    liar.queue(triage_json(LYING_RATIONALE), triage_json(HONEST_RATIONALE), honest_report(summary))

    run = await ask(server)

    assert_nothing_invented(run, ("$1.2M", "$48,200", "87%"))
    assert run.rationale.startswith(HONEST_RATIONALE)
    assert not any("language model" in c for c in run.report["caveats"])


@pytest.mark.parametrize(("mode", "why"), [
    ("cut", "stopped before its answer was finished (the stream ended without a normal stop)"),
    ("length", "stopped before its answer was finished (it reached its length limit)"),
], ids=["cut", "length"])
async def test_a_report_stream_that_did_not_stop_normally_is_not_the_answer(server, liar, summary, mode, why):
    prose = honest_report(summary)
    liar.queue(triage_json(HONEST_RATIONALE))
    liar.queue_variant(mode=mode, text=prose)

    run = await ask(server)

    assert_nothing_invented(run)
    assert_offline_with_caveat(run, f"The language model ({MODEL}) {why}; this report was written by the offline")
    assert run.final["final_response"] != prose.strip()
    # What had streamed before the stream broke is taken back before the offline report.
    deltas = [e["data"] for e in run.sent if e["type"] == "partial_result"]
    assert deltas[0]["delta"] and deltas[0]["delta"] in prose
    assert any(d.get("reset") for d in deltas)


@pytest.mark.parametrize(("mode", "why"), [
    ("slow", "did not answer in time"),
    ("malformed", "sent an answer that could not be read"),
    ("drop", "could not be reached"),
], ids=["slow", "malformed", "drop"])
async def test_a_broken_provider_falls_back_with_a_caveat(server, liar, summary, mode, why):
    prose = honest_report(summary)
    if mode == "slow":
        liar.queue_variant(mode="slow", slow_s=3 * STEP_TIMEOUT_S, text=triage_json(HONEST_RATIONALE))
    else:
        liar.queue(triage_json(HONEST_RATIONALE))
    liar.queue_variant(mode=mode, slow_s=3 * STEP_TIMEOUT_S, text=prose)

    run = await ask(server)

    assert_nothing_invented(run)
    assert_offline_with_caveat(run, f"The language model ({MODEL}) {why}; this report was written by the offline")
