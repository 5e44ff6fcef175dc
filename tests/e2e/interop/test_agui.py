"""POST /ag-ui against a real `spendpilot up`: the stream parsed with ag-ui-protocol's models, held to AG-UI's
sequence rules, and the run it reports checked against what Spendpilot stored (the thread, the events)."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from ag_ui.core import AssistantMessage, EventType, UserMessage

from tests.support.agui import check_sequence, post_run, run_input
from tests.support.client import register
from tests.support.server import RunningServer, free_port

from .conftest import Org, rest

AGENTS = ["supervisor", "triage", "data", "optimization", "report"]


async def test_a_run_streams_steps_tool_calls_the_answer_and_the_report_in_a_state_snapshot(org: Org):
    body = run_input("Analyze my AI costs")
    stream = await post_run(org.url, org.token, body)
    assert stream.status == 200 and stream.content_type.startswith("text/event-stream")
    check_sequence(stream.events)
    types = stream.types()
    assert types[0] == "RUN_STARTED" and types[-1] == "RUN_FINISHED"
    started, finished = stream.events[0], stream.events[-1]
    assert (started.thread_id, started.run_id) == (body["threadId"], body["runId"])
    assert (finished.thread_id, finished.run_id) == (body["threadId"], body["runId"])

    # One step per agent, opened and closed in the pipeline's order; the root agent spans them all.
    steps = [(e.type.value, e.step_name) for e in stream.events
             if e.type in (EventType.STEP_STARTED, EventType.STEP_FINISHED)]
    assert [name for kind, name in steps if kind == "STEP_STARTED"] == AGENTS
    assert steps[0] == ("STEP_STARTED", "supervisor") and steps[-1] == ("STEP_FINISHED", "supervisor")

    # Every tool call: START, ARGS, END, RESULT, in that order, under one id.
    calls = stream.of(EventType.TOOL_CALL_START)
    assert {c.tool_call_name for c in calls} >= {"profile_usage", "usage_summary", "spend_overview"}
    for call in calls:
        order = [types[i] for i, e in enumerate(stream.events) if getattr(e, "tool_call_id", None) == call.tool_call_id]
        assert order == ["TOOL_CALL_START", "TOOL_CALL_ARGS", "TOOL_CALL_END", "TOOL_CALL_RESULT"], call
    assert len({c.tool_call_id for c in calls}) == len(calls)

    # The answer is one streamed text message; the state snapshot carries the report, before RUN_FINISHED.
    answer = "".join(e.delta for e in stream.of(EventType.TEXT_MESSAGE_CONTENT))
    snapshot = stream.of(EventType.STATE_SNAPSHOT)
    assert len(snapshot) == 1 and types.index("STATE_SNAPSHOT") == len(types) - 2
    report = snapshot[0].snapshot["report"]
    summary = await rest(org, "/api/usage/summary")
    assert report["spend"]["total_usd"] == summary["total_usd"] and report["recommendations"]

    # The same run, as Spendpilot stored it: in the thread, with the same report and answer.
    messages = await rest(org, f"/api/threads/{body['threadId']}/messages")
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[0]["content"] == "Analyze my AI costs"
    assert messages[1]["run_id"] == body["runId"] and messages[1]["report"] == report
    assert messages[1]["content"] == answer.strip()
    run = await rest(org, f"/api/runs/{body['runId']}")
    assert run["status"] == "completed" and run["thread_id"] == body["threadId"]
    stored = await rest(org, f"/api/runs/{body['runId']}/events")
    assert len([e for e in stored if e["type"] == "tool_executing"]) == len(calls)
    assert stored[-1]["data"]["report"] == report
    threads = {t["id"] for t in await rest(org, "/api/threads")}
    assert body["threadId"] in threads


async def test_the_next_message_continues_the_same_thread(org: Org):
    first = run_input("Analyze my AI costs")
    await post_run(org.url, org.token, first)
    history = [UserMessage(id="u1", content="Analyze my AI costs"),
               AssistantMessage(id="a1", content="(the earlier answer)"),
               UserMessage(id="u2", content="How much could caching save?")]
    second = run_input(thread_id=first["threadId"], messages=history)
    stream = await post_run(org.url, org.token, second)
    check_sequence(stream.events)
    messages = await rest(org, f"/api/threads/{first['threadId']}/messages")
    assert [(m["role"], m["run_id"]) for m in messages] == [
        ("user", first["runId"]), ("assistant", first["runId"]), ("user", second["runId"]),
        ("assistant", second["runId"])]
    assert messages[2]["content"] == "How much could caching save?"


async def test_posting_a_run_again_resumes_it_from_the_log(org: Org):
    body = run_input("Analyze my AI costs")
    live = await post_run(org.url, org.token, body)
    again = await post_run(org.url, org.token, body)
    check_sequence(again.events)
    assert [e.model_dump() for e in again.events] == [e.model_dump() for e in live.events]
    # Nothing new was stored: the run was replayed, not started twice.
    assert len(await rest(org, f"/api/threads/{body['threadId']}/messages")) == 2
    # With Last-Event-ID the client gets only what came after that run event.
    seq = int(next(i for i in live.ids if i is not None and int(i) > 5))
    rest_of_it = await post_run(org.url, org.token, body, headers={"Last-Event-ID": str(seq)})
    cut = live.ids.index(str(seq)) + 1
    assert [e.model_dump() for e in rest_of_it.events] == [e.model_dump() for e in live.events[cut:]]


async def test_refusals_are_json_errors_before_any_stream(org: Org, interop_server):
    body = run_input()
    assert (await post_run(org.url, None, body)).status == 401
    not_a_question = run_input(messages=[AssistantMessage(id="a", content="hello")])
    refused = await post_run(org.url, org.token, not_a_question)
    assert refused.status == 422 and refused.error["error"]["code"] == "invalid_message"
    bad_id = await post_run(org.url, org.token, run_input(run_id="../../etc"))
    assert bad_id.status == 422 and "runId" in bad_id.error["error"]["message"]
    async with httpx.AsyncClient(timeout=30) as http:
        garbage = await http.post(f"{org.url}/ag-ui", json={"threadId": "t"}, headers=org.auth())
    assert garbage.status_code == 422 and garbage.json()["error"]["code"] == "invalid_request"
    # Another user's thread is not found, and nothing of it is shown.
    mine = run_input()
    await post_run(org.url, org.token, mine)
    stranger = await register(interop_server.url)
    theirs = await post_run(org.url, stranger["access_token"], run_input(thread_id=mine["threadId"]))
    assert theirs.status == 404
    replay = await post_run(org.url, stranger["access_token"], mine)
    assert replay.status in (404, 409) and "report" not in str(replay.error)
    # A run id already used in another thread of the same user is a conflict.
    moved = await post_run(org.url, org.token, run_input(run_id=mine["runId"]))
    assert moved.status == 409


@pytest.fixture(scope="module")
def failing_server(tmp_path_factory):
    """Every run outlives its deadline: a pause after each event, and one second to finish."""
    server = RunningServer(tmp_path_factory.mktemp("failing"), free_port(),
                           env={"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_RUN_DEADLINE_S": "1",
                                "SPENDPILOT_RUN_STEP_DELAY_S": "0.5"}).start()
    yield server
    server.stop()


async def test_a_failed_run_ends_with_run_error_and_stays_in_the_thread(failing_server):
    session = await register(failing_server.url)
    body = run_input("Analyze my AI costs")
    stream = await post_run(failing_server.url, session["access_token"], body)
    check_sequence(stream.events)
    assert stream.types()[0] == "RUN_STARTED" and stream.types()[-1] == "RUN_ERROR"
    assert "RUN_FINISHED" not in stream.types()
    error = stream.events[-1]
    assert error.code == "deadline_exceeded" and error.message
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    async with httpx.AsyncClient(base_url=failing_server.url, headers=headers) as http:
        run = (await http.get(f"/api/runs/{body['runId']}")).json()
        messages = (await http.get(f"/api/threads/{body['threadId']}/messages")).json()
        stored = (await http.get(f"/api/runs/{body['runId']}/events")).json()
    assert run["status"] == "failed"
    assert messages[0]["role"] == "user" and messages[0]["content"] == "Analyze my AI costs"
    assert stored[-1]["type"] == "agent_error" and stored[-1]["data"]["code"] == "deadline_exceeded"


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory):
    server = RunningServer(tmp_path_factory.mktemp("slow"), free_port(),
                           env={"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_RUN_STEP_DELAY_S": "0.3"}).start()
    yield server
    server.stop()


async def test_cancel_ends_the_stream_as_a_cancelled_run_with_everything_closed(slow_server):
    session = await register(slow_server.url)
    headers = {"Authorization": f"Bearer {session['access_token']}"}
    body = run_input("Analyze my AI costs")
    cancelled: list[int] = []

    async with httpx.AsyncClient(base_url=slow_server.url, headers=headers) as http:
        async def cancel_at_first_step(event) -> None:
            if event.type == EventType.STEP_STARTED and not cancelled:
                response = await http.post(f"/api/runs/{body['runId']}/cancel")
                cancelled.append(response.status_code)

        stream = await post_run(slow_server.url, session["access_token"], body, on_event=cancel_at_first_step)
        run = (await http.get(f"/api/runs/{body['runId']}")).json()
    assert cancelled == [202]
    check_sequence(stream.events)  # RUN_FINISHED with no step, message or tool call left open
    finished = stream.events[-1]
    assert finished.type == EventType.RUN_FINISHED and finished.outcome.type == "cancelled"
    assert "STATE_SNAPSHOT" not in stream.types()
    assert run["status"] == "cancelled"


async def test_the_ag_ui_run_is_the_socket_run_a_second_client_can_follow(slow_server):
    """While an AG-UI client streams a run, the same run is visible live over SSE to another client."""
    session = await register(slow_server.url)
    headers = {"Authorization": f"Bearer {session['access_token']}", "Accept": "text/event-stream"}
    body = run_input("Analyze my AI costs", run_id=f"run-{uuid.uuid4().hex[:12]}")
    agui = asyncio.create_task(post_run(slow_server.url, session["access_token"], body))
    seen: list[str] = []
    async with httpx.AsyncClient(base_url=slow_server.url, headers=headers, timeout=90) as http:
        for _ in range(100):
            if (await http.get(f"/api/runs/{body['runId']}")).status_code == 200:
                break
            await asyncio.sleep(0.05)
        async with http.stream("GET", f"/api/runs/{body['runId']}/events") as sse:
            async for line in sse.aiter_lines():
                if line.startswith("data:"):
                    seen.append(line)
    stream = await agui
    check_sequence(stream.events)
    assert '"type":"agent_started"' in seen[0] and '"final":true' in seen[-1]
    steps = [e.step_name for e in stream.of(EventType.STEP_STARTED)]
    assert steps == AGENTS
