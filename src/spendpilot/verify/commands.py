"""Typer-facing `verify` and `bench` commands; cli.py registers them with app.command(...)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _credentials(email: str | None, password: str | None, token: str | None) -> None:
    if token and (email or password):
        raise typer.BadParameter("use either --email/--password or --token, not both")
    if (email is None) != (password is None):
        raise typer.BadParameter("--email and --password go together")


def verify_command(
    url: Annotated[str, typer.Argument(help="Base URL of the deployment, e.g. http://127.0.0.1:8000")],
    email: Annotated[str | None, typer.Option(help="Sign in as this user (with --password).")] = None,
    password: Annotated[str | None, typer.Option(help="Password for --email.")] = None,
    token: Annotated[str | None, typer.Option(help="Use this access token instead of signing in.")] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write the results as JSON to FILE.")] = None,
    junit_file: Annotated[Path | None, typer.Option("--junit", help="Write JUnit XML to FILE.")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds to wait for each HTTP answer and each "
                                                         "WebSocket handshake.")] = 10.0,
    ack_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds from sending a message to its ack "
                                                             "(SPEC: 1).")] = 1.0,
    first_event_timeout: Annotated[float, typer.Option(min=0.1, help="Seconds from sending a message to the "
                                                                     "first event of its run.")] = 5.0,
    run_deadline: Annotated[float, typer.Option(min=0.1, help="Seconds from sending a message to its run's final "
                                                              "event: the server's SPENDPILOT_RUN_DEADLINE_S.")]
    = 120.0,
) -> None:
    """Run the golden path against a deployment and check every guarantee of spendpilot.v1.

    Without credentials a fresh user is registered. Prints a line per check as it completes;
    every wait is bounded, so a server that never answers fails within seconds. Exits non-zero
    if any check fails.
    """
    from spendpilot.verify.runner import verify

    _credentials(email, password, token)
    code = verify(
        url,
        email=email,
        password=password,
        token=token,
        timeout=timeout,
        ack_timeout=ack_timeout,
        first_event_timeout=first_event_timeout,
        run_deadline=run_deadline,
        json_path=str(json_file) if json_file else None,
        junit_path=str(junit_file) if junit_file else None,
    )
    raise typer.Exit(code)


def bench_command(
    url: Annotated[str, typer.Argument(help="Base URL of the deployment.")],
    users: Annotated[int, typer.Option(min=1, help="Concurrent users, each running one golden path.")],
    ramp: Annotated[float, typer.Option(min=0.0, help="Spread the users' starts over S seconds.")] = 0.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")] = False,
    email: Annotated[str | None, typer.Option(help="Use this one account for every user (with --password).")] = None,
    password: Annotated[str | None, typer.Option(help="Password for --email.")] = None,
    timeout: Annotated[float, typer.Option(help="Seconds each run may take to reach its final event.")] = 120.0,
    seed_usage: Annotated[int, typer.Option(min=0, help="Import N synthetic usage rows into each new account.")] = 0,
) -> None:
    """Load-test the golden path with N concurrent users; report p50/p95/p99, throughput and errors.

    Each user gets a freshly registered account unless --email/--password is given; with
    --seed-usage its organisation first imports synthetic usage, so runs analyse real rows.
    """
    from spendpilot.verify.bench import bench

    _credentials(email, password, None)
    raise typer.Exit(
        bench(url, users=users, ramp=ramp, as_json=as_json, email=email, password=password, timeout=timeout,
              seed_rows=seed_usage)
    )
