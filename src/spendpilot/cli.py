"""The spendpilot command: up, serve, migrate, ingest, formats, demo-data, mcp, verify, bench, keys, connectors."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer
from rich.console import Console

from spendpilot.auth.permissions import HOST
from spendpilot.config import ROLES, Role, Settings

app = typer.Typer(help="Spendpilot: see where your AI money goes.", no_args_is_help=True,
                  pretty_exceptions_enable=False)
console = Console(stderr=True)

# What each command does, declared like every route (auth.permissions): an action, checked
# against the role of the member a command acts as (--as), or HOST for commands that act on no
# organisation's data. tests/unit/api/test_permissions.py fails on a command missing here.
COMMAND_ACTIONS: dict[str, str] = {
    "up": HOST,
    "serve": HOST,
    "ingest": "usage.import",
    "formats": HOST,
    "demo-data": HOST,
    "verify": HOST,       # talks to a server through its API, with that server's checks
    "bench": HOST,
    "rotate-key": HOST,
    "migrate": HOST,      # prepares the stores a host's processes share
    "mcp": HOST,          # speaks for a server through its /mcp, with that server's checks on its API key
    "keys create": "keys.manage",
    "keys list": "keys.manage",
    "keys revoke": "keys.manage",
    "connectors list": "connectors.manage",
    "connectors add": "connectors.manage",
    "connectors remove": "connectors.manage",
    "connectors run": "connectors.manage",
}


def _settings(data_dir: Path | None) -> Settings:
    return Settings(data_dir=data_dir) if data_dir else Settings()


@app.command()
def up(host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
       port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
       data_dir: Annotated[Path | None, typer.Option(help="Where the embedded stores live.")] = None) -> None:
    """Everything in one process on embedded defaults, with a demo organisation."""
    from spendpilot.server.serve import up as run_up

    raise typer.Exit(run_up(_settings(data_dir), host, port))


@app.command()
def serve(role: Annotated[str, typer.Option(help="api (HTTP and WebSocket), worker (runs) or all.")] = "all",
          host: Annotated[str, typer.Option(help="Interface to listen on (api and all).")] = "0.0.0.0",
          port: Annotated[int, typer.Option(help="Port to listen on (api and all).")] = 8000) -> None:
    """Split deployment on PostgreSQL, Redis and ClickHouse, configured by SPENDPILOT_* variables."""
    from spendpilot.server.serve import serve as run_role

    if role not in ROLES:
        raise typer.BadParameter("role must be api, worker or all", param_hint="--role")
    raise typer.Exit(run_role(cast(Role, role), host, port))


@app.command()
def migrate(data_dir: Annotated[Path | None, typer.Option(help="Where the embedded stores live.")] = None) -> None:
    """Create or upgrade the database tables and the analytics schema, then exit.

    Every process does this at start; run it alone before a rollout or to restore a backup
    into an empty store. Reads the same SPENDPILOT_* settings as `serve`.
    """
    import asyncio

    from spendpilot.server.bootstrap import migrate_stores

    for line in asyncio.run(migrate_stores(_settings(data_dir))):
        console.print(line, highlight=False, soft_wrap=True)


@app.command()
def ingest(file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="Usage file to import.")],
           as_: Annotated[str, typer.Option("--as", help="Email of the member importing: their role in the "
                                                         "organisation must allow imports (analyst or admin).")],
           format: Annotated[str | None, typer.Option(help="A format name (see `spendpilot formats`); "
                                                           "detected from the file when omitted.")] = None,
           org: Annotated[str | None, typer.Option(help="Organisation id to import into; the member's own "
                                                        "when they have one.")] = None,
           data_dir: Annotated[Path | None, typer.Option()] = None) -> None:
    """Import usage data (format auto-detected unless named) as a member of the organisation; prints the report."""
    from spendpilot.analytics.commands import ingest_file, report_lines
    from spendpilot.analytics.importers import ImportFormatError
    from spendpilot.auth.commands import authorise_command, record_command
    from spendpilot.store.audit import import_detail

    settings = _settings(data_dir)
    actor = authorise_command(settings, as_, org, COMMAND_ACTIONS["ingest"])
    try:
        result = ingest_file(settings, file, actor.org_id, format)
    except ImportFormatError as exc:
        console.print(f"{file.name}: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    record_command(settings, actor, "usage.imported", "file", file.name[:200], import_detail(result))
    for line in report_lines(result):
        typer.echo(line)


@app.command()
def formats() -> None:
    """List the usage formats `ingest` reads, in the order they are recognised."""
    from spendpilot.analytics.importers import FORMATS

    for fmt in FORMATS:
        aliases = f" (also: {', '.join(fmt.aliases)})" if fmt.aliases else ""
        typer.echo(f"{fmt.name}{aliases}: {fmt.label}\n    identity: {fmt.identity}")


@app.command("demo-data")
def demo_data(out: Annotated[Path, typer.Argument(help="CSV file to write.")] = Path("demo-usage.csv"),
              rows: Annotated[int, typer.Option(help="Number of rows.")] = 60_000) -> None:
    """Write realistic usage with known waste patterns as a generic CSV."""
    from spendpilot.analytics.commands import demo_data as write_demo

    write_demo(out, rows)
    console.print(f"wrote {rows} rows to {out}")


@app.command()
def mcp() -> None:
    """MCP server over stdio for desktop clients (Claude Desktop, Cursor), speaking for SPENDPILOT_URL with
    SPENDPILOT_API_KEY (an org API key with the read scope)."""
    from spendpilot.config import McpClientSettings
    from spendpilot.interop.stdio import serve_stdio

    try:
        serve_stdio(McpClientSettings())
    except ValueError as exc:
        console.print(f"spendpilot mcp: {exc}")
        raise typer.Exit(2) from None


def _register_client_commands() -> None:
    from spendpilot.auth.commands import rotate_key_command
    from spendpilot.auth.key_commands import keys_app
    from spendpilot.connectors.commands import app as connectors_app
    from spendpilot.verify.commands import bench_command, verify_command

    app.command("verify", help="Check the golden path against any deployment.")(verify_command)
    app.command("bench", help="Load-test the golden path with N concurrent users.")(bench_command)
    app.add_typer(connectors_app, name="connectors")
    app.command("rotate-key", help="Add a new signing key; tokens signed before stay valid until they expire.")(
        rotate_key_command)
    app.add_typer(keys_app, name="keys")


_register_client_commands()


def main() -> None:
    app()
