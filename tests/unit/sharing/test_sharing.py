"""Share tokens (random, hashed, sealed under the signing keys), exports and the shared page's HTML."""

from __future__ import annotations

import csv
import io
import re

from spendpilot.auth.signing import KeyRing
from spendpilot.sharing.export import CSV_HEADER, figures_line, report_csv, slug, thread_markdown
from spendpilot.sharing.links import SharedReport
from spendpilot.sharing.page import markdown_html, render_page
from spendpilot.sharing.tokens import new_token, seal, token_hash, unseal, well_formed
from tests.unit.auth.keys import new_pem

REPORT = {"period": {"from": "2026-11-01", "to": "2026-11-30", "days": 30}, "scope": {"feature": "support-bot"},
          "spend": {"total_usd": 1234.567, "monthly_usd": 1234.567}, "total_monthly_savings_usd": 33.34,
          "savings_pct": 2.7, "recommendations": [
              {"id": "caching:a", "title": "Cache the prefix, \"fast\"", "kind": "prompt_caching",
               "monthly_savings_usd": 20.01, "evidence": {"feature": "support-bot", "model": "gpt-4o"}},
              {"id": "batch:b", "title": "Batch, nightly", "kind": "batch_api", "monthly_savings_usd": 13.33,
               "evidence": {}}]}


def test_tokens_are_random_long_and_only_their_hash_identifies_them():
    tokens = {new_token() for _ in range(200)}
    assert len(tokens) == 200
    assert all(len(t) >= 22 and well_formed(t) for t in tokens)
    token = next(iter(tokens))
    assert token_hash(token) != token and len(token_hash(token)) == 64
    assert not well_formed("short") and not well_formed("a" * 30 + "/")


def test_a_sealed_token_opens_only_with_the_signing_keys_that_sealed_it():
    pem = new_pem()
    keys = KeyRing.from_pem(pem)
    token = new_token()
    sealed = seal(keys, token)
    assert token not in sealed and unseal(keys, sealed) == token
    # After a rotation the previous key still opens it; without that key it cannot be opened.
    rotated = KeyRing.from_pem(new_pem(), [pem])
    assert unseal(rotated, sealed) == token
    assert unseal(KeyRing.from_pem(new_pem()), sealed) is None
    kid, _, body = sealed.partition(".")
    tampered = f"{kid}.{body[:-4]}{'AAAA' if body[-4:] != 'AAAA' else 'BBBB'}"
    assert unseal(keys, tampered) is None and unseal(keys, None) is None


def test_the_csv_has_its_header_one_row_per_recommendation_and_sums_to_the_total():
    rows = list(csv.reader(io.StringIO(report_csv(REPORT))))
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1] == ["1", "caching:a", 'Cache the prefix, "fast"', "prompt_caching", "20.01", "support-bot", "gpt-4o"]
    assert rows[2] == ["2", "batch:b", "Batch, nightly", "batch_api", "13.33", "", ""]
    assert round(sum(float(r[4]) for r in rows[1:]), 2) == REPORT["total_monthly_savings_usd"]


def test_the_markdown_keeps_messages_verbatim_marks_replaced_answers_and_writes_money_as_dollars():
    messages = [{"role": "user", "content": "Analyze | my *costs*"},
                {"role": "assistant", "content": "## Old", "report": REPORT, "superseded_by": "run_2"},
                {"role": "assistant", "content": "## New", "report": REPORT, "regenerates": "run_1"},
                {"role": "user", "content": "and now?", "edits": "msg_1"}]
    text = thread_markdown({"title": "Costs"}, messages)
    assert text.startswith("# Costs\n\n### You\n\nAnalyze | my *costs*\n")
    assert re.findall(r"^### .*$", text, re.M) == ["### You", "### Spendpilot (regenerated)", "### Spendpilot",
                                                    "### You (edited)"]
    assert "_Spend $1,234.57 from 2026-11-01 to 2026-11-30 · $1,234.57 a month · savings $33.34 a month · " \
           "scope: feature support-bot_" in text
    assert figures_line(REPORT).count("$") == 3
    assert slug("Where does the money go?!") == "where-does-the-money-go" and slug("???") == "conversation"


def test_the_shared_page_has_no_script_no_inline_style_and_escapes_what_it_shows():
    answer = "## Spend\n\n<script>alert(1)</script>\n\n| a | b |\n|---|--:|\n| x | $1.00 |\n\n[home](javascript:x)"
    page = render_page(SharedReport("Why <b>so</b> much?", answer, REPORT, "2026-11-27T10:00:00.000Z"))
    assert "<script" not in page and "&lt;script&gt;" in page
    assert "style=" not in page
    assert 'href="javascript' not in page
    assert "Why &lt;b&gt;so&lt;/b&gt; much?" in page
    assert '<td class="align-right">$1.00</td>' in page
    assert "$1,234.57" in page and "feature support-bot" in page and "Shared on 2026-11-27" in page
    assert 'href="/static/share.css"' in page
    assert 'rel="noopener noreferrer nofollow"' in markdown_html("[docs](https://example.com)")
