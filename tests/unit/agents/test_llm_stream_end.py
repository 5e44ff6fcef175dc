"""A report stream is an answer only when it ends with a normal stop, for every provider wire format."""

from __future__ import annotations

import pytest

from spendpilot.agents.choose import build_model
from spendpilot.agents.model import Rewrite
from tests.support.fake_providers import FakeProviders

# Grounded in the report fixture (tool_results.json), so only the way the stream ends is on trial.
PROSE = ("## AI spend, 2026-08-24 to 2026-11-21\n\nYou spent **$12,345.68** over these 90 days, a run-rate of "
         "**$4,115.23 per month**. Three changes would save about **$2,683.25 per month (65.2%)**.\n\n"
         "Support-bot sends 14,200 short requests to gpt-4o, which costs $1,932.60 a month. Route them to "
         "gpt-4o-mini behind a quality check.\n")
PROVIDERS = ["openai-compatible", "anthropic"]


@pytest.fixture
def fake():
    with FakeProviders.start(text=PROSE) as started:
        yield started


def model_for(provider: str, fake: FakeProviders, make_settings):
    if provider == "anthropic":
        return build_model(make_settings("anthropic:claude-haiku-4-5", anthropic_api_key="sk-ant-test",
                                         llm_base_url=fake.anthropic_url))
    return build_model(make_settings(fake.llm_setting("llama3.1")))


async def written(model, report: dict) -> tuple[list, str]:
    report["model"] = model.name
    deltas = [delta async for delta in model.write_report(report, "cost_analysis")]
    after_rewrite = deltas[max((i for i, d in enumerate(deltas) if isinstance(d, Rewrite)), default=-1) + 1:]
    return deltas, "".join(after_rewrite)


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_a_stream_that_stops_normally_is_the_answer(provider, fake, make_settings, report):
    model = model_for(provider, fake, make_settings)

    deltas, prose = await written(model, report)

    assert prose == PROSE and not any(isinstance(d, Rewrite) for d in deltas)
    assert report["model"] == model.name


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize(("mode", "why"), [
    ("cut", "the stream ended without a normal stop"),
    ("length", "it reached its length limit"),
])
async def test_a_stream_that_does_not_stop_normally_is_replaced(provider, mode, why, fake, make_settings, report):
    fake.queue_variant(mode=mode)
    model = model_for(provider, fake, make_settings)

    deltas, prose = await written(model, report)

    assert report["model"] == "offline"
    caveat = f"The language model ({model.name}) stopped before its answer was finished ({why}); " \
             "this report was written by the offline model."
    assert caveat in report["caveats"] and caveat in prose
    [rewrite] = [d for d in deltas if isinstance(d, Rewrite)]
    assert rewrite.reason == f"The language model stopped before its answer was finished ({why}); " \
                             "rewriting the report with the offline model."
    # Only whole sentences went out before the rewrite; the unfinished tail of a cut stream never did.
    before = "".join(d for d in deltas[:deltas.index(rewrite)])
    assert before and PROSE.startswith(before)
    if mode == "cut":
        assert len(before) < len(PROSE) and before.endswith(("\n", ". "))
