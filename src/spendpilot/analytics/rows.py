"""One usage row: parsing its field values and pricing it (the engine computes its key)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, overload

from .pricing import canonical_name, price_usage

UTC = UTC

STATUS_ALIASES = {
    "ok": "ok",
    "success": "ok",
    "succeeded": "ok",
    "successful": "ok",
    "completed": "ok",
    "unset": "ok",
    "200": "ok",
    "error": "error",
    "failed": "error",
    "failure": "error",
    "err": "error",
    "500": "error",
    "502": "error",
    "503": "error",
    "timeout": "timeout",
    "timed_out": "timeout",
    "timedout": "timeout",
    "deadline_exceeded": "timeout",
    "504": "timeout",
    "408": "timeout",
    "rate_limited": "rate_limited",
    "ratelimited": "rate_limited",
    "rate_limit": "rate_limited",
    "429": "rate_limited",
    "throttled": "rate_limited",
}
# The model of usage whose source did not say (an export not grouped by model): stored, never priced.
UNKNOWN_MODEL = "unknown"
# tags["kind"] of a billed cost line (a cost report's row: dollars, no tokens).
COST_LINE = "cost"

# Statuses that billed tokens without delivering a usable answer.
FAILED_STATUSES = ("error", "timeout", "rate_limited")


class RowError(ValueError):
    """A field of a row cannot be used; the message is shown to the user as the reason."""


def normalize_status(value: Any) -> str:
    if value is None:
        return ""
    text = str(value).strip().lower()
    if not text:
        return ""
    return STATUS_ALIASES.get(text, text)


def parse_ts(value: Any, name: str = "ts") -> datetime:
    """A timestamp as an aware UTC datetime: ISO 8601 text or epoch s/ms/us/ns."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if value is None or value == "":
        raise RowError(f"missing {name}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _from_epoch(float(value), name)
    text = str(value).strip()
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        try:
            return _from_epoch(float(text), name)
        except ValueError:
            parsed = _local_date(text, name)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


# Spreadsheet exports write dates the local way; a dotted day-month-year is unambiguous
# (European), and so is year/month/day. Slashed day/month orders are not, so they are refused.
_LOCAL_FORMATS = ("%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M", "%d.%m.%Y", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M",
                  "%Y/%m/%d")


def _local_date(text: str, name: str) -> datetime:
    for fmt in _LOCAL_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise RowError(f"invalid {name} {text[:40]!r}: expected ISO 8601 or epoch seconds")


def _from_epoch(number: float, name: str) -> datetime:
    # Magnitude tells the unit: seconds until 2286, then ms, us, ns.
    for divisor in (1, 1e3, 1e6, 1e9):
        if abs(number / divisor) < 1e10:
            try:
                return datetime.fromtimestamp(number / divisor, tz=UTC)
            except (OverflowError, OSError, ValueError):
                break
    raise RowError(f"invalid {name} {number!r}: out of range")


# Inside every 64-bit integer column; nanosecond timestamps are parsed as counts too.
MAX_COUNT = 2**63 - 1


@overload
def parse_count(value: Any, name: str, default: int = 0) -> int: ...
@overload
def parse_count(value: Any, name: str, default: None) -> int | None: ...


def parse_count(value: Any, name: str, default: int | None = 0) -> int | None:
    """A non-negative integer count up to MAX_COUNT; empty means ``default``."""
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise RowError(f"invalid {name} {value!r}: expected a non-negative integer")
    if isinstance(value, int):
        number = value
    else:
        try:
            number = int(value)
        except (TypeError, ValueError):
            try:
                as_float = float(value)
            except (TypeError, ValueError):
                raise RowError(f"invalid {name} {str(value)[:40]!r}: expected a non-negative integer") from None
            if as_float != as_float or as_float in (float("inf"), float("-inf")) or as_float != int(as_float):
                raise RowError(f"invalid {name} {str(value)[:40]!r}: expected a non-negative integer") from None
            number = int(as_float)
    if number < 0:
        raise RowError(f"invalid {name} {number}: must not be negative")
    if number > MAX_COUNT:
        raise RowError(f"invalid {name} {str(number)[:40]}: larger than a 64-bit count")
    return number


def parse_bool(value: Any, name: str) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        return int(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "t", "yes", "y", "batch"):
        return 1
    if text in ("0", "false", "f", "no", "n"):
        return 0
    raise RowError(f"invalid {name} {str(value)[:40]!r}: expected true/false or 1/0")


def parse_cost(value: Any, name: str = "cost_usd") -> float | None:
    if value is None or value == "":
        return None
    try:
        cost = float(value)
    except (TypeError, ValueError):
        raise RowError(f"invalid {name} {str(value)[:40]!r}: expected a number") from None
    if cost != cost or cost < 0 or cost == float("inf"):
        raise RowError(f"invalid {name} {str(value)[:40]!r}: must be a non-negative number")
    return cost


def build_row(
    org_id: str,
    *,
    ts: datetime,
    model: str,
    provider: str = "",
    user: str = "",
    feature: str = "",
    input_tokens: int = 0,
    output_tokens: int = 0,
    cached_input_tokens: int = 0,
    latency_ms: int | None = None,
    status: str = "",
    is_batch: int = 0,
    prompt_hash: str = "",
    prompt_prefix_hash: str = "",
    prompt_prefix_tokens: int = 0,
    max_tokens: int | None = None,
    requests: int = 1,
    cost_usd: float | None = None,
    cache_write_tokens: int = 0,
    source_id: str = "",
    service_tier: str = "",
    stated_cost_usd: float | None = None,
    api_key_id: str = "",
    tags: dict[str, str] | None = None,
    extras: dict[str, int] | None = None,
    calls_for_tiers: int | None = None,
) -> dict:
    """A complete llm_usage row: provider and model canonicalised, priced when no cost is given.

    `source_id` is the row's identity in its source; rows that share it are one row (see
    schema.ROW_KEY). `stated_cost_usd` is what the source said it cost, kept beside our price
    (`cost_usd`); when the tables do not know the model, the stated cost is the best figure and
    becomes `cost_usd` too. The price is the one in force on `ts` for the row's service tier;
    `extras` are further priced units (genai-prices usage keys: web searches, audio, image
    tokens, 1-hour cache writes). `calls_for_tiers` overrides `requests` for choosing a long-context
    tier (an aggregate known to hold only long calls prices as one). The row's `computed` key (not
    stored) says whether `cost_usd` is our own price, for the report's stated-versus-computed figures.
    """
    if not model.strip():
        raise RowError("missing model")
    if cached_input_tokens > input_tokens:
        raise RowError(
            f"cached_input_tokens {cached_input_tokens} exceeds input_tokens {input_tokens}"
        )
    if cached_input_tokens + cache_write_tokens > input_tokens:
        raise RowError(f"cache reads and writes ({cached_input_tokens} + {cache_write_tokens}) exceed "
                       f"input_tokens {input_tokens}")
    provider, model = canonical_name(provider, model)
    provider = provider or "unknown"
    # Stored with millisecond precision: truncate here so every path stores the same instant.
    below_ms = ts.microsecond % 1000
    if below_ms:
        # Subtracting is cheaper than replace(), which only a second occurrence of a local time (fold) needs.
        ts = ts.replace(microsecond=ts.microsecond - below_ms) if ts.fold else ts - timedelta(microseconds=below_ms)
    priced = 1
    computed = False
    if cost_usd is None and model != UNKNOWN_MODEL:
        cost_usd = price_usage(
            provider,
            model,
            input_tokens,
            output_tokens,
            cached_input_tokens,
            bool(is_batch),
            cache_write_tokens=cache_write_tokens,
            requests=requests if calls_for_tiers is None else calls_for_tiers,
            when=ts,
            service_tier=service_tier,
            extras=extras,
        )
        computed = cost_usd is not None
    if cost_usd is None:
        cost_usd, priced = (0.0, 0) if stated_cost_usd is None else (stated_cost_usd, 1)
    return {
        "ts": ts,
        "org_id": org_id,
        "user": user,
        "provider": provider,
        "model": model,
        "feature": feature,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "latency_ms": latency_ms,
        "status": status,
        "is_batch": is_batch,
        "prompt_hash": prompt_hash,
        "prompt_prefix_hash": prompt_prefix_hash,
        "prompt_prefix_tokens": prompt_prefix_tokens,
        "max_tokens": max_tokens,
        "cost_usd": cost_usd,
        "requests": requests,
        "priced": priced,
        "source_id": source_id,
        "cache_write_tokens": cache_write_tokens,
        "service_tier": service_tier,
        "stated_cost_usd": stated_cost_usd,
        "api_key_id": api_key_id,
        "tags": tags or {},
        "computed": computed,
    }
