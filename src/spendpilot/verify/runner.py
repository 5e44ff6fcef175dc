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
from spendpilot.verify.context import Context
from spendpilot.verify.output import print_report, write_json, write_junit
from spendpilot.verify.results import CheckFailed, CheckResult, VerifyReport

Check = Callable[[Context], Awaitable[str]]

CHECKS: list[tuple[str, Check]] = [
    ("health", auth.check_health),
    ("api_health", auth.check_api_health),
    ("login", auth.check_login),
    ("token_missing_refused", auth.check_token_missing_refused),
    ("token_expired_refused", auth.check_token_expired_refused),
    ("token_forged_refused", auth.check_token_forged_refused),
    ("token_wrong_type_refused", auth.check_token_wrong_type_refused),
    ("handshake_bearer", auth.check_handshake_bearer),
    ("handshake_subprotocol", auth.check_handshake_subprotocol),
    ("subprotocol_rule", auth.check_subprotocol_rule),
    ("connection_ready", auth.check_connection_ready),
    ("golden_path", run.check_golden_path),
    ("persistence", run.check_persistence),
    ("sse_replay", more.check_sse_replay),
    ("report_grounded", run.check_report_grounded),
    ("resume", run.check_resume),
    ("cancel", run.check_cancel),
    ("multi_tab", more.check_multi_tab),
    ("queued_message", more.check_queued_message),
    ("isolation", iso.check_isolation),
    ("bad_frames", iso.check_bad_frames),
    ("legacy_aliases", more.check_legacy_aliases),
]

CHECK_NAMES = [name for name, _ in CHECKS]

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
    except CheckFailed as exc:
        reason, passed = _describe(exc), False
    except TimeoutError:
        reason, passed = f"did not finish within {budget:g}s", False
    except (httpx.HTTPError, WebSocketException, OSError) as exc:
        reason, passed = _describe(exc), False
    except Exception as exc:  # noqa: BLE001 - a malformed answer must fail its check, not the run
        reason, passed = f"unexpected answer ({_describe(exc)})", False
    return CheckResult(name, passed, redact(reason), round((time.perf_counter() - started) * 1000.0, 1))


async def averify(
    url: str,
    *,
    email: str | None = None,
    password: str | None = None,
    token: str | None = None,
    timeout: float = 60.0,
    on_result: Callable[[CheckResult], None] | None = None,
) -> VerifyReport:
    """Run every check against `url` and return the report (no printing)."""
    report = VerifyReport(url=url.rstrip("/"))
    # One check may wait for up to three runs in sequence; the budget is a backstop only.
    budget = 3 * timeout + 10.0
    async with httpx.AsyncClient(timeout=timeout) as client:
        ctx = Context(base=report.url, api=Api(report.url, client), timeout=timeout,
                      email=email, password=password, token=token)
        unreachable = None
        for name, check in CHECKS:
            if unreachable:
                result = CheckResult(name, False, f"not run: {unreachable}", 0.0)
            else:
                result = await _run_one(name, check, ctx, budget)
                if name == "health" and "ConnectError" in result.reason:
                    unreachable = f"server unreachable ({result.reason})"
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
    timeout: float = 60.0,
    json_path: str | None = None,
    junit_path: str | None = None,
    console: Console | None = None,
) -> int:
    """Verify the golden path of a deployment; print tables, write files; 0 only if all passed."""
    if (email is None) != (password is None):
        raise ValueError("--email and --password go together")
    console = console or Console()
    with console.status("verifying...") as status:
        report = asyncio.run(
            averify(url, email=email, password=password, token=token, timeout=timeout,
                    on_result=lambda r: status.update(f"verifying... {r.name} {'ok' if r.passed else 'FAILED'}"))
        )
    print_report(report, console)
    if json_path:
        write_json(report, json_path)
    if junit_path:
        write_junit(report, junit_path)
    return 0 if report.passed else 1
