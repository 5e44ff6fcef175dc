"""`spendpilot keys create|list|revoke`: org API keys from the command line, as a member allowed to manage them."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from spendpilot.auth.api_keys import ApiKeyService
from spendpilot.auth.commands import CommandActor, authorise_command, record_command
from spendpilot.config import Settings
from spendpilot.errors import AppError
from spendpilot.store.database import Database

ACTION = "keys.manage"

keys_app = typer.Typer(help="Org API keys for live intake (OTLP receiver, gateway) and read access.",
                       no_args_is_help=True)
console = Console(stderr=True)

AsOption = Annotated[str, typer.Option("--as", help="Email of the member acting: an admin of the organisation.")]
OrgOption = Annotated[str | None, typer.Option(help="Organisation id; the member's own when they have one.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Data directory (when SPENDPILOT_DATABASE_URL is unset).")]


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


def _with_keys(settings: Settings, work: Callable[[ApiKeyService], Awaitable[Any]]) -> Any:
    """Run `work(ApiKeyService)` against the configured database; a refusal is a message and exit code 2."""

    async def run() -> Any:
        db = Database(settings.sqlalchemy_url, pool_size=2, max_overflow=0)
        try:
            await db.migrate()
            return await work(ApiKeyService(db))
        finally:
            await db.close()

    try:
        return asyncio.run(run())
    except AppError as exc:
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2) from None


def _actor(settings: Settings, as_: str, org: str | None) -> CommandActor:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return authorise_command(settings, as_, org, ACTION)


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="What the key is for, e.g. the app sending usage.")],
                as_: AsOption,
                scope: Annotated[list[str] | None, typer.Option(help="ingest (send usage) and/or read; "
                                                                     "repeatable (default: ingest).")] = None,
                org: OrgOption = None, data_dir: DataDirOption = None) -> None:
    """Create a key; it is printed once, on stdout, and stored only as a hash."""
    settings = _settings(data_dir)
    actor = _actor(settings, as_, org)
    created = _with_keys(settings, lambda keys: keys.create(actor.org_id, name, list(scope or ["ingest"]),
                                                            created_by=actor.user_id))
    record_command(settings, actor, "key.created", "api_key", created["id"],
                   {"name": created["name"], "scopes": created["scopes"]})
    console.print(f"Created {created['id']} ({', '.join(created['scopes'])}) for {actor.org_id}. "
                  "Copy the key now: it is not shown again.")
    typer.echo(created["key"])


@keys_app.command("list")
def keys_list(as_: AsOption, org: OrgOption = None, data_dir: DataDirOption = None) -> None:
    """The org's active keys (the keys themselves are never shown again)."""
    settings = _settings(data_dir)
    actor = _actor(settings, as_, org)
    for key in _with_keys(settings, lambda keys: keys.list(actor.org_id)):
        typer.echo(f"{key['id']}  {key['prefix']}...  {key['name']}  scopes={','.join(key['scopes'])}  "
                   f"created={key['created_at']}  last_used={key['last_used_at'] or 'never'}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from `keys list`.")],
                as_: AsOption, org: OrgOption = None, data_dir: DataDirOption = None) -> None:
    """Revoke a key: every instance refuses it within a second."""
    settings = _settings(data_dir)
    actor = _actor(settings, as_, org)
    _with_keys(settings, lambda keys: keys.revoke(actor.org_id, key_id))
    record_command(settings, actor, "key.revoked", "api_key", key_id, {})
    console.print(f"Revoked {key_id}.")
