"""A conversation in a real Chromium: ask, follow up on one feature, regenerate, share, and open the link as
someone without an account, in a fresh browser context."""

from __future__ import annotations

import json
import re

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import RUN_TIMEOUT_MS, Api, sign_in, thread_id_of

pytestmark = pytest.mark.browser


def send(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Message")
    box.fill(text)
    box.press("Enter")


def finals(frames: list[dict]) -> dict[str, dict]:
    """run id -> the data of its final agent_completed, from what the page's socket received."""
    return {f["run_id"]: f["data"] for f in frames if f.get("type") == "agent_completed" and f["data"].get("final")}


def test_follow_up_regenerate_share_and_open_the_link_anonymously(open_page, open_page_at, spendpilot_server):
    page, _ = open_page()
    frames: list[dict] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(json.loads(payload))))
    sign_in(page, spendpilot_server.demo_email, spendpilot_server.demo_password)

    send(page, "Analyze my AI costs")
    expect(page.locator(".run").first).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(page.locator(".run").first.locator(".run-scope")).to_contain_text("whole organisation")

    # The follow-up names one feature: the timeline and the answer say so, and the figures are that feature's.
    send(page, "now only the support-bot feature")
    follow_up = page.locator(".run").nth(1)
    expect(follow_up).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(follow_up.locator(".run-scope")).to_contain_text("feature support-bot")
    expect(follow_up.locator('.tl-agent[data-agent="triage"] .tl-thought').last).to_contain_text(
        "Scope: feature support-bot")
    follow_up_id = follow_up.get_attribute("data-run-id")
    report = finals(frames)[follow_up_id]["report"]
    assert report["scope"] == {"feature": "support-bot"} and report["intent"] == "cost_analysis"
    api = Api(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    try:
        summary = api.get(f"/api/usage/summary?feature=support-bot&from={report['period']['from']}"
                          f"&to={report['period']['to']}")
        assert summary["total_usd"] == report["spend"]["total_usd"]

        # Regenerate: only the newest answer offers it; the new run keeps the follow-up's scope.
        expect(page.locator(".run").first.get_by_role("button", name="Regenerate")).to_be_hidden()
        follow_up.get_by_role("button", name="Regenerate").click()
        regenerated = page.locator(".run").nth(2)
        expect(regenerated).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
        expect(follow_up.locator(".run-superseded")).to_be_visible()
        regenerated_id = regenerated.get_attribute("data-run-id")
        assert finals(frames)[regenerated_id]["report"]["scope"] == {"feature": "support-bot"}
        expect(regenerated.locator(".run-scope")).to_contain_text("feature support-bot")
        messages = api.get(f"/api/threads/{thread_id_of(page)}/messages")
        by_run = {m["run_id"]: m for m in messages if m["role"] == "assistant"}
        assert by_run[follow_up_id]["superseded_by"] == regenerated_id
        assert by_run[regenerated_id]["regenerates"] == follow_up_id

        # Share the regenerated answer; the link is the one the server lists for this run.
        regenerated.get_by_role("button", name="Share").click()
        link = regenerated.locator(".share-url")
        expect(link).to_have_value(re.compile(r"/s/[A-Za-z0-9_-]{22,}$"))
        url = link.input_value()
        assert [s["url"] for s in api.get("/api/shares") if s["run_id"] == regenerated_id] == [url]
    finally:
        api.close()

    # Someone else, in a browser that has never signed in, opens the link.
    reader, reader_problems = open_page_at(spendpilot_server.url)
    response = reader.goto(url)
    assert response.status == 200 and "set-cookie" not in response.headers
    expect(reader.locator("h1")).to_have_text("now only the support-bot feature")
    expect(reader.locator(".figures")).to_contain_text("feature support-bot")
    expect(reader.locator(".figures")).to_contain_text(f"${report['spend']['total_usd']:,.2f}")
    expect(reader.locator(".answer h2").first).to_be_visible()
    assert reader.context.cookies() == []
    assert "thr_" not in reader.content() and "run_" not in reader.content()

    assert reader_problems.unexpected() == []

    # Revoked in the app: the same reader now gets the not-found page (the browser logs its 404).
    regenerated.get_by_role("button", name="Revoke").click()
    expect(regenerated.locator(".share-panel")).to_contain_text("Link revoked")
    reader_problems.allow(r"status of 404")
    assert reader.goto(url).status == 404
    expect(reader.locator("h1")).to_have_text("This link does not work")


def test_edit_the_last_question_and_export_the_conversation(open_page, spendpilot_server, tmp_path):
    page, _ = open_page()
    sign_in(page, spendpilot_server.demo_email, spendpilot_server.demo_password)
    send(page, "Analyze my AI costs for the last 30 days")
    expect(page.locator(".run").first).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    send(page, "now only the support-bot feature")
    expect(page.locator(".run").nth(1)).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)

    # Only the last question can be edited; the edit is a new message, answered on its own slice.
    expect(page.locator(".msg-user").first.get_by_role("button", name="Edit")).to_be_hidden()
    page.locator(".msg-user").last.get_by_role("button", name="Edit").click()
    box = page.get_by_role("textbox", name="Edited message")
    expect(box).to_have_value("now only the support-bot feature")
    box.fill("now only the code-review feature")
    page.get_by_role("button", name="Send edited").click()
    edited = page.locator(".msg-user").last
    expect(edited.locator(".bubble")).to_have_text("now only the code-review feature")
    expect(edited.locator(".msg-edited")).to_have_text("edited")
    answer = page.locator(".run").nth(2)
    expect(answer).to_have_attribute("data-status", "completed", timeout=RUN_TIMEOUT_MS)
    expect(answer.locator(".run-scope")).to_contain_text("feature code-review")
    expect(page.locator(".msg-user")).to_have_count(3)

    # The report as CSV, the conversation as Markdown: files from the server, as the page offers them.
    with page.expect_download() as csv_download:
        answer.get_by_role("button", name="Report CSV").click()
    saved = tmp_path / "report.csv"
    csv_download.value.save_as(saved)
    assert saved.read_text().splitlines()[0] == "rank,id,title,kind,monthly_savings_usd,feature,model"
    assert csv_download.value.suggested_filename == f"spendpilot-report-{answer.get_attribute('data-run-id')}.csv"
    with page.expect_download() as md_download:
        page.get_by_role("button", name="Export Markdown").click()
    saved = tmp_path / "thread.md"
    md_download.value.save_as(saved)
    text = saved.read_text()
    assert text.startswith("# Analyze my AI costs for the last 30 days\n")
    assert "### You (edited)\n\nnow only the code-review feature" in text

    # A link made in the chat is listed on the Account page, and revoked from there.
    answer.get_by_role("button", name="Share").click()
    expect(answer.locator(".share-url")).to_have_value(re.compile(r"/s/"))
    url = answer.locator(".share-url").input_value()
    page.goto("/#/account")
    row = page.locator("#shares-table tr", has=page.locator(f'input[value="{url}"]'))
    expect(row).to_have_count(1)
    row.get_by_role("button", name="Revoke").click()
    expect(page.locator(f'#account-shares input[value="{url}"]')).to_have_count(0)
    api = Api(spendpilot_server.url, spendpilot_server.demo_email, spendpilot_server.demo_password)
    try:
        assert url not in [s["url"] for s in api.get("/api/shares")]
        assert api.client.get(url.replace(spendpilot_server.url, "")).status_code == 404
    finally:
        api.close()
