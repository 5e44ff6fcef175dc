"""Who may do what: every action declared once with the roles allowed to take it.

Every REST route, socket frame, intake endpoint and CLI command names one action here (or is
public); a test walks all of them and fails on one that declares nothing. A role's rights
include those of the roles below it: viewer < analyst < admin. The caller's role is read from
its membership on every request (auth.service), so a change applies at once.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    ANALYST = "analyst"
    VIEWER = "viewer"


_EVERYONE = frozenset(Role)
_ANALYSTS = frozenset({Role.ADMIN, Role.ANALYST})
_ADMINS = frozenset({Role.ADMIN})

# action -> the roles that may take it.
ACTIONS: dict[str, frozenset[Role]] = {
    "account.read": _EVERYONE,       # one's own profile, organisations and sessions
    "account.manage": _EVERYONE,     # one's own password, sessions, org switch, joining and leaving orgs
    "chat.use": _EVERYONE,           # one's own threads, runs and their events, and their exports
    "chat.share": _EVERYONE,         # read-only links to one's own reports, readable without an account
    "usage.read": _EVERYONE,         # summaries, formats, forecasts
    "usage.import": _ANALYSTS,       # file imports
    "usage.ingest": _ANALYSTS,       # live intake (OTLP receiver, gateway); API keys carry it by scope
    "connectors.manage": _ADMINS,    # provider connectors: their admin keys and pulls
    "agents.read": _EVERYONE,
    "members.read": _EVERYONE,       # who else is in the organisation, and their roles
    "members.manage": _ADMINS,       # invitations, role changes, removals
    "audit.read": _ADMINS,           # the organisation's audit log
    "org.manage": _ADMINS,           # the organisation's own settings (its name)
    "budgets.read": _EVERYONE,       # budgets with their spend, forecast and state
    "budgets.write": _ANALYSTS,      # create, change and delete budgets
    "webhooks.manage": _ADMINS,      # where a budget's alerts are sent (its webhook and Slack URLs)
    "alerts.read": _EVERYONE,        # fired alerts and their delivery log
    "keys.manage": _ADMINS,          # create, list and revoke org API keys
}

# What an org API key may do: keys carry scopes instead of a role (SPEC §9).
KEY_SCOPES: dict[str, frozenset[str]] = {
    "ingest": frozenset({"usage.ingest"}),
    "read": frozenset({"usage.read", "agents.read"}),
}

# Routes anyone may call without a token: sign-in itself, health and discovery, the web app.
PUBLIC = "public"
# CLI commands that act on no organisation's data (start a server, write a sample file, check
# a deployment through its API with the caller's own credentials): what they reach, the
# process's own settings already grant.
HOST = "host"


class UnknownAction(KeyError):
    """An action that is not in ACTIONS: a programming error, caught at import time by the routes."""


def check_declared(action: str) -> str:
    if action not in (PUBLIC, HOST) and action not in ACTIONS:
        raise UnknownAction(action)
    return action


def allowed(role: Role | str, action: str) -> bool:
    if check_declared(action) == PUBLIC:
        return True
    return Role(role) in ACTIONS[action]


def is_role(value: str) -> bool:
    return value in Role._value2member_map_


def key_allowed(scopes: frozenset[str] | set[str], action: str) -> bool:
    check_declared(action)
    return any(action in KEY_SCOPES.get(scope, ()) for scope in scopes)
