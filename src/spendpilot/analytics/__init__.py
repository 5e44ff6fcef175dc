"""Usage analytics: the llm_usage store, pricing, importers, spend queries and analyses."""

from .store import AnalyticsStore, ChdbStore, ClickHouseServerStore, open_analytics

__all__ = ["AnalyticsStore", "ChdbStore", "ClickHouseServerStore", "open_analytics"]
