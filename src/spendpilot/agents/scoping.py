"""The scope a question names, read against the org's own values, and the dimension a breakdown asks for.

A value counts only when it is one the org's usage actually carries (profile_usage lists its features,
models, providers, most frequent users and tags), so "support bot" finds the feature `support-bot` and
no word is ever taken for a value that does not exist. A question naming a value replaces only that key
of the scope it follows; "all features" (or "everything") clears it (SPEC §13).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from spendpilot.analytics.scope import KEYS, Scope

# Words for each scope key as a question says it ("all features", "by team" for a tag, ...).
_KEY_WORDS: dict[str, tuple[str, ...]] = {
    "feature": ("feature", "features", "product", "products", "app", "apps"),
    "model": ("model", "models"),
    "provider": ("provider", "providers", "vendor", "vendors"),
    "user": ("user", "users", "customer", "customers", "end user", "end users"),
    "tag": ("tag", "tags", "team", "teams"),
}
_ALL = r"(?:all|every|any|each)(?:\s+(?:the|our|my))?\s+"
_EVERYTHING = re.compile(r"\b(everything|the whole (?:org|organi[sz]ation|company)|whole (?:org|organi[sz]ation|"
                         r"company)|entire (?:org|organi[sz]ation|company)|org-wide|company-wide|no filters?|"
                         r"without (?:a |any )?filters?|all (?:of )?(?:our |my )?usage)\b", re.I)
_BREAKDOWN_BY = re.compile(r"\b(?:by|per|across|between|split by|broken down by|break(?:s)? down by|grouped by|"
                           r"for each|which|what)\s+([a-z][\w-]*?)s?\b", re.I)
_DIMENSION_WORDS = {"feature": "feature", "product": "feature", "app": "feature", "model": "model",
                    "provider": "provider", "vendor": "provider", "user": "user", "customer": "user", "who": "user",
                    "day": "day", "date": "day", "daily": "day", "key": "api_key", "api-key": "api_key"}


@dataclass
class ScopeReading:
    """What a question did to the scope it follows."""

    scope: Scope
    # Keys the question set (key -> value) or cleared (key -> None).
    changed: dict[str, str | None] = field(default_factory=dict)


def _variants(value: str) -> list[str]:
    """How a value may be written: as stored, with its separators as spaces, and glued together."""
    lowered = value.lower()
    spaced = re.sub(r"[-_]+", " ", lowered)
    return list(dict.fromkeys([lowered, spaced]))


def _mention(text: str, written: str) -> re.Match | None:
    # Not inside a longer name: "gpt-4o" is not named by "gpt-4o-mini".
    return re.search(rf"(?<![\w.-]){re.escape(written)}(?![\w-]|\.\w)", text)


def _tag_mentions(text: str, tag: str) -> re.Match | None:
    """A tag `team=support` is named as "team=support", "the support team" or "team support"."""
    name, _, value = tag.partition("=")
    for written in (f"{name}={value}", f"{value} {name}", f"{name} {value}", f"{name}: {value}"):
        for variant in _variants(written):
            if found := _mention(text, variant):
                return found
    return None


def values_named(content: str, profile: dict, keys: tuple[str, ...] = KEYS) -> dict[str, str]:
    """Each scope key the question names a value for, matched against the org's values (longest names first)."""
    text = " ".join(content.lower().split())
    candidates: list[tuple[str, str]] = []
    for key, listed in (("feature", "features"), ("model", "models"), ("provider", "providers"),
                        ("user", "users")):
        if key in keys:
            candidates.extend((key, value) for value in profile.get(listed) or [] if value)
    found: dict[str, str] = {}
    taken: list[tuple[int, int]] = []
    for key, value in sorted(candidates, key=lambda c: -len(c[1])):
        if key in found:
            continue
        for variant in _variants(value):
            match = _mention(text, variant)
            if match and not any(a < match.end() and match.start() < b for a, b in taken):
                found[key] = value
                taken.append(match.span())
                break
    if "tag" in keys:
        for tag in sorted(profile.get("tags") or [], key=len, reverse=True):
            match = _tag_mentions(text, tag)
            if match and not any(a < match.end() and match.start() < b for a, b in taken):
                found["tag"] = tag
                break
    return found


def keys_cleared(content: str) -> set[str]:
    """The keys a question widens back to everything: "all features", "every model", "everything"."""
    text = " ".join(content.lower().split())
    if _EVERYTHING.search(text):
        return set(KEYS)
    cleared = set()
    for key, words in _KEY_WORDS.items():
        if any(re.search(rf"\b{_ALL}{re.escape(word)}\b", text) or re.search(rf"\bacross\s+{re.escape(word)}\b", text)
               for word in words):
            cleared.add(key)
    return cleared


def read_scope(content: str, profile: dict, basis: Scope, *, keys: tuple[str, ...] = KEYS) -> ScopeReading:
    """The scope of a question: the one it follows, with the keys it names replaced and the ones it clears
    removed. `keys` limits which keys may be read (a model switch names models it is not scoped to)."""
    named = values_named(content, profile, keys)
    cleared = keys_cleared(content) - set(named)
    changes: dict[str, str | None] = {key: None for key in sorted(cleared) if getattr(basis, key) is not None}
    changes.update({key: value for key, value in named.items() if getattr(basis, key) != value})
    return ScopeReading(basis.narrowed(**{**{k: None for k in cleared}, **named}), changes)


def accept_values(proposed: dict[str, str | None], profile: dict) -> tuple[dict[str, str], list[str]]:
    """A model's proposed scope values that the org's usage carries, and the ones it does not."""
    known = {"feature": profile.get("features") or [], "model": profile.get("models") or [],
             "provider": profile.get("providers") or [], "user": profile.get("users") or [],
             "tag": profile.get("tags") or []}
    accepted, refused = {}, []
    for key, value in proposed.items():
        if not value:
            continue
        if value in known.get(key, []):
            accepted[key] = value
        else:
            refused.append(f"{key} {value}")
    return accepted, refused


def dimension_named(content: str, profile: dict) -> tuple[str | None, str | None]:
    """(group_by, note): the breakdown a question asks for ("by team" is the tag `team` when the usage
    carries it); the note says why another dimension stands in for one the usage does not carry."""
    text = " ".join(content.lower().split())
    tag_names = {tag.partition("=")[0].lower(): tag.partition("=")[0] for tag in profile.get("tags") or []}
    if re.search(r"\bwho\b", text):
        return "user", None
    for match in _BREAKDOWN_BY.finditer(text):
        word = match.group(1)
        for candidate in (word, word.rstrip("s")):
            if candidate in tag_names:
                return f"tag:{tag_names[candidate]}", None
            if candidate in _DIMENSION_WORDS:
                return _DIMENSION_WORDS[candidate], None
        if word in ("team", "teams", "department", "departments", "project", "projects", "env", "environment"):
            name = word.rstrip("s")
            shown = ", ".join(sorted(tag_names.values())) or "none"
            return "feature", (f"The usage carries no {name} tag (its tags: {shown}), so spend is broken down by "
                               "feature instead; tag calls with spendpilot.tag.<name> to break spend down by "
                               f"{name}.")
    return None, None
