"""Real `spendpilot serve` processes on PostgreSQL and Redis, plus private servers a test may kill."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.server import free_port, stop_process

PG_ADMIN_DSN = os.environ.get("SPENDPILOT_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("SPENDPILOT_TEST_REDIS", "redis://127.0.0.1:6379/15")


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def signing_key_pem() -> str:
    key = Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def with_database(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + "/" + name


async def _admin(sql: str, dsn: str = PG_ADMIN_DSN) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def run_sync(coro) -> object:
    """Run a coroutine to completion from sync code, also when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def create_database(dsn: str = PG_ADMIN_DSN) -> str:
    """A fresh database for one cluster; returns its URL."""
    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    run_sync(_admin(f'CREATE DATABASE "{name}"', dsn))
    return with_database(dsn, name)


def drop_database(url: str, dsn: str = PG_ADMIN_DSN) -> None:
    name = url.rsplit("/", 1)[1]
    run_sync(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', dsn))


def delete_redis_keys(url: str, prefix: str) -> None:
    async def run() -> None:
        from redis.asyncio import Redis

        client = Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()

    run_sync(run())


@dataclass
class Proc:
    """One `spendpilot serve --role R` process with its own data dir and log file."""

    role: str
    data_dir: Path
    env: dict
    port: int | None = None
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"{self.role}.log"

    def launch(self) -> Proc:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "spendpilot", "serve", "--role", self.role]
        if self.role != "worker":
            self.port = self.port or free_port()
            command += ["--host", "127.0.0.1", "--port", str(self.port)]
        env = {**os.environ, **self.env, "SPENDPILOT_DATA_DIR": str(self.data_dir)}
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout: float = 90.0) -> Proc:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.role} exited with {self.process.returncode}:\n{self.log_text()}")
            if self.role == "worker":
                if "worker ready" in self.log_text():
                    return self
            else:
                try:
                    if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                        return self
                except httpx.HTTPError:
                    pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.role} not ready in {timeout}s:\n{self.log_text()}")

    def signal(self, sig: int) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(sig)

    def wait_exit(self, timeout: float = 30.0) -> int:
        return self.process.wait(timeout=timeout)

    def stop(self) -> None:
        stop_process(self.process, f"{self.role} ({self.data_dir.name})", self.log_path, timeout=30)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Cluster:
    """API and worker processes sharing one fresh database and one Redis key prefix."""

    root: Path
    database_url: str
    redis_url: str
    env: dict = field(default_factory=dict)
    procs: list[Proc] = field(default_factory=list)

    async def astart(self, roles: list[str], env: dict | None = None) -> list[Proc]:
        """`start` off the event loop, so open sockets keep being served meanwhile."""
        return await asyncio.to_thread(self.start, roles, env)

    def start(self, roles: list[str], env: dict | None = None) -> list[Proc]:
        """Launch all at once (they migrate the same database together), then wait for each."""
        launched = []
        for role in roles:
            proc = Proc(role, self.root / f"{role}{len(self.procs)}", {**self.env, **(env or {})})
            self.procs.append(proc)
            launched.append(proc.launch())
        for proc in launched:
            proc.wait_ready()
        return launched

    def stop_all(self) -> None:
        for proc in self.procs:
            proc.signal(signal.SIGTERM)
        for proc in self.procs:
            proc.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.role} ({p.data_dir.name}, exit {p.process.poll() if p.process else None})\n"
                         f"{p.log_text()[-4000:]}" for p in self.procs)


class PrivateRedis:
    """A redis-server of our own on a free port, so a test can kill and restart it."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @staticmethod
    def available() -> bool:
        return shutil.which("redis-server") is not None

    def start(self) -> PrivateRedis:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


class PrivatePostgres:
    """A PostgreSQL cluster of our own in a temp dir, so a test can restart it."""

    def __init__(self):
        # Not under pytest's tmp dir: that is private to root, and the server runs as postgres.
        self.workdir = Path(tempfile.mkdtemp(prefix="sp-pg-"))
        self.datadir = self.workdir / "pgdata"
        self.port = free_port()
        self.bindir = self._bindir()

    @staticmethod
    def _bindir() -> Path | None:
        found = shutil.which("pg_ctl")
        if found:
            return Path(os.path.realpath(found)).parent
        versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        return versions[-1].parent if versions else None

    def available(self) -> bool:
        return self.bindir is not None and (os.geteuid() != 0 or shutil.which("runuser") is not None)

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, cwd="/tmp")

    def init(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            shutil.chown(self.workdir, "postgres")
            os.chmod(self.workdir, 0o755)
        self._run("initdb", "-D", str(self.datadir), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        return self

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-l", str(self.workdir / "pg.log"), "-w", "-t", "30",
                  "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 -c fsync=off", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.datadir), "-m", "fast", "-w", "stop")

    def destroy(self) -> None:
        try:
            self.stop()
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.workdir, ignore_errors=True)
