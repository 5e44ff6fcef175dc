"""Run the named checks in order against one deployment and report."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable

import httpx
from rich.console import Console
from websockets.exceptions import WebSocketException

from spendpilot.verify import checks_auth as auth
from spendpilot.verify import checks_isolation as iso
from spendpilot.verify import checks_more as more
from spendpilot.verify import checks_run as run
from spendpilot.verify.client import Api
from spendpilot.verify.context import Bounds, Context
from spendpilot.verify.output import print_check, print_header, print_summary, write_json, write_junit
from spendpilot.verify.results import CheckFailed, CheckResult, Silent, VerifyReport

Check = Callable[[Context], Awaitable[str]]

# (name, check, what it needs besides an answering server: "socket" and/or "runs"). A check
# whose need another check found unanswered is reported "not run" at once: the verifier tells
# you fast instead of waiting out the same bound again and again.
SOCKET, RUNS = ("socket",), ("socket", "runs")
CHECKS: list[tuple[str, Check, tuple[str, ...]]] = [
    ("health", auth.check_health, ()),
    ("api_health", auth.check_api_health, ()),
    ("login", auth.check_login, ()),
    ("token_missing_refused", auth.check_token_missing_refused, SOCKET),
    ("token_expired_refused", auth.check_token_expired_refused, SOCKET),
    ("token_forged_refused", auth.check_token_forged_refused, SOCKET),
    ("token_wrong_type_refused", auth.check_token_wrong_type_refused, SOCKET),
    ("handshake_bearer", auth.check_handshake_bearer, SOCKET),
    ("handshake_subprotocol", auth.check_handshake_subprotocol, SOCKET),
    ("subprotocol_rule", auth.check_subprotocol_rule, SOCKET),
    ("connection_ready", auth.check_connection_ready, SOCKET),
    ("golden_path", run.check_golden_path, SOCKET),
    ("persistence", run.check_persistence, ()),
    ("sse_replay", more.check_sse_replay, ("runs",)),
    ("report_grounded", run.check_report_grounded, ()),
    ("resume", run.check_resume, RUNS),
    ("cancel", run.check_cancel, RUNS),
    ("multi_tab", more.check_multi_tab, RUNS),
    ("queued_message", more.check_queued_message, RUNS),
    ("isolation", iso.check_isolation, RUNS),
    ("bad_frames", iso.check_bad_frames, SOCKET),
    ("legacy_aliases", more.check_legacy_aliases, RUNS),
]

CHECK_NAMES = [name for name, _, _ in CHECKS]

_SECRETS = [
    (re.compile(r"jwt\.[A-Za-z0-9_-]{16,}"), "jwt.<token>"),
    (re.compile(r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "<jwt>"),
]


def redact(text: str) -> str:
    """Keep tokens out of tables, JSON and JUnit files."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, (CheckFailed,)):
        return text
    return f"{type(exc).__name__}: {text}"


async def _run_one(name: str, check: Check, ctx: Context, budget: float) -> CheckResult:
    started = time.perf_counter()
    try:
        reason, passed = await asyncio.wait_for(check(ctx), budget), True
    except Silent as exc:
        ctx.down.setdefault(exc.capability, f"{name}: {exc}")
        reason, passed = str(exc), False
    except CheckFailed as exc:
        reason, passed = _describe(exc), False
    except TimeoutError:
        reason, passed = f"did not finish within {budget:g}s", False
    except httpx.TransportError as exc:
        # No answer over HTTP at all (refused, reset, timed out): nothing after this can pass.
        ctx.down.setdefault("server", f"{name}: {_describe(exc)}")
        reason, passed = _describe(exc), False
    except (httpx.HTTPError, WebSocketException, OSError) as exc:
        reason, passed = _describe(exc), False
    except Exception as exc:  # noqa: BLE001 - a malformed answer must fail its check, not the run
        reason, passed = f"unexpected answer ({_describe(exc)})", False
    return CheckResult(name, passed, redact(reason), round((time.perf_counter() - started) * 1000.0, 1))


def _not_run(ctx: Context, needs: tuple[str, ...]) -> str | None:
    """Why a check cannot run, if the server was found not to answer what it needs."""
    if "server" in ctx.down:
        return f"not run: server unreachable ({ctx.down['server']})"
    missing = next((need for need in needs if need in ctx.down), None)
    return f"not run: {missing} unanswered ({ctx.down[missing]})" if missing else None


async def averify(
    url: str,
    *,
    email: str | None = None,
    password: str | None = None,
    token: str | None = None,
    bounds: Bounds | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> VerifyReport:
    """Run every check against `url` and return the report (no printing)."""
    bounds = bounds or Bounds()
    report = VerifyReport(url=url.rstrip("/"), bounds=bounds.as_dict())
    # A check may wait for up to two runs in sequence and a few requests; the budget is a backstop only.
    budget = 2 * bounds.final_s + 6 * bounds.request_s
    async with httpx.AsyncClient(timeout=bounds.request_s) as client:
        ctx = Context(base=report.url, api=Api(report.url, client), bounds=bounds,
                      email=email, password=password, token=token)
        for name, check, needs in CHECKS:
            if on_start is not None:
                on_start(name)
            skipped = _not_run(ctx, needs)
            result = CheckResult(name, False, skipped, 0.0) if skipped else await _run_one(name, check, ctx, budget)
            report.checks.append(result)
            if on_result is not None:
                on_result(result)
        report.latencies_ms = dict(ctx.latencies_ms)
    return report


def verify(
    url: str,
    *,
    email: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 10.0,
    ack_timeout: float = 1.0,
    first_event_timeout: float = 5.0,
    run_deadline: float = 120.0,
    json_path: str | None = None,
    junit_path: str | None = None,
    console: Console | None = None,
) -> int:
    """Verify the golden path of a deployment: a line per check as it completes, then the summary.

    `timeout` bounds each HTTP request and socket handshake; the run's stages are bounded by
    `ack_timeout`, `first_event_timeout` and `run_deadline`. Writes JSON/JUnit files when asked;
    returns 0 only if every check passed.
    """
    if (email is None) != (password is None):
        raise ValueError("--email and --password go together")
    console = console or Console()
    bounds = Bounds(request_s=timeout, ack_s=ack_timeout, first_event_s=first_event_timeout,
                    run_deadline_s=run_deadline)
    print_header(url, bounds, console)
    with console.status("verifying...") as status:
        report = asyncio.run(
            averify(url, email=email, password=password, token=token, bounds=bounds,
                    on_start=lambda name: status.update(f"verifying: {name}..."),
                    on_result=lambda result: print_check(result, console))
        )
    print_summary(report, console)
    if json_path:
        write_json(report, json_path)
    if junit_path:
        write_junit(report, junit_path)
    return 0 if report.passed else 1
