"""Start-up refusals: settings a process must not start with, each named with its fix.

`problems()` holds the production rules; `serve_problem()` what a split deployment process
needs from its environment (Redis, PostgreSQL) before it starts. The production rules, each a
line in `problems()` that names the setting and the fix:

- signing key: SPENDPILOT_SIGNING_KEY must be set to an Ed25519 private key in PEM. Keys generated
  into the data dir are a development convenience (every instance would mint its own).
  SPENDPILOT_PREVIOUS_SIGNING_KEYS, if set, must hold such keys too.
- demo account: SPENDPILOT_SEED_DEMO must be false; the demo credentials are printed and public.
- CORS: no `*`, no `null`, and only https origins in SPENDPILOT_CORS_ORIGINS.
- database: PostgreSQL only (SQLite is one file for one process). Either on this machine
  (localhost or a unix socket) or with TLS required: sslmode=require|verify-ca|verify-full
  (or asyncpg's ssl=...). Well-known default passwords are refused.
- Redis and ClickHouse on another machine must use TLS (rediss://, https://).
- Gateway upstreams (SPENDPILOT_GATEWAY_OPENAI_URL, SPENDPILOT_GATEWAY_ANTHROPIC_URL) on another machine must
  be https: the callers' provider keys travel to them.
- TLS: SPENDPILOT_BEHIND_TLS must be true (tokens travel in every request; HSTS is sent).
- OAuth: when a provider is configured, SPENDPILOT_PUBLIC_URL must be an https URL (the
  callback address registered with the provider), discovery URLs must be https, and a
  confidential client needs its secret.
"""

from __future__ import annotations

import asyncio
from typing import TextIO
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis

from spendpilot.config import Settings

DEFAULT_DEMO_PASSWORD = "spendpilot-demo"
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}
_WEAK_DB_PASSWORDS = {"postgres", "password", "spendpilot", "changeme", "secret", "admin", "root", "test"}
_TLS_SSLMODES = {"require", "verify-ca", "verify-full"}
_TLS_SSL_VALUES = {"require", "verify-ca", "verify-full", "true", "1"}


def problems(settings: Settings) -> list[str]:
    """Every reason this configuration must not run in production (empty outside production)."""
    if settings.env != "production":
        return []
    found: list[str] = []
    found += _signing_key(settings)
    found += _demo(settings)
    found += _cors(settings)
    found += _database(settings.database_url)
    found += _remote_tls("SPENDPILOT_REDIS_URL", settings.redis_url, secure_schemes={"rediss"})
    found += _remote_tls("SPENDPILOT_CLICKHOUSE_URL", settings.clickhouse_url,
                         secure_schemes={"https", "clickhouses"})
    for name, url in (("SPENDPILOT_GATEWAY_OPENAI_URL", settings.gateway_openai_url),
                      ("SPENDPILOT_GATEWAY_ANTHROPIC_URL", settings.gateway_anthropic_url)):
        found += _remote_tls(name, url, secure_schemes={"https"})
    if not settings.behind_tls:
        found.append("SPENDPILOT_BEHIND_TLS is false: serve production over HTTPS (terminate TLS in front of "
                     "Spendpilot) and set SPENDPILOT_BEHIND_TLS=true")
    found += _oauth(settings)
    return found


def _signing_key(settings: Settings) -> list[str]:
    if not settings.signing_key:
        return ["SPENDPILOT_SIGNING_KEY is not set: production must not use keys generated into the data dir; "
                "set it to an Ed25519 private key in PEM (`openssl genpkey -algorithm ed25519`)"]
    from spendpilot.auth.signing import KeyRing

    try:
        KeyRing.from_pem(settings.signing_key)
    except Exception:
        return ["SPENDPILOT_SIGNING_KEY is not an unencrypted Ed25519 private key in PEM: "
                "generate one with `openssl genpkey -algorithm ed25519`"]
    for index, pem in enumerate(settings.previous_signing_keys):
        try:
            KeyRing.from_pem(pem)
        except Exception:
            return [f"SPENDPILOT_PREVIOUS_SIGNING_KEYS[{index}] is not an Ed25519 private key in PEM: "
                    "remove it or replace it with the key that signed before"]
    return []


def _demo(settings: Settings) -> list[str]:
    if not settings.seed_demo:
        return []
    default = " with the default password" if settings.demo_password == DEFAULT_DEMO_PASSWORD else ""
    return [f"SPENDPILOT_SEED_DEMO is true: production must not create the demo account ({settings.demo_email}"
            f"{default}, printed at start); set SPENDPILOT_SEED_DEMO=false"]


def _cors(settings: Settings) -> list[str]:
    found = []
    for origin in settings.cors_origins:
        if origin.strip() in ("*", "null"):
            found.append(f"SPENDPILOT_CORS_ORIGINS contains {origin.strip()!r}: list the exact https origins of "
                         "your web clients instead")
        elif urlsplit(origin).scheme != "https":
            found.append(f"SPENDPILOT_CORS_ORIGINS contains {origin!r}: production origins must be https://")
    return found


def _database(url: str | None) -> list[str]:
    if not url:
        return ["SPENDPILOT_DATABASE_URL is not set (a SQLite file in the data dir): production uses PostgreSQL, "
                "e.g. postgresql://user:pass@db.example.com/spendpilot?sslmode=require"]
    parts = urlsplit(url)
    scheme = parts.scheme.split("+")[0]
    if scheme not in ("postgresql", "postgres"):
        return [f"SPENDPILOT_DATABASE_URL uses {scheme or 'an unknown scheme'}: production uses PostgreSQL "
                "(postgresql://...?sslmode=require)"]
    found = []
    query = {k.lower(): [v.lower() for v in vs] for k, vs in parse_qs(parts.query).items()}
    host = (parts.hostname or "").lower()
    unix_socket = any(v.startswith("/") for v in query.get("host", [])) or (not host and not parts.port)
    local = unix_socket or host in _LOCAL_HOSTS
    tls = any(v in _TLS_SSLMODES for v in query.get("sslmode", [])) or \
        any(v in _TLS_SSL_VALUES for v in query.get("ssl", []))
    if not local and not tls:
        found.append(f"SPENDPILOT_DATABASE_URL reaches {host} without TLS: add ?sslmode=require "
                     "(or verify-full), or use a unix socket / localhost")
    if parts.password is not None and unquote(parts.password).lower() in _WEAK_DB_PASSWORDS:
        found.append("SPENDPILOT_DATABASE_URL uses a well-known default password: set a strong one")
    return found


def _remote_tls(name: str, url: str | None, secure_schemes: set[str]) -> list[str]:
    if not url:
        return []
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme in secure_schemes or host in _LOCAL_HOSTS or not host:
        return []
    wanted = " or ".join(f"{s}://" for s in sorted(secure_schemes))
    return [f"{name} reaches {host} without TLS: use {wanted}"]


def _oauth(settings: Settings) -> list[str]:
    from spendpilot.auth.oauth import configured_providers

    providers = configured_providers(settings)
    if not providers:
        if settings.oidc_discovery_url and not settings.oidc_client_id:
            return ["SPENDPILOT_OIDC_DISCOVERY_URL is set without SPENDPILOT_OIDC_CLIENT_ID: set both or neither"]
        return []
    found = []
    if not settings.public_url or urlsplit(settings.public_url).scheme != "https":
        found.append("SPENDPILOT_PUBLIC_URL must be the https address users reach Spendpilot at when sign-in "
                     "providers are configured (it forms the callback URL registered with the provider)")
    if settings.google_client_id and not settings.google_client_secret:
        found.append("SPENDPILOT_GOOGLE_CLIENT_SECRET is not set: Google sign-in needs the client secret")
    if settings.oidc_discovery_url and urlsplit(settings.oidc_discovery_url).scheme != "https":
        found.append("SPENDPILOT_OIDC_DISCOVERY_URL must be https:// in production")
    return found


def format_problems(found: list[str]) -> str:
    """The message the CLI prints before exiting with code 2."""
    lines = [f"Spendpilot will not start in production: {len(found)} setting(s) to fix:"]
    lines += [f"  - {p}" for p in found]
    return "\n".join(lines)


def exit_if_unsafe(settings: Settings, stream: TextIO | None = None) -> None:
    """Called by `spendpilot up` and `serve` before anything starts: print every problem, exit 2."""
    import sys

    found = problems(settings)
    if found:
        print(format_problems(found), file=stream or sys.stderr)
        raise SystemExit(2)


def serve_problem(settings: Settings) -> str | None:
    """Why a `serve` process cannot start, in words an operator can act on; None when it can."""
    if not settings.redis_url:
        return "SPENDPILOT_REDIS_URL is not set; `serve` needs Redis (use `spendpilot up` for one process)."
    if settings.role != "all" and not settings.database_url:
        return (f"SPENDPILOT_DATABASE_URL is not set; the {settings.role} role shares PostgreSQL with the other "
                "processes (e.g. postgresql://user:pass@host:5432/spendpilot).")
    problem = asyncio.run(_redis_problem(settings.redis_url))
    if problem:
        return (f"Redis at {redacted_url(settings.redis_url)} is unreachable ({problem}); "
                "start it or fix SPENDPILOT_REDIS_URL.")
    return None


async def _redis_problem(url: str) -> str | None:
    client = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
    try:
        await client.ping()
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    finally:
        await client.aclose()
    return None


def redacted_url(url: str) -> str:
    """The URL without its credentials, for messages an operator reads."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return scheme + sep + rest
