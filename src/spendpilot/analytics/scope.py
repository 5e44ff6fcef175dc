"""The scope of a usage question: which slice of an org's usage it reads ({} is the whole org).

A scope narrows usage by `feature`, `model`, `provider`, `user` and one `tag` (`name=value`). The same
keys scope a chat run, a budget, a forecast and the REST summary, so one Scope object carries them
everywhere and turns them into SQL here, once.

The hourly rollup carries provider, model and feature; user and tags live only on raw `llm_usage`, so
a scope naming either is read from raw rows (`needs_raw`; analytics.sql composes the statements).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any

KEYS: tuple[str, ...] = ("feature", "model", "provider", "user", "tag")
# Keys the hourly rollup has columns for; the others need raw rows.
ROLLUP_KEYS: tuple[str, ...] = ("feature", "model", "provider")
MAX_VALUE_CHARS = 200

class ScopeError(ValueError):
    """A scope value that cannot be used; the message names the key and says why."""


@dataclass(frozen=True)
class Scope:
    feature: str | None = None
    model: str | None = None
    provider: str | None = None
    user: str | None = None
    # "name=value": usage whose tag `name` is `value`.
    tag: str | None = None

    @classmethod
    def of(cls, values: Mapping[str, Any] | None) -> Scope:
        """A scope from request or tool arguments; empty and missing values mean "any"; unknown keys are ignored."""
        found: dict[str, str] = {}
        for key in KEYS:
            value = (values or {}).get(key)
            if value is None:
                continue
            if not isinstance(value, str):
                raise ScopeError(f"scope {key} must be a string, got {type(value).__name__}")
            value = value.strip()
            if not value:
                continue
            if len(value) > MAX_VALUE_CHARS:
                raise ScopeError(f"scope {key} is longer than {MAX_VALUE_CHARS} characters")
            found[key] = value
        if "tag" in found:
            name, sep, tag_value = found["tag"].partition("=")
            if not sep or not name.strip() or not tag_value.strip():
                raise ScopeError(f"scope tag must be name=value, got {found['tag']!r}")
            found["tag"] = f"{name.strip()}={tag_value.strip()}"
        return cls(**found)

    def as_dict(self) -> dict[str, str]:
        """The keys that are set, as the API and reports show a scope ({} for the whole org)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    @property
    def is_whole_org(self) -> bool:
        return not self.as_dict()

    @property
    def needs_raw(self) -> bool:
        """Whether the rollups can answer: user and tags are only on raw rows."""
        return self.user is not None or self.tag is not None

    def key(self) -> str:
        """A stable text for the scope (idempotency keys, cache keys)."""
        return json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))

    def narrowed(self, **keys: str | None) -> Scope:
        """This scope with some keys replaced (None clears a key)."""
        return replace(self, **keys)

    def describe(self) -> str:
        """In words, for prose and messages: 'the whole organisation' or 'feature support-bot, model gpt-4o'."""
        shown = self.as_dict()
        if not shown:
            return "the whole organisation"
        return ", ".join(f"{key} {value}" for key, value in shown.items())

    # --- SQL ------------------------------------------------------------------------------
    # Values are bound as query parameters ({scope_<key>:String}), never formatted into SQL.

    def params(self) -> dict[str, str]:
        out = {f"scope_{key}": value for key, value in self.as_dict().items() if key != "tag"}
        if self.tag is not None:
            name, _, value = self.tag.partition("=")
            out["scope_tag_name"], out["scope_tag_value"] = name, value
        return out

    def conditions(self, keys: tuple[str, ...] = KEYS) -> list[str]:
        """SQL conditions for the set keys among `keys`, over llm_usage's (or a rollup's) columns."""
        out = []
        for key in keys:
            if getattr(self, key) is None:
                continue
            if key == "tag":
                out.append("tags[{scope_tag_name:String}] = {scope_tag_value:String}")
            else:
                out.append(f"`{key}` = {{scope_{key}:String}}")
        return out

    def where(self, keys: tuple[str, ...] = KEYS) -> str:
        """' AND ...' for the set keys among `keys` ('' for none), to append to a WHERE clause."""
        return "".join(f" AND {condition}" for condition in self.conditions(keys))


WHOLE_ORG = Scope()

__all__ = ["KEYS", "ROLLUP_KEYS", "WHOLE_ORG", "Scope", "ScopeError"]
