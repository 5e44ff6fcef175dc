"""What a lying model says, as text for the fake providers: invented figures in every written form.

The fake's transport modes (cut, length, slow, malformed, drop, status) break the stream; these break the
content. Each builder returns the text one scripted reply carries:

    fake.queue(triage_json(LYING_RATIONALE), report_of(INVENTED_DOLLARS), report_of(INVENTED_DOLLARS))

`report_of` writes every given figure into a markdown report; `triage_json` is a triage answer as a local
(prompted-output) model writes it. The invented figures are chosen so that no tool can produce them for the
demo organisation: no amount near a million dollars or 48 thousand, no 63% or 87% share, no 1.2 million requests.
"""

from __future__ import annotations

import json

# An invented amount, in every common written form and currency symbol.
INVENTED_DOLLARS = ("$1.2M", "1.2 million dollars", "48.2 thousand dollars", "48k USD", "48,200$",
                    "forty-eight thousand dollars", "48,200.00 US dollars", "€48,200")
INVENTED_PERCENTS = ("63%", "87%", "sixty-three percent")
INVENTED_COUNTS = ("1.2 million wasted requests", "48,200 calls")
LYING_RATIONALE = ("Spend of $1.2M a month is mostly wasted; you could save $48,200 per month, "
                   "and 87% of your traffic runs on models larger than it needs.")
HONEST_RATIONALE = "The question asks for a review of where the AI spend goes and how to lower it."


def triage_json(rationale: str, intent: str = "cost_analysis") -> str:
    """A triage answer as JSON text, as a model without tool calling gives it (PromptedOutput)."""
    return json.dumps({"intent": intent, "rationale": rationale, "period_from": None, "period_to": None})


def report_of(figures: tuple[str, ...] | list[str], heading: str = "## Your AI spend") -> str:
    """A short report stating each figure in a sentence of its own."""
    sentences = [f"Our estimate puts this at {figure} a month." for figure in figures]
    return heading + "\n\n" + " ".join(sentences) + "\n\nAct on the first recommendation first.\n"


def counts_as_money(summary: dict) -> tuple[str, ...]:
    """Real counts from /api/usage/summary written as dollar amounts: the request count and a token count."""
    tokens = sum(group["input_tokens"] for group in summary["groups"])
    return (f"${summary['total_requests']:,}", f"${tokens / 1e6:.1f}M")


def honest_report(summary: dict) -> str:
    """A report that states only figures the tools produce for this summary (/api/usage/summary by model)."""
    top = summary["groups"][0]
    return (f"## Your AI spend\n\nOver the period you spent **${summary['total_usd']:,.2f}** across "
            f"{summary['total_requests']:,} requests. The largest share went to {top['key']}, "
            f"at ${top['cost_usd']:,.2f} over {top['requests']:,} requests.\n\n"
            "### Next steps\n\n- Start with the first recommendation: it saves the most for the least effort.\n")
