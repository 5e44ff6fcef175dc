"""`spendpilot connectors list|add|remove|run`: the same service the API uses, as an admin of the organisation."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Any

import orjson
import typer

from spendpilot.auth.commands import CommandActor, authorise_command, record_command
from spendpilot.config import Settings

app = typer.Typer(help="Connectors: scheduled pulls of provider usage and cost APIs.", no_args_is_help=True)
ACTION = "connectors.manage"
AsOption = Annotated[str, typer.Option("--as", help="Email of the member acting: an admin of the organisation.")]
OrgOption = Annotated[str | None, typer.Option(help="Organisation id; the member's own when they have one.")]


def _actor(as_: str, org: str | None) -> CommandActor:
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return authorise_command(settings, as_, org, ACTION)


def _with_service(fn: Callable[[Any], Awaitable[Any]]) -> Any:
    from spendpilot.analytics.store import open_analytics
    from spendpilot.store.database import Database

    from .secrets import SecretBox
    from .service import ConnectorService

    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)

    async def run() -> Any:
        db = Database(settings.sqlalchemy_url)
        await db.migrate()
        store = open_analytics(settings)
        try:
            return await fn(ConnectorService(db, store, settings, SecretBox.from_settings(settings.secrets_key,
                                                                                          settings.data_dir)))
        finally:
            await store.close()
            await db.close()

    return asyncio.run(run())


def _print(value: Any) -> None:
    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode())


@app.command("list")
def list_connectors(as_: AsOption, org: OrgOption = None) -> None:
    """The organisation's connectors (never their keys)."""
    actor = _actor(as_, org)
    _print(_with_service(lambda service: service.list(actor.org_id)))


@app.command("add")
def add(kind: Annotated[str, typer.Argument(help="openai or anthropic")],
        as_: AsOption,
        org: OrgOption = None,
        name: Annotated[str, typer.Option(help="A name to tell it apart.")] = "",
        key_env: Annotated[str | None, typer.Option(help="Read the admin key from this environment variable "
                                                          "(otherwise it is asked for, hidden).")] = None,
        start: Annotated[datetime | None, typer.Option(help="Pull usage from this date (default 30 days ago).")] = None,
        interval_minutes: Annotated[int, typer.Option(help="Minutes between pulls.")] = 60) -> None:
    """Add a connector; the admin key is never taken from the command line, where shells keep history."""
    actor = _actor(as_, org)
    key = os.environ.get(key_env, "") if key_env else typer.prompt("Admin key", hide_input=True)
    if not key:
        raise typer.BadParameter(f"${key_env} is empty", param_hint="--key-env")
    from spendpilot.errors import AppError

    try:
        created = _with_service(lambda service: service.create(actor.org_id, actor.user_id, kind, name, key, start,
                                                               interval_minutes * 60))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    record_command(Settings(), actor, "connector.created", "connector", created["id"], {"kind": kind})
    _print(created)


@app.command("remove")
def remove(connector_id: str, as_: AsOption, org: OrgOption = None) -> None:
    """Remove a connector (the usage it imported stays)."""
    from spendpilot.errors import AppError

    actor = _actor(as_, org)
    try:
        _with_service(lambda service: service.delete(actor.org_id, connector_id))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    record_command(Settings(), actor, "connector.removed", "connector", connector_id, {})
    typer.echo(f"removed {connector_id}")


@app.command("run")
def run(connector_id: str, as_: AsOption, org: OrgOption = None) -> None:
    """Pull now and print the run's report; exits 1 when the pull failed."""
    from spendpilot.errors import AppError

    actor = _actor(as_, org)
    try:
        result = _with_service(lambda service: service.run_now(actor.org_id, connector_id, f"cli:{os.getpid()}"))
    except AppError as exc:
        typer.echo(f"error: {exc.message}", err=True)
        raise typer.Exit(2) from None
    _print(result)
    if result["status"] != "ok":
        raise typer.Exit(1)
