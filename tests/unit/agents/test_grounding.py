"""The figure check: any dollar amount in model prose must be a report number, however it is formatted."""

from __future__ import annotations

import pytest

from spendpilot.agents.grounding import FigureGuard, InventedFigure, check, report_numbers

REPORT = {"spend": {"total_usd": 12345.678901, "monthly_usd": 4115.23, "by_model": [{"cost_usd": 1214.928901}]},
          "total_monthly_savings_usd": 2683.25, "caveats": ["Spend on 2026-11-02 was $812.40, 3.1x the baseline."],
          "flags": [True, None]}
NUMBERS = report_numbers(REPORT)


@pytest.mark.parametrize("text", [
    "You spent $12,345.68 in total.",       # rounded to cents, with separators
    "You spent $12345.68 in total.",        # without separators
    "About $12,346 in total.",              # rounded to dollars
    "Roughly $12.3k, or $12.35 thousand.",  # scaled
    "A run-rate of US$ 4,115.23 a month.",
    "A run-rate of USD 4115.23 a month.",
    "Savings of 2,683.25 USD, or 2683.25 dollars.",
    "A spike of $812.40 on one day.",       # a number written inside a report string
    "No figures at all, 3 models and 90 days.",
])
def test_figures_from_the_report_pass(text):
    check(text, NUMBERS)


@pytest.mark.parametrize(("text", "figure"), [
    ("That is $32,199.00 a year.", "$32,199.00"),
    ("You spent $12,345.70 in total.", "$12,345.70"),   # wrong at the precision written
    ("Cut $5, then $4,115.23.", "$5"),
    ("Save $1.2 million.", "$1.2 million"),
    ("It costs 99.99 USD.", "99.99 USD"),
])
def test_an_invented_figure_is_named(text, figure):
    with pytest.raises(InventedFigure) as caught:
        check(text, NUMBERS)
    assert caught.value.figure == figure


def test_the_guard_holds_back_a_figure_split_across_deltas():
    guard = FigureGuard(REPORT)
    released = [guard.feed("Total: $12,"), guard.feed("345.68 spent. Run-rate "), guard.feed("$4,115.23"),
                guard.feed(" a month.\n")]
    assert released == ["Total: ", "$12,345.68 spent. ", "", "Run-rate $4,115.23 a month.\n"]
    assert guard.finish() == ""


def test_the_guard_stops_at_the_first_invented_figure():
    guard = FigureGuard(REPORT)
    assert guard.feed("You spent $12,345.68. ") == ""  # no boundary after it yet
    with pytest.raises(InventedFigure):
        guard.feed("A year is $148,148.16. More")
