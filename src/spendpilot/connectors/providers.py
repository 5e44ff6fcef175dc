"""The provider APIs a connector pulls: where they are, how to authenticate, which reports, and how.

Each report names the import format that reads its pages, so rows pulled by a connector carry the
same identities (bucket start and group keys) as rows imported from a file of the same report: a
connector can follow a file import, or a re-pull repeat a window, without counting anything twice.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from spendpilot.config import Settings


@dataclass(frozen=True)
class Report:
    name: str
    path: str
    # The import format that reads this report's pages.
    format: str
    bucket: timedelta
    # (window start, window end) -> query parameters, without the page token.
    params: Callable[[datetime, datetime], list[tuple[str, str]]]
    # Billed cost lines (kept for reconciliation; the usage report is the spend).
    costs: bool = False


@dataclass(frozen=True)
class ConnectorKind:
    name: str
    label: str
    base_url: Callable[[Settings], str]
    headers: Callable[[str], dict[str, str]]
    reports: tuple[Report, ...]


def _unix(value: datetime) -> str:
    return str(int(value.timestamp()))


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


OPENAI = ConnectorKind(
    name="openai",
    label="OpenAI (Usage and Costs APIs; an admin key, sk-admin-...)",
    base_url=lambda settings: settings.openai_admin_url.rstrip("/"),
    headers=lambda key: {"Authorization": f"Bearer {key}"},
    reports=(
        Report("usage", "/organization/usage/completions", "openai", timedelta(hours=1),
               lambda start, end: [("start_time", _unix(start)), ("end_time", _unix(end)), ("bucket_width", "1h"),
                                   ("limit", "168"), *(("group_by", g) for g in (
                                       "model", "project_id", "user_id", "api_key_id", "batch", "service_tier"))]),
        Report("costs", "/organization/costs", "openai-costs", timedelta(days=1),
               lambda start, end: [("start_time", _unix(start)), ("end_time", _unix(end)), ("bucket_width", "1d"),
                                   ("limit", "180"), ("group_by", "project_id"), ("group_by", "line_item")],
               costs=True),
    ),
)

ANTHROPIC = ConnectorKind(
    name="anthropic",
    label="Anthropic (Admin API usage and cost reports; an admin key, sk-ant-admin...)",
    base_url=lambda settings: settings.anthropic_admin_url.rstrip("/"),
    headers=lambda key: {"x-api-key": key, "anthropic-version": "2023-06-01"},
    reports=(
        Report("usage", "/v1/organizations/usage_report/messages", "anthropic", timedelta(hours=1),
               lambda start, end: [("starting_at", _iso(start)), ("ending_at", _iso(end)), ("bucket_width", "1h"),
                                   ("limit", "168"), *(("group_by[]", g) for g in (
                                       "model", "workspace_id", "api_key_id", "service_tier", "context_window"))]),
        Report("costs", "/v1/organizations/cost_report", "anthropic-cost", timedelta(days=1),
               lambda start, end: [("starting_at", _iso(start)), ("ending_at", _iso(end)), ("bucket_width", "1d"),
                                   ("limit", "31"), ("group_by[]", "workspace_id"), ("group_by[]", "description")],
               costs=True),
    ),
)

KINDS: dict[str, ConnectorKind] = {kind.name: kind for kind in (OPENAI, ANTHROPIC)}


def complete_until(now: datetime, bucket: timedelta) -> datetime:
    """The end of the last bucket that is over: only complete buckets are pulled, so a bucket's row
    is never imported while it can still grow."""
    epoch = datetime(1970, 1, 1, tzinfo=now.tzinfo)
    return epoch + ((now - epoch) // bucket) * bucket
