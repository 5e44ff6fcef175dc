"""Holding model-written text to the figures the tools produced.

`claims_in` reads every quantitative claim in a text (money in any written form, percentages, counts,
multipliers, durations, dates); `Facts` holds a run's grounded values, filed by kind and unit, from every
tool result and from the code that derives new figures; `StreamGuard` and `hold_output` are the doors
every piece of model text passes before it is stored or sent.

The tolerance rule, the only one: a claim stands for every value that rounds to it as written, that is
every value within half a unit of its last written place, times its magnitude. "$48,200" stands for
48,199.50 to 48,200.50; "$1.2M" for 1,150,000 to 1,250,000; "48.2 thousand dollars" for 48,150 to 48,250;
"14%" for 13.5% to 14.5%; "forty-eight thousand" for 47,500 to 48,500; "3 months" for 75 to 105 days.
A claim is grounded when a fact of the same kind and unit lies in that range: a dollar amount only
against dollar-valued fields, a percentage only against percentages, a request count only against
request counts. A date is grounded when it is a date of the facts or lies in one of their periods.
"""

from spendpilot.agents.grounding.claims import Claim, Kind, claims_in
from spendpilot.agents.grounding.facts import Facts, field_kind
from spendpilot.agents.grounding.guard import StreamGuard, Ungrounded, describe, hold_output, rewrite_request

__all__ = ["Claim", "Facts", "Kind", "StreamGuard", "Ungrounded", "claims_in", "describe", "field_kind",
           "hold_output", "rewrite_request"]
