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
