"""CLI functions for the auth package (registered by cli.py): signing key rotation."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from spendpilot.auth.signing import KeyRing, rotate_key
from spendpilot.config import Settings

console = Console(stderr=True)


def rotate_key_command(
    data_dir: Annotated[Path | None, typer.Option(help="Data directory whose keys/ to rotate.")] = None,
) -> None:
    """Add a new signing key: new tokens use it, tokens signed before stay valid until they expire.

    Restart the servers to start signing with it. Keys whose successor is older than the
    refresh token lifetime are removed, since no valid token can still carry them.
    """
    settings = Settings(data_dir=data_dir) if data_dir else Settings()
    if settings.signing_key:
        console.print("SPENDPILOT_SIGNING_KEY is set, so keys come from the environment, not the data dir: "
                      "rotate by deploying a new key there.")
        raise typer.Exit(2)
    keys_dir = settings.data_dir / "keys"
    new, removed = rotate_key(keys_dir, settings.refresh_token_ttl_s)
    ring = KeyRing.load_or_create(keys_dir)
    console.print(f"New signing key {ring.active.kid} in {new}; restart Spendpilot to sign with it.")
    for path in removed:
        console.print(f"Removed retired key {path.name}")


keys_app = typer.Typer(help="Org API keys for live intake (OTLP receiver, gateway) and read access.",
                       no_args_is_help=True)
OrgOption = Annotated[str, typer.Option(help="Organisation id the keys belong to.")]
DataDirOption = Annotated[Path | None, typer.Option(help="Data directory (when SPENDPILOT_DATABASE_URL is unset).")]


def _with_keys(data_dir: Path | None, work):
    """Run `work(ApiKeyService)` against the configured database; the migrations run first, as at start."""
    import asyncio

    from spendpilot.auth.api_keys import ApiKeyService
    from spendpilot.store.database import Database

    settings = Settings(data_dir=data_dir) if data_dir else Settings()

    async def run():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        db = Database(settings.sqlalchemy_url, pool_size=2, max_overflow=0)
        try:
            await db.migrate()
            return await work(ApiKeyService(db))
        finally:
            await db.close()

    return asyncio.run(run())


def _fail(exc: Exception) -> None:
    from spendpilot.errors import AppError

    if isinstance(exc, AppError):
        console.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(2)
    raise exc


@keys_app.command("create")
def keys_create(name: Annotated[str, typer.Option(help="What the key is for, e.g. the app sending usage.")],
                scope: Annotated[list[str] | None, typer.Option(help="ingest (send usage) and/or read; "
                                                                     "repeatable (default: ingest).")] = None,
                org: OrgOption = "org_demo", data_dir: DataDirOption = None) -> None:
    """Create a key; it is printed once, on stdout, and stored only as a hash."""
    try:
        created = _with_keys(data_dir, lambda keys: keys.create(org, name, list(scope or ['ingest'])))
    except Exception as exc:
        _fail(exc)
        return
    console.print(f"Created {created['id']} ({', '.join(created['scopes'])}) for {org}. "
                  "Copy the key now: it is not shown again.")
    typer.echo(created["key"])


@keys_app.command("list")
def keys_list(org: OrgOption = "org_demo", data_dir: DataDirOption = None) -> None:
    """The org's active keys (the keys themselves are never shown again)."""
    for key in _with_keys(data_dir, lambda keys: keys.list(org)):
        typer.echo(f"{key['id']}  {key['prefix']}...  {key['name']}  scopes={','.join(key['scopes'])}  "
                   f"created={key['created_at']}  last_used={key['last_used_at'] or 'never'}")


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from `keys list`.")],
                org: OrgOption = "org_demo", data_dir: DataDirOption = None) -> None:
    """Revoke a key: every instance refuses it within a second."""
    try:
        _with_keys(data_dir, lambda keys: keys.revoke(org, key_id))
    except Exception as exc:
        _fail(exc)
        return
    console.print(f"Revoked {key_id}.")
