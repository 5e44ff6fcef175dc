"""Triage: what the question asks (intent), over which period and scope, and whether the data can answer it.

The prose model (offline or an LLM) reads the intent and the period it names; the scope, the breakdown, the
periods compared and the finding asked about are read here from the question and the org's own values, the
same whichever model runs. A follow-up starts from the answer it follows (agents.conversation.Basis).
"""

from __future__ import annotations

from datetime import date

from spendpilot.agents import whatif
from spendpilot.agents.context import AgentContext
from spendpilot.agents.conversation import Basis
from spendpilot.agents.dates import last_week, periods_named
from spendpilot.agents.detail import finding_asked
from spendpilot.agents.intents import follow_up_intent
from spendpilot.agents.plan import Plan, clamp, describe_changes, describe_period
from spendpilot.agents.scoping import accept_values, dimension_named, read_scope
from spendpilot.analytics.periods import previous_period
from spendpilot.analytics.scope import KEYS
from spendpilot.analytics.window import Period

DESCRIPTION = "Works out what is being asked and whether the organisation's usage data can answer it."
MIN_ROWS, MIN_DAYS = 1000, 14
# Intents whose question supposes a scenario the triage line names.
WHAT_IF_INTENTS = ("capacity_planning", "model_comparison")


def sufficiency_of(profile: dict) -> str:
    if profile["rows"] == 0:
        return "insufficient"
    if profile["rows"] >= MIN_ROWS and profile["days_covered"] >= MIN_DAYS:
        return "sufficient"
    return "partial"


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


async def run_triage(ctx: AgentContext) -> Plan:
    async with ctx.agent("triage", DESCRIPTION) as step:
        await ctx.think("Checking how much usage data this organisation has and what the question asks.")
        profile = await ctx.call("profile_usage")
        basis = ctx.basis
        decided = await ctx.until_cancelled(ctx.model.triage(ctx.content, profile, ctx.facts, basis))
        sufficiency = sufficiency_of(profile)
        plan = _plan(ctx.content, profile, decided, sufficiency, basis)
        rationale = decided["rationale"]
        if plan.has_data and decided["intent"] == "general" and plan.intent != "general":
            # Read as nothing in particular, but it changes the slice: the rule, not the model, decided.
            rationale = (f"The question changes only what the previous answer covered, so it asks the same again: "
                         f"{plan.intent.replace('_', ' ')}.")
        await ctx.think(f"{rationale} Data: {profile['rows']:,} rows over "
                        f"{profile['days_covered']} days, so data is {sufficiency}.")
        if plan.intent in WHAT_IF_INTENTS:
            await ctx.think(f"The question supposes {plan.whatif.describe()}.")
        await ctx.think(_scope_line(plan, profile, basis))
        step.summary = f"intent={plan.intent}, data={sufficiency}, scope={plan.scope.key()}"
    return plan


def _plan(content: str, profile: dict, decided: dict, sufficiency: str, basis: Basis) -> Plan:
    first, last = _day(profile.get("first_day")), _day(profile.get("last_day"))
    notes = list(decided.get("notes", []))
    if sufficiency == "insufficient":
        return Plan("data_import_help", Period(), basis.scope, sufficiency, profile, notes)
    intent = decided["intent"]
    if basis.fixed:
        scope, changes = basis.scope, {}
    else:
        # A model switch names the models it compares; they are its subject, not a narrower scope.
        keys = tuple(k for k in KEYS if not (intent == "model_comparison" and k == "model"))
        reading = read_scope(content, profile, basis.scope, keys=keys)
        scope, changes = reading.scope, reading.changed
        proposed, refused = accept_values(decided.get("scope") or {}, profile)
        if proposed:
            scope = scope.narrowed(**proposed)
            changes.update({k: v for k, v in proposed.items() if getattr(basis.scope, k) != v})
        if refused:
            notes.append("The question's reading named " + ", ".join(refused) + ", which the stored usage does "
                         "not carry; the scope leaves them out.")
    requested: Period | None = decided.get("period") if decided.get("period_said") else None
    if not basis.fixed:
        intent = follow_up_intent(intent, basis.intent, changed_something=bool(changes) or requested is not None)
    elif intent == "general" and basis.intent:
        intent = basis.intent
    plan = Plan(intent, Period(), scope, sufficiency, profile, notes, whatif=whatif.read(content), changes=changes,
                period_changed=requested is not None and not basis.fixed)
    plan.period = clamp(_period(plan, requested, basis, last), first, last)
    if intent == "breakdown":
        dimension, note = dimension_named(content, profile)
        if dimension is None and basis.intent == "breakdown" and basis.report:
            dimension = (basis.report.get("breakdown") or {}).get("dimension")
        plan.dimension = dimension or ("feature" if profile["fields_present"].get("feature") else "model")
        if note:
            notes.append(note)
    if intent == "finding_detail":
        plan.finding = finding_asked(content, basis.report)
    if intent == "period_comparison" and plan.period.start is not None and plan.period.end is not None:
        named = periods_named(content, last)
        if len(named) >= 2 and named[1].start and named[1].end:
            plan.previous = (named[1].start, named[1].end)
        else:
            plan.previous = previous_period(plan.period.start, plan.period.end)
    return plan


def _period(plan: Plan, requested: Period | None, basis: Basis, last: date | None) -> Period:
    if basis.fixed:
        return basis.period
    if plan.intent == "period_comparison":
        # "Last week" unless the question names its own period; a follow-up of a comparison keeps comparing it.
        if requested is not None and requested.start is not None:
            return requested
        if basis.intent == "period_comparison" and basis.period.start is not None:
            return basis.period
        return last_week(last) if last else Period()
    if requested is not None:
        return requested
    return basis.period if basis.is_follow_up else Period()


def _scope_line(plan: Plan, profile: dict, basis: Basis) -> str:
    first, last = _day(profile.get("first_day")), _day(profile.get("last_day"))
    line = f"Scope: {plan.scope.describe()}, {describe_period(plan.period, first, last)}"
    if plan.previous:
        line += f", compared with {plan.previous[0].isoformat()} to {plan.previous[1].isoformat()}"
    if plan.dimension:
        line += f", broken down by {plan.dimension.replace('tag:', 'tag ')}"
    if basis.fixed:
        return line + " (the same as the answer being regenerated)."
    if basis.is_follow_up:
        follow = describe_changes(plan.changes, plan.period_changed, plan.scope)
        return line + f" (following the previous answer: {follow})."
    return line + "."


__all__ = ["DESCRIPTION", "run_triage", "sufficiency_of"]
