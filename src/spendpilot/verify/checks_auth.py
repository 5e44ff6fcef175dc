"""Checks of health, sign-in, token refusal and the WebSocket handshake rules."""

from __future__ import annotations

import time

from websockets.exceptions import InvalidHandshake, InvalidStatus, NegotiationError

from spendpilot.realtime.handshake import PROTOCOL, jwt_subprotocol
from spendpilot.verify import tokens
from spendpilot.verify.client import Account, Conn, fresh_email, fresh_password, open_socket
from spendpilot.verify.context import Context
from spendpilot.verify.protocol import is_number
from spendpilot.verify.results import CheckFailed, fail_if

HEALTH_CHECKS = ("database", "bus", "analytics", "llm")


async def check_health(ctx: Context) -> str:
    body = await ctx.api.json("GET", "/health")
    problems = []
    if body.get("status") != "healthy":
        problems.append(f"status is {body.get('status')!r}")
    if body.get("service") != "spendpilot":
        problems.append(f"service is {body.get('service')!r}")
    if "version" not in body:
        problems.append("no version")
    fail_if(problems)
    return f"healthy, version {body['version']}"


async def check_api_health(ctx: Context) -> str:
    response = await ctx.api.call("GET", "/api/health")
    if response.status_code not in (200, 503):
        raise CheckFailed(f"GET /api/health: HTTP {response.status_code}")
    body = response.json()
    status, checks = body.get("status"), body.get("checks")
    problems = []
    if status not in ("healthy", "degraded", "unhealthy"):
        problems.append(f"status is {status!r}")
    if (response.status_code == 503) != (status == "unhealthy"):
        problems.append(f"HTTP {response.status_code} with status {status!r}")
    if not isinstance(checks, dict):
        fail_if(problems + ["checks is not an object"])
    for name in HEALTH_CHECKS:
        item = checks.get(name)
        if not isinstance(item, dict):
            problems.append(f"checks.{name} missing")
            continue
        for key in ("status", "engine", "latency_ms"):
            if key not in item:
                problems.append(f"checks.{name}.{key} missing")
        if "latency_ms" in item and not is_number(item["latency_ms"]):
            problems.append(f"checks.{name}.latency_ms is not a number")
    if status == "unhealthy":
        bad = [n for n, c in checks.items() if isinstance(c, dict) and c.get("status") != "healthy"]
        problems.append(f"unhealthy: {', '.join(bad)}")
    fail_if(problems)
    engines = ", ".join(f"{n}={checks[n].get('engine')}" for n in HEALTH_CHECKS)
    return f"{status}; {engines}"


async def check_login(ctx: Context) -> str:
    api = ctx.api
    started = time.perf_counter()
    if ctx.token:
        me = await api.json("GET", "/auth/me", ctx.token)
        ctx.account = Account(email=me.get("email"), access_token=ctx.token, user_id=me.get("id"))
        how = "given token"
    elif ctx.email and ctx.password:
        ctx.account = await api.login(ctx.email, ctx.password)
        how = f"POST /auth/login as {ctx.email}"
    else:
        email, password = fresh_email(), fresh_password()
        await api.register(email, password)
        taken = await api.call("POST", "/auth/register", json={"email": email, "password": password})
        if taken.status_code != 409:
            raise CheckFailed(f"registering {email} twice: HTTP {taken.status_code}, expected 409")
        wrong = await api.call("POST", "/auth/login", json={"email": email, "password": password + "x"})
        if wrong.status_code != 401:
            raise CheckFailed(f"login with a wrong password: HTTP {wrong.status_code}, expected 401")
        ctx.account = await api.login(email, password)
        how = f"registered {email} (201), duplicate 409, wrong password 401, login 200"
    ctx.record("login", (time.perf_counter() - started) * 1000.0)
    me = await api.json("GET", "/auth/me", ctx.account.access_token)
    problems = [f"/auth/me lacks {k}" for k in ("id", "email", "org") if k not in me]
    if ctx.account.user_id and me.get("id") != ctx.account.user_id:
        problems.append(f"/auth/me id {me.get('id')!r} differs from the login response")
    if ctx.account.email and str(me.get("email", "")).lower() != ctx.account.email.lower():
        problems.append(f"/auth/me email {me.get('email')!r} differs from {ctx.account.email!r}")
    ctx.account.user_id = me.get("id")
    unauth = await api.call("GET", "/auth/me")
    if unauth.status_code != 401:
        problems.append(f"/auth/me without a token: HTTP {unauth.status_code}, expected 401")
    fail_if(problems)
    return f"{how}; user {ctx.account.user_id}"


async def _refusal(ctx: Context, label: str, token: str | None, carrier: str, protocols: tuple[str, ...]) -> str | None:
    """None if the upgrade is refused with HTTP 403, else what happened instead."""
    try:
        conn = await open_socket(ctx.base, token, carrier=carrier, protocols=protocols, timeout=ctx.timeout)
    except InvalidStatus as exc:
        code = exc.response.status_code
        return None if code == 403 else f"{label}: HTTP {code} instead of 403"
    except InvalidHandshake as exc:
        return f"{label}: upgrade answered with a broken handshake instead of 403 ({exc})"
    await conn.close()
    return f"{label}: socket opened (101) instead of HTTP 403"


async def _refuse_all(ctx: Context, variants: list[tuple[str, str]]) -> str:
    """Present each bad token by both carriers; every attempt must get HTTP 403."""
    problems = []
    for label, token in variants:
        for carrier in ("bearer", "subprotocol"):
            problem = await _refusal(ctx, f"{label} via {carrier}", token, carrier, (PROTOCOL,))
            if problem:
                problems.append(problem)
    fail_if(problems)
    return f"HTTP 403 for {len(variants) * 2} attempts: " + ", ".join(label for label, _ in variants)


async def check_token_missing_refused(ctx: Context) -> str:
    problems = []
    attempts = [
        ("no token, spendpilot.v1 offered", None, "none", (PROTOCOL,)),
        ("no token, nothing offered", None, "none", ()),
        ("malformed bearer", "not-a-jwt", "bearer", (PROTOCOL,)),
        ("malformed jwt entry", "not-a-jwt", "subprotocol", (PROTOCOL,)),
        ("jwt entry that is not base64url", None, "none", (PROTOCOL, "jwt.!!!!")),
    ]
    for label, token, carrier, protocols in attempts:
        problem = await _refusal(ctx, label, token, carrier, protocols)
        if problem:
            problems.append(problem)
    fail_if(problems)
    return f"HTTP 403 for {len(attempts)} attempts (missing and malformed tokens)"


async def check_token_expired_refused(ctx: Context) -> str:
    token = ctx.need_account().access_token
    reason = await _refuse_all(ctx, [("exp in the past, original signature", tokens.expired_keeping_signature(token))])
    return reason + " (a validly signed expired token cannot be made without the server's key)"


async def check_token_forged_refused(ctx: Context) -> str:
    token = ctx.need_account().access_token
    variants = [
        ("signed with a fresh key under the server's kid", tokens.forged_with_fresh_key(token)),
        ("alg=none", tokens.alg_none(token)),
    ]
    note = ""
    jwks = await ctx.api.call("GET", "/.well-known/jwks.json")
    confused = tokens.hs256_with_public_key(token, jwks.json()) if jwks.status_code == 200 else None
    if confused:
        variants.append(("HS256 keyed with the published public key", confused))
    else:
        note = f" (no usable JWKS key for the token's kid: HTTP {jwks.status_code}; HS256 variant skipped)"
    return await _refuse_all(ctx, variants) + note


async def check_token_wrong_type_refused(ctx: Context) -> str:
    account = ctx.need_account()
    if not account.refresh_token:
        return "not applicable: no refresh token (signed in with --token)"
    return await _refuse_all(ctx, [("refresh token as access token", account.refresh_token)])


async def _handshake(ctx: Context, carrier: str, protocols: tuple[str, ...], path: str = "/ws") -> Conn:
    token = ctx.need_account().access_token
    try:
        return await open_socket(ctx.base, token, carrier=carrier, protocols=protocols, path=path, timeout=ctx.timeout)
    except InvalidStatus as exc:
        raise CheckFailed(f"{path}: upgrade refused with HTTP {exc.response.status_code}") from exc
    except NegotiationError as exc:
        raise CheckFailed(f"{path}: the client aborted: server selected a subprotocol not offered ({exc})") from exc
    except InvalidHandshake as exc:
        raise CheckFailed(f"{path}: the client aborted the handshake ({exc})") from exc


async def _expect_selected(ctx: Context, conn: Conn, expected: str | None, what: str) -> None:
    try:
        if conn.subprotocol not in conn.offered and conn.subprotocol is not None:
            raise CheckFailed(f"{what}: selected {conn.subprotocol!r}, never offered")
        if conn.subprotocol != expected:
            raise CheckFailed(f"{what}: selected {conn.subprotocol!r}, expected {expected!r}")
        await conn.expect("connection_ready", ctx.timeout)
    finally:
        await conn.close()


async def check_handshake_bearer(ctx: Context) -> str:
    started = time.perf_counter()
    conn = await _handshake(ctx, "bearer", ())
    ctx.record("handshake", (time.perf_counter() - started) * 1000.0)
    await _expect_selected(ctx, conn, None, "Authorization header, nothing offered")
    alias = await _handshake(ctx, "bearer", (PROTOCOL,), path="/api/v1/websocket")
    await _expect_selected(ctx, alias, PROTOCOL, "/api/v1/websocket alias")
    return "Authorization: Bearer accepted on /ws (no subprotocol) and on /api/v1/websocket"


async def check_handshake_subprotocol(ctx: Context) -> str:
    conn = await _handshake(ctx, "subprotocol", ())
    entry = jwt_subprotocol(ctx.need_account().access_token)
    await _expect_selected(ctx, conn, entry, "only the jwt entry offered")
    return "only jwt.<token> offered: server selected exactly that entry"


async def check_subprotocol_rule(ctx: Context) -> str:
    entry = jwt_subprotocol(ctx.need_account().access_token)
    conn = await _handshake(ctx, "subprotocol", (PROTOCOL,))
    await _expect_selected(ctx, conn, PROTOCOL, "spendpilot.v1 + jwt entry")
    conn = await _handshake(ctx, "none", (entry, PROTOCOL))
    await _expect_selected(ctx, conn, PROTOCOL, "jwt entry + spendpilot.v1")
    conn = await _handshake(ctx, "bearer", (PROTOCOL,))
    await _expect_selected(ctx, conn, PROTOCOL, "bearer + spendpilot.v1")
    return "spendpilot.v1 selected whenever offered, in any order and with either carrier"


async def check_connection_ready(ctx: Context) -> str:
    account = ctx.need_account()
    conn = await _handshake(ctx, "subprotocol", (PROTOCOL,))
    try:
        frame = await conn.expect("connection_ready", ctx.timeout)
    finally:
        await conn.close()
    data = frame.get("data") or {}
    problems = list(conn.problems)
    if not isinstance(data.get("connection_id"), str) or not data.get("connection_id"):
        problems.append("connection_id missing")
    if data.get("user_id") != account.user_id:
        problems.append(f"user_id {data.get('user_id')!r} is not the signed-in user {account.user_id!r}")
    if data.get("protocol") != PROTOCOL:
        problems.append(f"protocol is {data.get('protocol')!r}")
    if not is_number(data.get("heartbeat_s")) or data["heartbeat_s"] <= 0:
        problems.append(f"heartbeat_s is {data.get('heartbeat_s')!r}")
    if data.get("resume") is not True:
        problems.append(f"resume is {data.get('resume')!r}, expected true")
    fail_if(problems)
    return f"connection {data['connection_id']}, heartbeat {data['heartbeat_s']}s"
