"""The guard: a figure in model prose must be a tool's figure of the same kind and unit, however it is written."""

from __future__ import annotations

import pytest

from spendpilot.agents.grounding import Facts, Kind, StreamGuard, Ungrounded, describe

REPORT = {"spend": {"total_usd": 12345.678901, "monthly_usd": 4115.23, "requests": 60781,
                    "by_model": [{"cost_usd": 1214.928901, "requests": 19000, "input_tokens": 24_400_000}]},
          "period": {"from": "2026-08-24", "to": "2026-11-21", "days": 90},
          "total_monthly_savings_usd": 2683.25, "savings_pct": 14.1,
          "trend": {"change_pct": 13.71}, "error_rate": 0.0231, "ratio": 3.1,
          "caveats": ["Spend on 2026-11-02 was $812.40, 3.1x the baseline.",
                      "Cache reads cost 10% of input tokens."],
          "flags": [True, None]}


@pytest.fixture(scope="module")
def facts() -> Facts:
    found = Facts()
    found.add_result(REPORT)
    return found


@pytest.mark.parametrize("text", [
    "You spent $12,345.68 in total.",       # rounded to cents, with separators
    "You spent $12345.68 in total.",        # without separators
    "About $12,346 in total.",              # rounded to dollars
    "Roughly $12.3k, or $12.35 thousand.",  # scaled
    "A run-rate of US$ 4,115.23 a month.",
    "A run-rate of USD 4115.23 a month.",
    "Savings of 2,683.25 USD, or 2683.25 dollars.",
    "A spike of $812.40 on one day.",       # a figure written inside a tool's text
    "Savings are 14.1% of spend; spend rose 13.7% and 2.3% of calls failed.",  # computed and fraction fields
    "60,781 requests and 24.4M input tokens over 90 days, 2026-08-24 to 2026-11-21.",
    "Spend on Nov 2, 2026 was 3.1x the baseline; cache reads cost 10%.",
    "No figures at all, on gpt-4o and claude-sonnet-4-5.",
])
def test_figures_from_the_tools_pass(facts, text):
    assert facts.ungrounded(text) == []


@pytest.mark.parametrize(("text", "figure", "kind"), [
    ("That is $32,199.00 a year.", "$32,199.00", Kind.MONEY),
    ("You spent $12,345.70 in total.", "$12,345.70", Kind.MONEY),   # wrong at the precision written
    ("Cut $5, then $4,115.23.", "$5", Kind.MONEY),
    ("Save $1.2 million.", "$1.2 million", Kind.MONEY),
    ("It costs 99.99 USD.", "99.99 USD", Kind.MONEY),
    ("It costs €12,345.68.", "€12,345.68", Kind.MONEY),              # the right number in the wrong currency
    ("Save USD1,200 a month.", "USD1,200", Kind.MONEY),
    ("Save $1.2 Million a month.", "$1.2 Million", Kind.MONEY),
    ("That is $60,781 per month.", "$60,781", Kind.MONEY),           # a request count presented as money
    ("Spend is $24.4M.", "$24.4M", Kind.MONEY),                       # a token count presented as money
    ("These changes cut your bill by 63%.", "63%", Kind.PERCENT),
    ("We counted 1.2 million wasted requests.", "1.2 million", Kind.COUNT),
    ("We counted 12,345 requests.", "12,345", Kind.COUNT),            # a dollar figure presented as a count
    ("Spend was 4.5x the baseline.", "4.5x", Kind.MULTIPLIER),
    ("Over the last 45 days.", "45 days", Kind.DURATION),
    ("By 2027-03-01 you will have spent it.", "2027-03-01", Kind.DATE),
])
def test_an_invented_figure_is_named_with_its_kind(facts, text, figure, kind):
    [claim] = facts.ungrounded(text)
    assert (claim.written, claim.kind) == (figure, kind)


def test_what_was_dropped_is_described_without_the_figures(facts):
    claims = facts.ungrounded("Save $1.2M or 48k USD, 63% of it, across 1.2 million requests and €5.")
    assert describe(claims) == "2 dollar amounts, a percentage, a request count and an amount in EUR"


def test_the_guard_holds_back_a_figure_split_across_deltas(facts):
    guard = StreamGuard(facts)
    released = [guard.feed("Total: $12,"), guard.feed("345.68 spent. Run-rate "), guard.feed("$4,115.23"),
                guard.feed(" a month.\n")]
    assert released == ["Total: ", "$12,345.68 spent. ", "", "Run-rate $4,115.23 a month.\n"]
    assert guard.finish() == ""


def test_a_count_is_judged_with_its_noun_even_across_deltas(facts):
    guard = StreamGuard(facts)
    assert guard.feed("We saw 60,781") == ""
    with pytest.raises(Ungrounded) as caught:
        guard.feed(" dollars of spend. Then")
    assert [c.written for c in caught.value.claims] == ["60,781 dollars"]


def test_an_abbreviated_month_is_not_a_sentence_end(facts):
    guard = StreamGuard(facts)
    assert guard.feed("It peaked on Nov. ") == ""
    assert guard.feed("2, 2026. Next") == "It peaked on Nov. 2, 2026. "


def test_the_guard_stops_at_the_first_invented_figure(facts):
    guard = StreamGuard(facts)
    assert guard.feed("You spent $12,345.68. ") == ""  # no boundary after it yet
    with pytest.raises(Ungrounded):
        guard.feed("A year is $148,148.16. More")
    # Nothing of the judged text goes out once part of it fails: the piece is rewritten as a whole.
    assert guard.released == ""


def test_the_unfinished_tail_is_judged_at_the_end(facts):
    guard = StreamGuard(facts)
    assert guard.feed("Total $12,345.68. Savings of 63") == "Total $12,345.68. "
    with pytest.raises(Ungrounded):
        guard.finish()
    assert guard.released == "Total $12,345.68. "
