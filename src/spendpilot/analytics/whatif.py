"""What-if answers from measured usage: a traffic scenario on the forecast, and a model switch repriced.

`capacity_scenario` multiplies the spend forecast (analytics.forecast) by a traffic multiplier and
adds new users at the spend per active user measured over the same history. `model_switch` prices
a scope's own token mix, call by call class, at another model's list prices (genai-prices), which is
the comparison block of a model_comparison report (SPEC §13).
"""

from __future__ import annotations

from datetime import date

from . import sql
from .forecast import forecast_spend
from .pricing import VARIANT_WORDS, model_price, price_usage, resolve_model
from .scope import WHOLE_ORG, Scope
from .store import AnalyticsStore
from .window import Window, money, resolve_window

QUALITY_CAVEAT = ("Price is not quality: the projection assumes the new model answers this traffic as well, "
                  "with the same number of tokens. Evaluate it on a sample of real requests before switching.")

_ACTIVE_USERS = """
SELECT toUInt64(uniqExact(user)) AS users,
       toFloat64(sum(toDecimal128(cost_usd, 12))) AS cost_usd
FROM llm_usage
WHERE {raw_window} AND user != ''{scope}
"""


async def _per_user(store: AnalyticsStore, org_id: str, scope: Scope, history: dict) -> dict | None:
    """Spend per active user per day over the forecast's history; None when the usage names no users."""
    if not history.get("from"):
        return None
    window = Window(org_id, date.fromisoformat(history["from"]), date.fromisoformat(history["to"]))
    statement = _ACTIVE_USERS.format(raw_window=sql.RAW_WINDOW, scope=scope.where())
    row = (await store.query(statement, {**window.params, **scope.params()}))[0]
    users = int(row["users"])
    if not users or window.days == 0:
        return None
    return {"users": users, "from": history["from"], "to": history["to"],
            "daily_usd_per_user": money(float(row["cost_usd"]) / users / window.days)}


async def capacity_scenario(store: AnalyticsStore, org_id: str, scope: Scope = WHOLE_ORG, horizon_days: int = 30,
                            traffic_multiplier: float = 1.0, added_users: int = 0,
                            today: date | None = None) -> dict:
    """The forecast over the horizon under a scenario: traffic times `traffic_multiplier`, plus `added_users`."""
    forecast = await forecast_spend(store, org_id, scope, horizon_days, today)
    answer: dict = {"kind": "capacity", "scope": scope.as_dict(), "from": forecast["from"], "to": forecast["to"],
                    "horizon_days": horizon_days,
                    "scenario": {"traffic_multiplier": traffic_multiplier, "added_users": added_users},
                    "baseline": {k: forecast[k] for k in ("forecast_usd", "low_usd", "high_usd")},
                    "data_sufficiency": forecast["data_sufficiency"], "method": forecast["method"],
                    "projected_usd": None, "projected_low_usd": None, "projected_high_usd": None,
                    "change_usd": None, "per_user": None, "assumptions": []}
    if forecast["forecast_usd"] is None:
        answer["assumptions"].append(forecast.get("reason", "Not enough usage history for a forecast."))
        return answer
    added = 0.0
    if added_users:
        per_user = await _per_user(store, org_id, scope, forecast["history"])
        answer["per_user"] = per_user
        if per_user is None:
            answer["assumptions"].append("The usage names no users, so new users cannot be priced; only the "
                                         "traffic multiplier is applied.")
        else:
            added = added_users * per_user["daily_usd_per_user"] * horizon_days
            answer["added_users_usd"] = money(added)
            answer["assumptions"].append(
                f"Each new user spends what an active user spent per day from {per_user['from']} to "
                f"{per_user['to']} (${per_user['daily_usd_per_user']:,.4f}, {per_user['users']:,} users).")
    if traffic_multiplier != 1:
        answer["assumptions"].append(f"Traffic is {traffic_multiplier:g}x the forecast, with the same mix of "
                                     "models, prompts and answers; prices stay at today's list prices.")
    projected = [money(forecast[k] * traffic_multiplier + added) for k in ("forecast_usd", "low_usd", "high_usd")]
    answer.update(projected_usd=projected[0], projected_low_usd=projected[1], projected_high_usd=projected[2],
                  change_usd=money(projected[0] - forecast["forecast_usd"]))
    answer["assumptions"].append(f"Forecast method: {forecast['method']}")
    return answer


def _words(name: str) -> list[str]:
    return [w for w in name.lower().replace(".", "-").replace(" ", "-").split("-") if w]


async def _current_model(store: AnalyticsStore, window: Window, scope: Scope, said: str | None) -> str | None:
    """The scope's model a question means: its costliest when none is named; else the one named exactly, or
    the costliest whose name holds every word said without adding a variant ("gpt-4o" is not "gpt-4o-mini")."""
    rows = await store.query(sql.by_model(scope), {**window.params, **scope.params()})
    costs: dict[str, float] = {}
    for r in rows:
        costs[r["model"]] = costs.get(r["model"], 0.0) + float(r["cost_usd"])
    ranked = sorted(costs, key=lambda m: (-costs[m], m))
    if said is None:
        return ranked[0] if ranked else None
    if said in costs:
        return said
    wanted = _words(said)
    for model in ranked:
        words = _words(model)
        if all(w in words for w in wanted) and not any(w in VARIANT_WORDS for w in words if w not in wanted):
            return model
    return said


def _rates(provider: str, model: str) -> dict | None:
    price = model_price(provider, model)
    if price is None:
        return None
    return {"input_per_mtok": price["input_mtok"], "output_per_mtok": price["output_mtok"],
            "cached_input_per_mtok": price["cache_read_mtok"]}


async def model_switch(store: AnalyticsStore, org_id: str, to_model: str, from_model: str | None = None,
                       start: date | None = None, end: date | None = None, scope: Scope = WHOLE_ORG) -> dict:
    """The scope's traffic on `from_model` over the window, priced at `to_model`'s prices.

    `from_model` defaults to the scope's costliest model; `to_model` may be a family name ("claude
    sonnet"), resolved to the family's newest model in the price tables. Raises ValueError when the
    target is unknown to the price tables.
    """
    target = resolve_model(to_model)
    if target is None:
        raise ValueError(f"{to_model!r} is not a model in the price tables")
    window = await resolve_window(store, org_id, start, end)
    current_name = scope.model or await _current_model(store, window, scope, from_model)
    switched = scope.narrowed(model=current_name) if current_name else scope
    rows = await store.query(sql.token_mix(switched), {**window.params, **switched.params()})
    totals = {k: sum(int(r[k]) for r in rows) for k in ("input_tokens", "output_tokens", "cached_input_tokens")}
    current = sum(float(r["cost_usd"]) for r in rows)
    projected = sum(price_usage(target["provider"], target["model"], int(r["input_tokens"]), int(r["output_tokens"]),
                                int(r["cached_input_tokens"]), bool(r["is_batch"]),
                                requests=int(r["requests"])) or 0.0 for r in rows)
    current_provider = rows[0]["provider"] if rows else ""
    prices: dict[str, dict | None] = {}
    if current_name and (rates := _rates(current_provider, current_name)):
        prices[current_name] = rates
    prices[target["model"]] = _rates(target["provider"], target["model"])
    caveats = [QUALITY_CAVEAT]
    if target["family"]:
        caveats.append(f"\"{to_model}\" was read as {target['model']}, the newest model of that family in the "
                       "price tables.")
    if not rows:
        caveats.append(f"{switched.describe()} has no usage from {window.as_period()['from']} to "
                       f"{window.as_period()['to']}: there is nothing to reprice.")
    change = projected - current
    return {"kind": "model_switch", "from_model": current_name, "to_model": target["model"],
            "to_provider": target["provider"], "scope": switched.as_dict(), "period": window.as_period(),
            **totals, "requests": sum(int(r["requests"]) for r in rows),
            "current_usd": money(current), "projected_usd": money(projected), "change_usd": money(change),
            "monthly_change_usd": money(window.monthly(change)),
            "change_pct": round(change / current * 100, 2) if current > 0 else None,
            "prices": prices, "caveats": caveats}
