"""The lying scripts reach a client verbatim: what the guard is tested on is exactly what the model 'said'."""

from __future__ import annotations

import json

from openai import OpenAI

from tests.support.fake_providers import FakeProviders
from tests.support.hostile_prose import (
    INVENTED_COUNTS,
    INVENTED_DOLLARS,
    INVENTED_PERCENTS,
    LYING_RATIONALE,
    counts_as_money,
    honest_report,
    report_of,
    triage_json,
)

SUMMARY = {"total_usd": 1496.786145, "total_requests": 60781,
           "groups": [{"key": "claude-opus-4-1", "cost_usd": 1002.980895, "requests": 7782, "input_tokens": 44507368},
                      {"key": "gpt-4o", "cost_usd": 40.343415, "requests": 16301, "input_tokens": 10984446}]}


def test_every_invented_form_is_streamed_verbatim(fake_providers: FakeProviders):
    lies = (*INVENTED_DOLLARS, *INVENTED_PERCENTS, *INVENTED_COUNTS)
    fake_providers.queue(report_of(lies))
    client = OpenAI(api_key="k", base_url=fake_providers.openai_url, max_retries=0, timeout=10)

    chunks = list(client.chat.completions.create(model="liar", messages=[{"role": "user", "content": "?"}],
                                                 stream=True))

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == report_of(lies) and all(lie in text for lie in lies)
    assert chunks[-1].choices[0].finish_reason == "stop"


def test_the_scripts_say_what_they_claim_to():
    assert json.loads(triage_json(LYING_RATIONALE, "caching_audit")) == {
        "intent": "caching_audit", "rationale": LYING_RATIONALE, "period_from": None, "period_to": None}
    # Real counts, presented as money.
    assert counts_as_money(SUMMARY) == ("$60,781", "$55.5M")
    honest = honest_report(SUMMARY)
    assert "**$1,496.79**" in honest and "60,781 requests" in honest and "$1,002.98 over 7,782 requests" in honest
