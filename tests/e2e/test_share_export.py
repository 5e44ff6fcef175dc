"""Exports and share links against a real server (SPEC §13): exports carry the report's own figures; a link
lets anyone read that one report and nothing else, never as a credential, and stops at revocation."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re

import httpx
import pytest

from spendpilot.auth.permissions import Role
from tests.support.client import collect_run, login, open_socket, register, send_message
from tests.support.teams import make_team


@pytest.fixture(scope="module")
async def answered(spendpilot_server):
    """A thread of the demo account with a cost review and a follow-up on one feature, both completed."""
    session = await login(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    ws = await open_socket(spendpilot_server.ws_url, session["access_token"])
    runs = []
    thread_id = None
    try:
        for question in ("Analyze my AI costs", "now only the code-review feature"):
            ack = await send_message(ws, question, thread_id)
            thread_id = ack["data"]["thread_id"]
            events = await collect_run(ws, ack["data"]["run_id"], timeout=90)
            assert events[-1]["type"] == "agent_completed"
            runs.append({"run_id": ack["data"]["run_id"], "question": question, **events[-1]["data"]})
    finally:
        await ws.close()
    return {"session": session, "thread_id": thread_id, "runs": runs}


def client(server, session=None, **kwargs) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {session['access_token']}"} if session else {}
    return httpx.AsyncClient(base_url=server.url, headers=headers, timeout=30, **kwargs)


async def test_the_report_csv_lists_each_recommendation_and_sums_to_the_total(spendpilot_server, answered):
    run = answered["runs"][0]
    report = run["report"]
    assert len(report["recommendations"]) >= 3
    async with client(spendpilot_server, answered["session"]) as http:
        response = await http.get(f"/api/runs/{run['run_id']}/report", params={"format": "csv"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.headers["content-disposition"].startswith("attachment;")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["rank", "id", "title", "kind", "monthly_savings_usd", "feature", "model"]
    body = rows[1:]
    assert [r[1] for r in body] == [rec["id"] for rec in report["recommendations"]]
    assert [r[0] for r in body] == [str(i) for i in range(1, len(body) + 1)]
    assert [(r[2], r[3]) for r in body] == [(rec["title"], rec["kind"]) for rec in report["recommendations"]]
    assert [(r[5], r[6]) for r in body] == [(rec["evidence"].get("feature", ""), rec["evidence"].get("model", ""))
                                            for rec in report["recommendations"]]
    assert round(sum(float(r[4]) for r in body), 2) == report["total_monthly_savings_usd"]


async def test_the_report_json_is_the_report_and_other_formats_are_refused(spendpilot_server, answered):
    run = answered["runs"][1]
    async with client(spendpilot_server, answered["session"]) as http:
        as_json = await http.get(f"/api/runs/{run['run_id']}/report", params={"format": "json"})
        pdf = await http.get(f"/api/runs/{run['run_id']}/report", params={"format": "pdf"})
        thread_pdf = await http.get(f"/api/threads/{answered['thread_id']}/export", params={"format": "pdf"})
    assert as_json.status_code == 200 and as_json.json() == run["report"]
    assert as_json.json()["scope"] == {"feature": "code-review"}
    assert pdf.status_code == 422 and pdf.json()["error"]["code"] == "invalid_format"
    assert thread_pdf.status_code == 422


async def test_the_thread_exports_as_markdown_and_json_with_the_reports_figures(spendpilot_server, answered):
    async with client(spendpilot_server, answered["session"]) as http:
        markdown = await http.get(f"/api/threads/{answered['thread_id']}/export", params={"format": "markdown"})
        exported = await http.get(f"/api/threads/{answered['thread_id']}/export", params={"format": "json"})
        messages = (await http.get(f"/api/threads/{answered['thread_id']}/messages")).json()
        thread = (await http.get(f"/api/threads/{answered['thread_id']}")).json()
    assert markdown.status_code == 200 and markdown.headers["content-type"] == "text/markdown; charset=utf-8"
    assert markdown.headers["content-disposition"] == 'attachment; filename="analyze-my-ai-costs.md"'
    text = markdown.text
    assert text.startswith("# Analyze my AI costs\n")
    assert re.findall(r"^### (You|Spendpilot)$", text, re.M) == ["You", "Spendpilot", "You", "Spendpilot"]
    positions = [text.index(m["content"]) for m in messages]
    assert positions == sorted(positions), "every message verbatim and in order"
    for run in answered["runs"]:
        report = run["report"]
        # The figures line of each answer: the report's own totals, written as $1,234.56.
        assert f"Spend ${report['spend']['total_usd']:,.2f} from {report['period']['from']}" in text
        assert f"savings ${report['total_monthly_savings_usd']:,.2f} a month" in text
    body = exported.json()
    assert exported.headers["content-type"] == "application/json"
    assert body["thread"] == thread and body["messages"] == messages and body["exported_at"].endswith("Z")
    assert [m["report"] for m in body["messages"] if m["role"] == "assistant"] == [r["report"]
                                                                                  for r in answered["runs"]]


async def test_exports_are_the_owners_only(spendpilot_server, answered):
    run_id = answered["runs"][0]["run_id"]
    stranger = await register(spendpilot_server.url)
    async with client(spendpilot_server, stranger) as http:
        assert (await http.get(f"/api/runs/{run_id}/report")).status_code == 404
        assert (await http.get(f"/api/threads/{answered['thread_id']}/export")).status_code == 404
    async with client(spendpilot_server) as anonymous:
        assert (await anonymous.get(f"/api/runs/{run_id}/report")).status_code == 401
        assert (await anonymous.get(f"/api/threads/{answered['thread_id']}/export")).status_code == 401


async def test_a_share_link_shows_that_report_to_anyone_and_nothing_else(spendpilot_server, answered):
    run = answered["runs"][1]
    async with client(spendpilot_server, answered["session"]) as http:
        made = await http.post(f"/api/runs/{run['run_id']}/share")
        listed = (await http.get("/api/shares")).json()
        me = (await http.get("/auth/me")).json()
    assert made.status_code == 201
    share = made.json()
    token = share["token"]
    assert share["id"].startswith("shr_") and share["run_id"] == run["run_id"]
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", token) and share["url"] == f"{spendpilot_server.url}/s/{token}"
    assert not any(part in token for part in (run["run_id"], answered["thread_id"], share["id"]))
    assert {"id": share["id"], "run_id": run["run_id"], "thread_id": answered["thread_id"], "url": share["url"],
            "created_at": share["created_at"]} in listed

    async with client(spendpilot_server) as anonymous:
        shared = await anonymous.get(f"/api/shared/{token}")
        page = await anonymous.get(f"/s/{token}")
    assert shared.status_code == 200 and "set-cookie" not in shared.headers
    assert shared.json() == {"question": run["question"], "final_response": run["final_response"],
                             "report": run["report"], "created_at": share["created_at"]}
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "set-cookie" not in page.headers and "<script" not in page.text and "style=" not in page.text
    assert run["question"] in page.text and f"${run['report']['spend']['total_usd']:,.2f}" in page.text
    for text in (shared.text, page.text):
        for secret in (answered["thread_id"], run["run_id"], answered["runs"][0]["run_id"], me["email"],
                       me["org"]["id"] if isinstance(me["org"], dict) else me["org"], share["id"]):
            assert secret not in text
        assert answered["runs"][0]["question"] not in text, "no other message of the thread"


async def test_the_token_is_no_credential_anywhere_else(spendpilot_server, answered):
    async with client(spendpilot_server, answered["session"]) as http:
        token = (await http.post(f"/api/runs/{answered['runs'][0]['run_id']}/share")).json()["token"]
        routes = [("GET", "/api/threads"), ("GET", f"/api/threads/{answered['thread_id']}/messages"),
                  ("GET", "/api/usage/summary"), ("GET", "/api/shares"), ("GET", "/auth/me"),
                  ("GET", f"/api/runs/{answered['runs'][0]['run_id']}/report")]
    async with client(spendpilot_server) as anonymous:
        for method, path in routes:
            bare = await anonymous.request(method, path)
            assert bare.status_code == 401
            for carried in ({"headers": {"Authorization": f"Bearer {token}"}}, {"params": {"token": token}},
                            {"headers": {"Cookie": f"token={token}; share={token}"}},
                            {"headers": {"X-Share-Token": token}}):
                answer = await anonymous.request(method, path, **carried)
                assert answer.status_code == 401, (path, carried, answer.text)
                assert answer.json()["error"]["code"] == bare.json()["error"]["code"] == "unauthorized"


async def test_a_revoked_or_mutated_link_is_not_found_and_deleting_the_thread_revokes_its_links(
        spendpilot_server, answered):
    session = answered["session"]
    async with client(spendpilot_server, session) as http, client(spendpilot_server) as anonymous:
        share = (await http.post(f"/api/runs/{answered['runs'][0]['run_id']}/share")).json()
        token = share["token"]
        assert (await anonymous.get(f"/api/shared/{token}")).status_code == 200
        mutated = token[:-1] + ("A" if token[-1] != "A" else "B")
        assert (await anonymous.get(f"/api/shared/{mutated}")).status_code == 404
        assert (await anonymous.get(f"/s/{mutated}")).status_code == 404
        assert (await anonymous.get("/api/shared/not-a-token")).status_code == 404

        # Another user cannot see or revoke it; anonymous gets 401.
        stranger = await register(spendpilot_server.url)
        async with client(spendpilot_server, stranger) as other:
            assert (await other.delete(f"/api/shares/{share['id']}")).status_code == 404
            assert share["id"] not in json.dumps((await other.get("/api/shares")).json())
            assert (await other.post(f"/api/runs/{answered['runs'][0]['run_id']}/share")).status_code == 404
        assert (await anonymous.delete(f"/api/shares/{share['id']}")).status_code == 401

        assert (await http.delete(f"/api/shares/{share['id']}")).status_code == 204
        # Read from the store on every request: gone at once.
        assert (await anonymous.get(f"/api/shared/{token}")).status_code == 404
        gone = await anonymous.get(f"/s/{token}")
        assert gone.status_code == 404 and "This link does not work" in gone.text
        assert share["id"] not in json.dumps((await http.get("/api/shares")).json())
        assert (await http.delete(f"/api/shares/{share['id']}")).status_code == 404

        # A thread of its own, shared, then deleted: its link stops with it.
        ws = await open_socket(spendpilot_server.ws_url, session["access_token"])
        try:
            ack = await send_message(ws, "Where can we save?")
            await collect_run(ws, ack["data"]["run_id"], timeout=90)
        finally:
            await ws.close()
        link = (await http.post(f"/api/runs/{ack['data']['run_id']}/share")).json()
        assert (await anonymous.get(f"/api/shared/{link['token']}")).status_code == 200
        assert (await http.delete(f"/api/threads/{ack['data']['thread_id']}")).status_code == 204
        assert (await anonymous.get(f"/api/shared/{link['token']}")).status_code == 404
        assert link["id"] not in json.dumps((await http.get("/api/shares")).json())


async def test_only_a_completed_run_with_a_report_can_be_shared(spendpilot_server, answered):
    async with client(spendpilot_server, answered["session"]) as http:
        thread = (await http.post("/api/threads", json={"title": "unfinished"})).json()
        first = (await http.post(f"/api/threads/{thread['id']}/runs", json={"content": "Analyze my AI costs"})).json()
        # Queued behind the first run of its thread: it has no answer yet, and after the cancel it never will.
        queued = (await http.post(f"/api/threads/{thread['id']}/runs", json={"content": "Where can we save?"})).json()
        waiting = await http.post(f"/api/runs/{queued['run_id']}/share")
        assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "not_shareable"
        await http.post(f"/api/runs/{queued['run_id']}/cancel")
        for _ in range(200):
            run = (await http.get(f"/api/runs/{queued['run_id']}")).json()
            if run["status"] == "cancelled":
                break
            await asyncio.sleep(0.05)
        assert run["status"] == "cancelled"
        cancelled = await http.post(f"/api/runs/{queued['run_id']}/share")
        assert cancelled.status_code == 409 and cancelled.json()["error"]["code"] == "not_shareable"
        assert (await http.post("/api/runs/run_missing/share")).status_code == 404
        for _ in range(400):
            if (await http.get(f"/api/runs/{first['run_id']}")).json()["status"] == "completed":
                break
            await asyncio.sleep(0.05)
        assert (await http.post(f"/api/runs/{first['run_id']}/share")).status_code == 201


async def test_a_viewer_may_share_and_the_link_ends_when_they_leave_the_organisation(spendpilot_server):
    team = await make_team(spendpilot_server.url)
    viewer, admin = team[Role.VIEWER], team[Role.ADMIN]
    ws = await open_socket(spendpilot_server.ws_url, viewer["access_token"])
    try:
        ack = await send_message(ws, "Analyze my AI costs")
        await collect_run(ws, ack["data"]["run_id"], timeout=90)
    finally:
        await ws.close()
    async with client(spendpilot_server, viewer) as http, client(spendpilot_server) as anonymous:
        made = await http.post(f"/api/runs/{ack['data']['run_id']}/share")
        assert made.status_code == 201
        token = made.json()["token"]
        assert (await anonymous.get(f"/api/shared/{token}")).status_code == 200
        async with client(spendpilot_server, admin) as org_admin:
            removed = await org_admin.delete(f"/api/org/members/{viewer['user']['id']}")
            assert removed.status_code == 204, removed.text
        assert (await anonymous.get(f"/api/shared/{token}")).status_code == 404
        assert (await anonymous.get(f"/s/{token}")).status_code == 404
