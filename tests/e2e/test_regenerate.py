"""Regenerate the last answer and edit the last message (SPEC §13), over the socket and REST: new runs on the
same thread, the earlier questions and answers kept in history, and the error rules."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from tests.e2e.checks import assert_run_well_formed
from tests.support.client import collect_run, login, next_of, open_socket, register, send_message


@pytest.fixture
async def demo(spendpilot_server):
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    ws = await open_socket(spendpilot_server.ws_url, session["access_token"])
    http = httpx.AsyncClient(base_url=spendpilot_server.url, timeout=30,
                             headers={"Authorization": f"Bearer {session['access_token']}"})
    yield ws, http
    await ws.close()
    await http.aclose()


async def ask(ws, question: str, thread_id: str | None = None) -> dict:
    ack = await send_message(ws, question, thread_id)
    events = await collect_run(ws, ack["data"]["run_id"], timeout=90)
    assert_run_well_formed(events, ack["data"]["run_id"], ack["data"]["thread_id"])
    return {"thread_id": ack["data"]["thread_id"], "run_id": ack["data"]["run_id"], "events": events,
            "final": events[-1]["data"]}


async def frame(ws, type: str, data: dict) -> dict:
    """Send a client frame; its ack or its error frame."""
    client_id = uuid.uuid4().hex
    await ws.send(json.dumps({"type": type, "id": client_id, "data": data}))
    while True:
        reply = await next_of(ws, {"ack", "error"})
        if reply["data"].get("client_id") == client_id:
            return reply


async def test_regenerate_answers_the_last_question_again_with_its_scope_and_keeps_the_old_answer(demo):
    ws, http = demo
    first = await ask(ws, "Analyze my AI costs")
    follow = await ask(ws, "now only the support-bot feature, last 30 days", first["thread_id"])
    replaced = follow["final"]["report"]

    ack = await frame(ws, "regenerate", {"thread_id": first["thread_id"]})
    assert ack["type"] == "ack", ack
    assert ack["data"]["regenerates"] == follow["run_id"] and ack["data"]["thread_id"] == first["thread_id"]
    events = await collect_run(ws, ack["data"]["run_id"], timeout=90)
    assert_run_well_formed(events, ack["data"]["run_id"], first["thread_id"])
    report = events[-1]["data"]["report"]
    # The same question, over exactly the period and scope the replaced answer had.
    assert (report["scope"], report["period"], report["intent"]) == (replaced["scope"], replaced["period"],
                                                                     replaced["intent"])
    assert "the same as the answer being regenerated" in json.dumps(events)

    messages = (await http.get(f"/api/threads/{first['thread_id']}/messages")).json()
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant", "assistant"]
    old, new = messages[3], messages[4]
    assert old["run_id"] == follow["run_id"] and old["superseded_by"] == ack["data"]["run_id"]
    assert new["run_id"] == ack["data"]["run_id"] and new["regenerates"] == follow["run_id"]
    assert "superseded_by" not in new and "regenerates" not in old
    assert old["report"] == replaced
    run = (await http.get(f"/api/runs/{ack['data']['run_id']}")).json()
    assert run["regenerates"] == follow["run_id"] and run["scope"] == replaced["scope"]

    # Regenerating again replaces the newest answer, not the first one.
    again = (await http.post(f"/api/threads/{first['thread_id']}/regenerate")).json()
    assert again["regenerates"] == ack["data"]["run_id"] and again["message_id"] == messages[2]["id"]
    assert again["status"] == "queued" and again["thread_id"] == first["thread_id"]
    await collect_run(ws, again["run_id"], timeout=90)


async def test_editing_the_last_message_stores_a_new_message_and_runs_it(demo):
    ws, http = demo
    first = await ask(ws, "Analyze my AI costs for the last 30 days")
    second = await ask(ws, "now only the support-bot feature", first["thread_id"])
    messages = (await http.get(f"/api/threads/{first['thread_id']}/messages")).json()
    question = messages[2]

    ack = await frame(ws, "edit_message", {"thread_id": first["thread_id"], "message_id": question["id"],
                                           "content": "now only the code-review feature"})
    assert ack["type"] == "ack", ack
    assert ack["data"]["message_id"] != question["id"] and ack["data"]["thread_id"] == first["thread_id"]
    events = await collect_run(ws, ack["data"]["run_id"], timeout=90)
    report = events[-1]["data"]["report"]
    # It follows what the edited message followed: the first answer's period, with its own feature.
    assert report["scope"] == {"feature": "code-review"}
    assert report["period"] == first["final"]["report"]["period"]

    messages = (await http.get(f"/api/threads/{first['thread_id']}/messages")).json()
    assert [m["content"] for m in messages if m["role"] == "user"] == [
        "Analyze my AI costs for the last 30 days", "now only the support-bot feature",
        "now only the code-review feature"]
    edited = messages[-2]
    assert edited["id"] == ack["data"]["message_id"] and edited["edits"] == question["id"]
    assert edited["run_id"] == ack["data"]["run_id"] and messages[-1]["run_id"] == ack["data"]["run_id"]
    assert messages[3]["run_id"] == second["run_id"], "the earlier answer stays in the history"

    # Only the last message can be edited: the original is not the last one any more.
    stale = await frame(ws, "edit_message", {"thread_id": first["thread_id"], "message_id": question["id"],
                                             "content": "something else"})
    assert stale["type"] == "error" and stale["data"]["code"] == "invalid_message"
    over_rest = await http.post(f"/api/threads/{first['thread_id']}/messages/{question['id']}/edit",
                                json={"content": "something else"})
    assert over_rest.status_code == 422 and over_rest.json()["error"]["code"] == "invalid_message"
    by_rest = await http.post(f"/api/threads/{first['thread_id']}/messages/{edited['id']}/edit",
                              json={"content": "and for the last 7 days?"})
    assert by_rest.status_code == 202
    assert set(by_rest.json()) == {"run_id", "thread_id", "message_id", "status"}
    await collect_run(ws, by_rest.json()["run_id"], timeout=90)


async def test_the_error_rules(demo, spendpilot_server):
    ws, http = demo
    empty = (await http.post("/api/threads", json={"title": "empty"})).json()
    refused = await frame(ws, "regenerate", {"thread_id": empty["id"]})
    assert refused["type"] == "error" and refused["data"]["code"] == "invalid_message"
    over_rest = await http.post(f"/api/threads/{empty['id']}/regenerate")
    assert over_rest.status_code == 422 and over_rest.json()["error"]["code"] == "invalid_message"
    missing = await frame(ws, "regenerate", {})
    assert missing["type"] == "error" and missing["data"]["code"] == "invalid_message"
    no_content = await frame(ws, "edit_message", {"thread_id": empty["id"], "message_id": "msg_x"})
    assert no_content["type"] == "error" and no_content["data"]["code"] == "invalid_message"

    # Another user's thread: not found, by frame and by REST, and nothing is run.
    mine = await ask(ws, "Analyze my AI costs")
    other = await register(spendpilot_server.url)
    other_ws = await open_socket(spendpilot_server.ws_url, other["access_token"])
    try:
        theirs = await frame(other_ws, "regenerate", {"thread_id": mine["thread_id"]})
        assert theirs["type"] == "error" and theirs["data"]["code"] == "not_found"
        messages = (await http.get(f"/api/threads/{mine['thread_id']}/messages")).json()
        theirs = await frame(other_ws, "edit_message", {"thread_id": mine["thread_id"],
                                                        "message_id": messages[0]["id"], "content": "mine now"})
        assert theirs["type"] == "error" and theirs["data"]["code"] == "not_found"
    finally:
        await other_ws.close()
    async with httpx.AsyncClient(base_url=spendpilot_server.url,
                                 headers={"Authorization": f"Bearer {other['access_token']}"}) as stranger:
        assert (await stranger.post(f"/api/threads/{mine['thread_id']}/regenerate")).status_code == 404
        assert (await stranger.post(f"/api/threads/{mine['thread_id']}/messages/{messages[0]['id']}/edit",
                                    json={"content": "x"})).status_code == 404
    assert len((await http.get(f"/api/threads/{mine['thread_id']}/messages")).json()) == 2


async def test_a_regenerate_while_the_answer_is_running_is_queued_behind_it(demo):
    ws, http = demo
    ack = await send_message(ws, "Analyze my AI costs")
    regenerated = await frame(ws, "regenerate", {"thread_id": ack["data"]["thread_id"]})
    assert regenerated["type"] == "ack" and regenerated["data"]["regenerates"] == ack["data"]["run_id"]
    first_run, second_run = ack["data"]["run_id"], regenerated["data"]["run_id"]
    seen: list[tuple[str, str]] = []
    finished: set[str] = set()
    while finished != {first_run, second_run}:
        event = await next_of(ws, {"agent_started", "agent_completed", "agent_error", "run_cancelled"}, timeout=90)
        seen.append((event["run_id"], event["type"]))
        if event["data"].get("final") or event["type"] == "run_cancelled":
            finished.add(event["run_id"])
    # The second run started only after the first one's final event.
    first_end = max(i for i, (run, _) in enumerate(seen) if run == first_run)
    assert seen[first_end] == (first_run, "agent_completed")
    assert min(i for i, (run, _) in enumerate(seen) if run == second_run) > first_end
    messages = (await http.get(f"/api/threads/{ack['data']['thread_id']}/messages")).json()
    assert [m.get("superseded_by") for m in messages if m["role"] == "assistant"] == [second_run, None]
