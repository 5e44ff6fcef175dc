"""deploy/: the compose file, the Dockerfile, the proxy and the README agree with the code they deploy.

Docker is not needed: the files are read as Compose, Docker and Caddy read them, the commands
are parsed by the real CLI, the settings by the real Settings, the routes looked up in the real
app, and the image's package is built from exactly what the Dockerfile copies.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import typer
import yaml
from packaging.specifiers import SpecifierSet
from packaging.version import Version

import spendpilot
from spendpilot.cli import app as cli_app
from spendpilot.config import Settings
from spendpilot.server.preflight import split_problem
from tests.support.server import RunningServer, free_port

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
SETTINGS = {f"SPENDPILOT_{name.upper()}" for name in Settings.model_fields}
SPENDPILOT_NAME = re.compile(r"\bSPENDPILOT_[A-Z0-9_]*[A-Z0-9]\b")
# ${NAME}, ${NAME:-default}, ${NAME:?message} as Compose interpolates them.
INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:[-?])(?P<arg>[^}]*))?\}")
DEPLOY_FILES = ["compose.yaml", "Dockerfile", "Caddyfile", "README.md", "env.sh", "backup.sh"]


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def required_variables() -> set[str]:
    return {m["name"] for m in INTERPOLATION.finditer((DEPLOY / "compose.yaml").read_text()) if m["op"] == ":?"}


def interpolate(value: str, given: dict[str, str]) -> str:
    def one(match: re.Match) -> str:
        if match["name"] in given:
            return given[match["name"]]
        if match["op"] == ":?":
            pytest.fail(f"compose needs {match['name']}: {match['arg']}")
        return match["arg"] or ""

    return INTERPOLATION.sub(one, value)


def spendpilot_services() -> dict[str, dict]:
    """The services that run the Spendpilot image."""
    image = compose()["x-spendpilot"]["image"]
    return {name: svc for name, svc in compose()["services"].items() if svc.get("image") == image}


def cli_parse(args: list[str]) -> Any:
    """Parse `spendpilot ARGS` as the installed command would (a click context); raises on a bad line."""
    group: Any = typer.main.get_command(cli_app)
    with group.make_context("spendpilot", list(args), resilient_parsing=False) as context:
        name, command, rest = group.resolve_command(context, list(args))
        assert command is not None, f"no command {name}"
        return command.make_context(name or "", rest, parent=context)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real Spendpilot, for the health checks to be run against as they are written."""
    server = RunningServer(tmp_path_factory.mktemp("deploy"), free_port(), env={"SPENDPILOT_SEED_DEMO": "0"}).start()
    yield server
    server.stop()


def public_get(server: RunningServer, path: str) -> int:
    """The status of GET `path` without credentials, as a health checker sends it."""
    return httpx.get(server.url + path, timeout=10).status_code


def api_port(service: dict) -> int:
    command = service["command"]
    return int(command[command.index("--port") + 1])


# --- names --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", DEPLOY_FILES)
def test_every_spendpilot_name_in_the_deploy_files_is_a_setting(name):
    used = set(SPENDPILOT_NAME.findall((DEPLOY / name).read_text()))
    assert used - SETTINGS == set(), f"{name} names variables Spendpilot does not read"


def test_env_sh_exports_exactly_what_compose_requires():
    exported = set(re.findall(r"^export ([A-Z_]+)=", (DEPLOY / "env.sh").read_text(), re.MULTILINE))
    assert exported == required_variables() == {"POSTGRES_PASSWORD", "CLICKHOUSE_PASSWORD", "SPENDPILOT_SIGNING_KEY",
                                                "SPENDPILOT_SECRETS_KEY"}


# --- compose --------------------------------------------------------------------------------


def test_every_spendpilot_service_starts_with_settings_serve_accepts(monkeypatch):
    given = {name: "x" * 24 for name in required_variables()}
    services = spendpilot_services()
    assert {s["command"][2] for s in services.values() if s["command"][0] == "serve"} == {"api", "worker"}
    for name, service in services.items():
        context = cli_parse(service["command"])
        assert context.command.name == "serve", name
        for key in [k for k in os.environ if k.startswith("SPENDPILOT_")]:
            monkeypatch.delenv(key)
        for key, value in service["environment"].items():
            monkeypatch.setenv(key, interpolate(str(value), given))
        settings = Settings(role=context.params["role"])
        # Shared stores for every role, or `serve` refuses to start.
        assert split_problem(settings) is None, name
        assert settings.clickhouse_url and urlsplit(settings.clickhouse_url).hostname == "clickhouse"
        assert urlsplit(settings.database_url or "").hostname == "postgres"
        assert urlsplit(settings.redis_url or "").hostname == "redis"
        assert set(service["depends_on"]) == {"postgres", "redis", "clickhouse"}
        assert all(d["condition"] == "service_healthy" for d in service["depends_on"].values())


def test_the_api_health_checks_pass_against_a_real_server_on_the_served_port(served):
    apis = {n: s for n, s in spendpilot_services().items() if s["command"][:3] == ["serve", "--role", "api"]}
    assert len(apis) == 2
    for name, service in apis.items():
        kind, *command = service["healthcheck"]["test"]
        assert kind == "CMD" and command[0] == "python", service["healthcheck"]
        urls = re.findall(r"https?://[^'\"\s]+", " ".join(command))
        assert len(urls) == 1, service["healthcheck"]
        url = urlsplit(urls[0])
        assert url.port == api_port(service)
        # The check itself, pointed at the real server instead of the container's port.
        here = [part.replace(f"{url.scheme}://{url.netloc}", served.url) for part in command]
        checked = subprocess.run([sys.executable, *here[1:]], capture_output=True, text=True, timeout=30)
        assert checked.returncode == 0, f"{name} health check fails against a healthy server: {checked.stderr}"
        assert public_get(served, url.path + "-not-a-route") == 404  # a wrong path would fail the check


def test_the_proxy_sends_traffic_to_the_api_instances_and_checks_a_real_route(served):
    caddy = (DEPLOY / "Caddyfile").read_text()
    upstreams = re.search(r"reverse_proxy\s+([^{\n]+)\{", caddy)
    assert upstreams is not None
    services = spendpilot_services()
    for upstream in upstreams.group(1).split():
        host, _, port = upstream.partition(":")
        assert services[host]["command"][:3] == ["serve", "--role", "api"]
        assert int(port) == api_port(services[host])
    health = re.search(r"health_uri\s+(\S+)", caddy)
    assert health is not None and public_get(served, health.group(1)) == 200
    proxy = compose()["services"]["proxy"]
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in proxy["volumes"]
    assert set(proxy["depends_on"]) == {host.partition(":")[0] for host in upstreams.group(1).split()}


def test_the_stores_keep_their_data_in_volumes():
    services, volumes = compose()["services"], compose()["volumes"]
    for name, path in (("postgres", "/var/lib/postgresql/data"), ("clickhouse", "/var/lib/clickhouse")):
        assert f"{name}:{path}" in services[name]["volumes"] and name in volumes


# --- Dockerfile -------------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """(instruction, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def dockerignore_admits(path: str) -> bool:
    """Whether the build context holds `path` (Docker's rules: last match wins; parents match too)."""
    admitted = True
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for rule in (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines():
        rule = rule.strip()
        if not rule or rule.startswith("#"):
            continue
        negated = rule.startswith("!")
        pattern = rule.lstrip("!").strip("/")
        regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*", "[^/]*").replace(r"\?", "[^/]")
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            admitted = negated
    return admitted


def test_the_image_runs_a_python_the_package_supports_and_its_console_script():
    instructions = dockerfile()
    base = next(args for op, args in instructions if op == "FROM")
    version = re.fullmatch(r"python:(\d+\.\d+)[-\w.]*", base)
    assert version, base
    assert Version(version.group(1)) in SpecifierSet(PYPROJECT["project"]["requires-python"])
    entrypoint = next(args for op, args in instructions if op == "ENTRYPOINT")
    assert entrypoint == '["spendpilot"]' and "spendpilot" in PYPROJECT["project"]["scripts"]
    command = yaml.safe_load(next(args for op, args in instructions if op == "CMD"))
    assert cli_parse(command).command.name == "serve"
    exposed = int(next(args for op, args in instructions if op == "EXPOSE"))
    assert exposed == int(command[command.index("--port") + 1])


def test_the_image_installs_the_package_the_tests_import(tmp_path):
    """Build the wheel `pip install .` builds in the image, from exactly the files the image gets."""
    instructions = dockerfile()
    installs = [args for op, args in instructions if op == "RUN" and "pip install" in args]
    assert len(installs) == 1 and re.search(r"pip install \.(\s|$)", installs[0]), installs
    workdir = next(Path(args) for op, args in instructions if op == "WORKDIR")
    image = tmp_path / "image"
    for op, args in instructions:
        if op == "WORKDIR" and Path(args) != workdir:
            break  # the install has happened by the next WORKDIR
        if op != "COPY":
            continue
        *sources, target = shlex.split(args)
        for source in sources:
            origin = ROOT / source
            assert origin.exists(), f"COPY {source}: not in the repository"
            files = [origin] if origin.is_file() else [p for p in origin.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if not dockerignore_admits(relative):
                    continue
                inside = file.relative_to(origin) if origin.is_dir() else Path(file.name)
                destination = image / Path(target) / inside if origin.is_dir() or target.endswith("/") \
                    else image / target
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, destination)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                            "-w", str(tmp_path / "wheel"), str(image)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    [wheel] = (tmp_path / "wheel").glob("spendpilot-*.whl")
    assert wheel.name.startswith(f"spendpilot-{PYPROJECT['project']['version']}-")
    with zipfile.ZipFile(wheel) as archive:
        in_image = {n for n in archive.namelist() if n.startswith("spendpilot/")}
    package = Path(spendpilot.__file__).resolve().parent
    tested = {f"spendpilot/{p.relative_to(package).as_posix()}" for p in package.rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}
    assert tested - in_image == set(), "files the tests use that the image would lack"
    assert in_image - tested == set(), "files in the image that the tests never saw"


def test_the_build_context_leaves_out_everything_but_the_package():
    assert dockerignore_admits("pyproject.toml") and dockerignore_admits("src/spendpilot/cli.py")
    for kept_out in ("tests/conftest.py", "deploy/secrets/signing-key.pem", ".venv/bin/python", "bench/RESULTS.md",
                     "src/spendpilot/__pycache__/cli.cpython-311.pyc", "deploy/backups/x.pgdump"):
        assert not dockerignore_admits(kept_out), kept_out


# --- README -----------------------------------------------------------------------------------


def readme_commands() -> list[list[str]]:
    """Each shell command in the README's code blocks, continuation lines joined, as argv."""
    blocks = re.findall(r"```sh\n(.*?)```", (DEPLOY / "README.md").read_text(), re.DOTALL)
    commands = []
    for block in blocks:
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            line = line.split(" #")[0].strip()
            for part in re.split(r"\s*(?:&&|\|)\s*", line):
                if part and not part.startswith(("#", "0 3")):
                    commands.append(shlex.split(part, posix=True))
    return commands


def test_every_spendpilot_command_in_the_readme_parses():
    inline = re.findall(r"`(spendpilot [^`]+)`", (DEPLOY / "README.md").read_text())
    lines = [argv for argv in readme_commands() if argv[0] == "spendpilot"] + [shlex.split(c) for c in inline]
    assert {argv[1] for argv in lines} >= {"verify", "formats", "demo-data", "migrate", "serve", "up"}
    for argv in lines:
        cli_parse(argv[1:])


def test_every_compose_command_in_the_readme_names_real_services_and_commands():
    services = set(compose()["services"])
    seen = set()
    for argv in readme_commands():
        if argv[:4] != ["docker", "compose", "-f", "deploy/compose.yaml"]:
            continue
        verb, rest = argv[4], argv[5:]
        seen.add(verb)
        if verb in ("stop", "start", "logs"):
            assert set(rest) <= services, argv
        elif verb == "exec":
            assert rest[0] == "-T" and rest[1] in services, argv
        elif verb == "run":
            flags = [a for a in rest if a.startswith("--")]
            assert flags == ["--rm", "--no-deps"] and rest[2] in spendpilot_services(), argv
            cli_parse(rest[3:])  # the image's entrypoint is `spendpilot`
        elif verb == "up":
            scaled = [a.split("=")[0] for a in rest if "=" in a]
            assert set(scaled) <= set(spendpilot_services()), argv
    assert seen >= {"up", "ps", "logs", "exec", "run", "stop", "start"}


def test_backup_script_takes_the_dumps_the_readme_describes():
    script = (DEPLOY / "backup.sh").read_text()
    readme = (DEPLOY / "README.md").read_text()
    for statement in ("pg_dump -U spendpilot --format=custom spendpilot",
                      '--query "SELECT * FROM llm_usage FORMAT Native"'):
        assert statement in script and statement in readme
    assert os.access(DEPLOY / "backup.sh", os.X_OK)
    assert subprocess.run(["bash", "-n", str(DEPLOY / "backup.sh")]).returncode == 0
