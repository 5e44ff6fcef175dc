"""Load benchmark: N concurrent users each run the golden path to its final event."""

from __future__ import annotations

import asyncio
import json
import sys
import time

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from spendpilot.verify.bench_stats import STAGES, Registration, UserRun, seq_damage, summarise
from spendpilot.verify.client import Account, Api, ready_socket
from spendpilot.verify.results import CheckFailed
from spendpilot.verify.runs import drive_run, outcome_problems
from spendpilot.verify.sample_usage import sample_csv

REGISTER_CONCURRENCY = 8
REGISTER_ATTEMPTS = 4


async def _register_one(api: Api, registration: Registration) -> Account | None:
    for attempt in range(REGISTER_ATTEMPTS):
        try:
            return await api.register()
        except CheckFailed as exc:
            text = str(exc)
            retry = any(f"got HTTP {code}" in text for code in (429, 502, 503, 504))
            if not retry or attempt == REGISTER_ATTEMPTS - 1:
                registration.errors[text.split("got ")[-1][:8] or "failed"] += 1
                return None
        except httpx.HTTPError as exc:
            if attempt == REGISTER_ATTEMPTS - 1:
                registration.errors[type(exc).__name__] += 1
                return None
        registration.retries += 1
        await asyncio.sleep(0.5 * 2**attempt)
    return None


async def _seed(api: Api, account: Account, data: bytes, registration: Registration) -> bool:
    """Import the sample usage file into a fresh account's organisation."""
    try:
        response = await api.call("POST", "/api/usage/import", account.access_token,
                                  files={"file": ("usage.csv", data, "text/csv")})
    except httpx.HTTPError as exc:
        registration.errors[f"import:{type(exc).__name__}"] += 1
        return False
    if response.status_code != 200 or not response.json().get("imported"):
        registration.errors[f"import:HTTP {response.status_code}"] += 1
        return False
    return True


async def _accounts(api: Api, users: int, email: str | None, password: str | None,
                    progress: Progress, seed_rows: int = 0) -> tuple[list[Account], Registration]:
    registration = Registration()
    task = progress.add_task("accounts", total=users)
    started = time.perf_counter()
    if email and password:
        account = await api.login(email, password)
        accounts = [account] * users
        progress.update(task, completed=users)
    else:
        gate = asyncio.Semaphore(REGISTER_CONCURRENCY)
        data = sample_csv(seed_rows) if seed_rows else b""

        async def one() -> Account | None:
            async with gate:
                account = await _register_one(api, registration)
                if account is not None and data and not await _seed(api, account, data, registration):
                    account = None
            progress.advance(task)
            return account

        results = await asyncio.gather(*(one() for _ in range(users)))
        accounts = [a for a in results if a is not None]
    registration.seconds = time.perf_counter() - started
    registration.accounts = len({a.email for a in accounts}) if not email else 1
    return accounts, registration


def _classify(run: UserRun, out, problems: list[str]) -> None:
    if out.error is not None:
        run.error = f"error_frame:{out.error.get('data', {}).get('code')}"
    elif out.ack is None:
        run.error = f"closed:{out.closed}" if out.closed else "timeout:no_ack"
    elif not out.events:
        run.error = f"closed:{out.closed}" if out.closed else "timeout:no_events"
    elif out.final is None:
        run.error = f"closed:{out.closed}" if out.closed else "timeout:no_final"
    elif out.final.get("type") != "agent_completed":
        run.error = f"final:{out.final.get('type')}"
    elif problems:
        run.error = "protocol"
    run.detail = "; ".join(problems)[:500]


async def _one_user(index: int, base: str, account: Account, delay: float, timeout: float,
                    progress: Progress, tasks: dict) -> UserRun:
    run = UserRun(index=index)
    await asyncio.sleep(delay)
    started = time.perf_counter()
    try:
        conn, _ = await ready_socket(base, account.access_token, timeout)
    except InvalidStatus as exc:
        run.error, run.detail = f"handshake:{exc.response.status_code}", str(exc)
    except (InvalidHandshake, CheckFailed, ConnectionClosed, OSError, TimeoutError) as exc:
        run.error, run.detail = f"connect:{type(exc).__name__}", str(exc)
    if run.error:
        progress.advance(tasks["finished"])
        return run
    run.connect_ms = round((time.perf_counter() - started) * 1000.0, 1)
    progress.advance(tasks["connected"])
    try:
        out = await drive_run(conn, timeout=timeout, grace=0.2)
    except ConnectionClosed:
        run.error = f"closed:{conn.close_code or conn.ws.close_code}"
        progress.advance(tasks["finished"])
        return run
    finally:
        await conn.close()
    run.sent_at = out.sent_at
    run.ack_ms, run.first_event_ms, run.final_event_ms = out.ack_ms, out.first_event_ms, out.final_ms
    if out.final_ms is not None:
        run.final_at = out.sent_at + out.final_ms / 1000.0
    run.events = len(out.events)
    run.lost, run.duplicated, run.out_of_order = seq_damage(out.seqs())
    report = ((out.final or {}).get("data") or {}).get("report")
    if isinstance(report, dict):
        run.sufficiency = report.get("data_sufficiency")
    _classify(run, out, outcome_problems(out) + conn.problems)
    progress.advance(tasks["finished"])
    return run


async def abench(url: str, *, users: int, ramp: float = 0.0, email: str | None = None,
                 password: str | None = None, timeout: float = 120.0, seed_rows: int = 0,
                 console: Console | None = None) -> dict:
    """Run the benchmark and return its summary (see bench_stats.summarise)."""
    base = url.rstrip("/")
    console = console or Console(stderr=True)
    limits = httpx.Limits(
        max_connections=REGISTER_CONCURRENCY * 2 + 8, max_keepalive_connections=REGISTER_CONCURRENCY * 2
    )
    columns = (TextColumn("{task.description:>10}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
        with Progress(*columns, console=console) as progress:
            accounts, registration = await _accounts(Api(base, client), users, email, password, progress, seed_rows)
            tasks = {
                "connected": progress.add_task("connected", total=len(accounts)),
                "finished": progress.add_task("finished", total=len(accounts)),
            }
            step = ramp / len(accounts) if accounts else 0.0
            runs = await asyncio.gather(
                *(
                    _one_user(i, base, account, i * step, timeout, progress, tasks)
                    for i, account in enumerate(accounts)
                )
            )
    result = summarise(base, users, ramp, registration, list(runs))
    result["registration"]["seed_rows"] = seed_rows if not email else 0
    return result


def print_bench(result: dict, console: Console) -> None:
    """Latency percentiles, throughput, errors."""
    reg, runs, events = result["registration"], result["runs"], result["events"]
    console.print(
        f"[bold]spendpilot bench[/bold] {result['url']}: {result['users']} users, ramp {result['ramp_s']}s"
    )
    console.print(
        f"accounts: {reg['accounts']} in {reg['seconds']}s ({reg['per_s']}/s, {reg['retries']} retries"
        f"{', each seeded with ' + str(reg['seed_rows']) + ' usage rows' if reg.get('seed_rows') else ''})"
    )
    table = Table(title="golden-path latency (ms; connect from dial, others from send; every run that got there)")
    for column in ("stage", "n", "p50", "p95", "p99", "max"):
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in STAGES:
        row = result["latency_ms"][stage]
        table.add_row(stage, *(str(row[k]) if row[k] is not None else "-" for k in ("n", "p50", "p95", "p99", "max")))
    console.print(table)
    console.print(
        f"runs: {runs['completed']}/{runs['started']} completed ({runs['ended']} ended) in {runs['wall_s']}s "
        f"= {runs['runs_per_s']} runs/s; events {events['total']}, lost {events['lost']}, "
        f"duplicated {events['duplicated']}, out of order {events['out_of_order']}"
    )
    if result["data_sufficiency"]:
        console.print(f"report data sufficiency: {result['data_sufficiency']}")
    for kind, count in sorted(result["errors"].items()):
        example = result["error_examples"].get(kind, "")
        console.print(f"[red]error[/red] {kind}: {count}  {example}")
    console.print("[bold green]PASSED[/bold green]" if result["passed"] else "[bold red]FAILED[/bold red]")


def bench(url: str, *, users: int, ramp: float = 0.0, as_json: bool = False, email: str | None = None,
          password: str | None = None, timeout: float = 120.0, seed_rows: int = 0) -> int:
    """Run N concurrent golden paths; print a table (or JSON on stdout); 0 only if all runs were clean."""
    if users < 1:
        raise ValueError("--users must be at least 1")
    if (email is None) != (password is None):
        raise ValueError("--email and --password go together")
    result = asyncio.run(abench(url, users=users, ramp=ramp, email=email, password=password, timeout=timeout,
                                seed_rows=seed_rows, console=Console(stderr=True)))
    if as_json:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        print_bench(result, Console())
    return 0 if result["passed"] else 1
