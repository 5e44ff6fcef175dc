"""Start a real `spendpilot up` (uvicorn) in a subprocess on a free port and wait until it serves."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import httpx

DEMO_EMAIL = "demo@spendpilot.local"
DEMO_PASSWORD = "spendpilot-demo"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(process: subprocess.Popen | None, name: str, log_path: Path, timeout: float = 20.0,
                 sig: int = signal.SIGTERM) -> None:
    """Signal a process we started and wait for it; kill it if it outlives `timeout`.

    A Spendpilot process that ignores SIGTERM is a defect (deployments stop it that way), so being
    killed is reported as a warning with the end of its log rather than passing unseen."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
        warnings.warn(f"{name} did not exit within {timeout:.0f} s of signal {sig}; killed. Log tail:\n{tail}",
                      stacklevel=2)


@dataclass
class RunningServer:
    data_dir: Path
    port: int
    env: dict = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    process: subprocess.Popen | None = None
    demo_email: str = DEMO_EMAIL
    demo_password: str = DEMO_PASSWORD

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "server.log"

    def start(self, timeout: float = 90.0) -> RunningServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "SPENDPILOT_DATA_DIR": str(self.data_dir), **self.env}
        command = self.args or ["up", "--host", "127.0.0.1", "--port", str(self.port),
                                "--data-dir", str(self.data_dir)]
        # The child keeps its own copy of the descriptor; the parent's closes at once.
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen([sys.executable, "-m", "spendpilot", *command], env=env,
                                            stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not become healthy in {timeout}s:\n{self.log_text()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.process, f"server on port {self.port}", self.log_path, sig=sig)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:] if self.log_path.exists() else ""
