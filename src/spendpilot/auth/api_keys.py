"""Org API keys: created shown once, stored as a SHA-256, checked on every intake request, revoked everywhere in 1 s.

A key is `sp_` followed by 43 url-safe characters (32 random bytes), so a fast hash is enough: nobody can guess
a preimage, and checking stays cheap at thousands of requests a second. Each process keeps what it read about a
key for `ttl_s` (at most a second), so a revocation written to the database is refused by every instance within
that time without relying on anything but the database; the bus notice sent on revocation makes it immediate
where the bus is up.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update

from spendpilot.bus.base import EventBus
from spendpilot.clock import as_utc, iso, utcnow
from spendpilot.errors import InvalidInput, NotFound
from spendpilot.ids import new_id
from spendpilot.store.database import Database
from spendpilot.store.models import ApiKey, Org

KEY_PREFIX = "sp_"
SCOPES = ("ingest", "read")
# Characters of the key kept in clear to tell keys apart ("sp_" and 8 more).
SHOWN_CHARS = 11
# last_used_at is written at most this often per key and process: a busy key must not write on every request.
LAST_USED_EVERY = timedelta(seconds=60)
REVOKED_TOPIC = "api_key_revoked"
# Entries kept per process (valid and unknown keys alike); a flood of made-up keys cannot grow memory past it.
MAX_CACHED = 10_000


@dataclass(frozen=True)
class KeyPrincipal:
    """The caller of a request that carried an org API key."""

    key_id: str
    org_id: str
    name: str
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def looks_like_key(value: str | None) -> bool:
    return value is not None and value.startswith(KEY_PREFIX) and 32 <= len(value) <= 200


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def key_view(row: ApiKey) -> dict:
    return {"id": row.id, "name": row.name, "prefix": row.prefix, "scopes": row.scopes.split(),
            "created_at": iso(row.created_at), "last_used_at": iso(row.last_used_at)}


def normalize_scopes(scopes: list[str]) -> list[str]:
    wanted = sorted({s.strip().lower() for s in scopes})
    unknown = [s for s in wanted if s not in SCOPES]
    if unknown or not wanted:
        raise InvalidInput("invalid_scopes", f"scopes must be one or more of {', '.join(SCOPES)}")
    return wanted


@dataclass
class _Cached:
    until: float
    principal: KeyPrincipal | None
    last_used: datetime | None


class ApiKeyService:
    def __init__(self, db: Database, bus: EventBus | None = None, ttl_s: float = 0.5):
        self.db = db
        self.ttl_s = min(ttl_s, 1.0)
        self.bus = bus
        self._cache: dict[str, _Cached] = {}
        self._unsubscribe = bus.subscribe_notice(REVOKED_TOPIC, self._forget) if bus is not None else None

    async def create(self, org_id: str, name: str, scopes: list[str], created_by: str | None = None) -> dict:
        name = name.strip()
        if not name:
            raise InvalidInput("invalid_request", "name must not be empty")
        chosen = normalize_scopes(scopes)
        key = generate_key()
        row = ApiKey(id=new_id("key"), org_id=org_id, name=name[:100], prefix=key[:SHOWN_CHARS],
                     key_hash=hash_key(key), scopes=" ".join(chosen), created_by=created_by, created_at=utcnow())
        async with self.db.session() as s:
            if await s.get(Org, org_id) is None:
                raise NotFound.of("organisation")
            s.add(row)
            await s.commit()
        return {**key_view(row), "key": key}

    async def list(self, org_id: str) -> list[dict]:
        async with self.db.session() as s:
            rows = await s.scalars(select(ApiKey).where(ApiKey.org_id == org_id, ApiKey.revoked_at.is_(None))
                                   .order_by(ApiKey.created_at.desc(), ApiKey.id))
            return [key_view(row) for row in rows]

    async def revoke(self, org_id: str, key_id: str) -> None:
        """Refuse the key from now on; another org's key (or an unknown one) is not found."""
        async with self.db.session() as s:
            row = await s.get(ApiKey, key_id)
            if row is None or row.org_id != org_id or row.revoked_at is not None:
                raise NotFound.of("API key")
            row.revoked_at = utcnow()
            key_hash = row.key_hash
            await s.commit()
        self._forget(key_hash)
        if self.bus is not None:
            await self.bus.publish_notice(REVOKED_TOPIC, key_hash)

    async def authenticate(self, key: str) -> KeyPrincipal | None:
        """The key's org and scopes, or None for an unknown, malformed or revoked key."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        now = time.monotonic()
        cached = self._cache.get(digest)
        if cached is None or cached.until <= now:
            cached = await self._load(digest, now)
        return cached.principal

    async def _load(self, digest: str, now: float) -> _Cached:
        async with self.db.session() as s:
            row = await s.scalar(select(ApiKey).where(ApiKey.key_hash == digest))
            principal = None
            last_used = None
            if row is not None and row.revoked_at is None:
                principal = KeyPrincipal(row.id, row.org_id, row.name, frozenset(row.scopes.split()))
                last_used = as_utc(row.last_used_at) if row.last_used_at else None
                stamp = utcnow()
                if last_used is None or stamp - last_used >= LAST_USED_EVERY:
                    await s.execute(update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=stamp))
                    await s.commit()
                    last_used = stamp
        if len(self._cache) >= MAX_CACHED:
            self._evict(now)
        entry = self._cache[digest] = _Cached(now + self.ttl_s, principal, last_used)
        return entry

    def _evict(self, now: float) -> None:
        for digest in [d for d, c in self._cache.items() if c.until <= now]:
            del self._cache[digest]
        while len(self._cache) >= MAX_CACHED:
            self._cache.pop(next(iter(self._cache)))

    def _forget(self, key_hash: str) -> None:
        self._cache.pop(key_hash, None)

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
