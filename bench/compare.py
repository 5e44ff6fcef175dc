"""Spendpilot against a peer (Chainlit 2.12) on the same workloads, interleaved, each server fresh: ratios of medians.

Usage: .venv/bin/python bench/compare.py [--scenarios 1x50,50,200,1000,1x50-demo] [--reps 3] [--json]
Needs the peer's venv (make bench-peers). A scenario is USERS[xMESSAGES][-demo]: USERS users at once, each on its
own socket sending MESSAGES messages one after another; -demo is Spendpilot alone, as the demo account (60k rows).
The server runs pinned to one core and the driver to the other; standard library only, so any Python runs it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PEER_VENV = BENCH / "peers" / ".venv"
DEMO = ("demo@spendpilot.local", "spendpilot-demo")
CLK_TCK = os.sysconf("SC_CLK_TCK")
# Below this many sockets the allocator's own swings (a cache freed, a GC pass) outweigh the sockets' memory.
MEMORY_MIN_SOCKETS = 20
METRICS = ("msgs_per_s", "final_p50_ms", "final_p99_ms", "first_p50_ms", "ack_p99_ms", "cpu_ms_per_msg",
           "idle_kib_per_socket")
# Settings that would move `up` off its embedded defaults and offline model; the comparison is of those defaults.
SPENDPILOT_UNSET = ("SPENDPILOT_DATABASE_URL", "SPENDPILOT_REDIS_URL", "SPENDPILOT_CLICKHOUSE_URL", "SPENDPILOT_LLM",
                    "SPENDPILOT_RUN_STEP_DELAY_S", "SPENDPILOT_DATA_DIR")
# Any of these would give the peer a data layer (persistence) or a login.
PEER_UNSET = ("DATABASE_URL", "LITERAL_API_KEY", "CHAINLIT_AUTH_SECRET", "CHAINLIT_APP_ROOT")


class RunFailed(Exception):
    pass


@dataclass(frozen=True)
class Scenario:
    name: str
    users: int
    messages: int
    demo: bool

    @classmethod
    def parse(cls, text: str) -> Scenario:
        match = re.fullmatch(r"(\d+)(?:x(\d+))?(-demo)?", text.strip())
        if not match or int(match[1]) < 1:
            raise argparse.ArgumentTypeError(f"bad scenario {text!r}: USERS[xMESSAGES][-demo], e.g. 1x50, 200")
        return cls(text.strip(), int(match[1]), int(match[2] or 1), bool(match[3]))


class Target:
    """One server under test: how to start it, how to know it is up, and which driver speaks to it."""

    name = ""
    health = "/"

    def __init__(self, args):
        self.args = args

    def driver_args(self, url: str, scenario: Scenario) -> list[str]:
        a = self.args
        return ["--url", url, "--users", str(scenario.users), "--messages", str(scenario.messages), "--warmup",
                str(a.warmup), "--timeout", str(a.timeout), "--stepped"]


class Spendpilot(Target):
    name, health = "spendpilot", "/health"

    def server(self, port: int, workdir: Path) -> list[str]:
        return [self.args.python, "-m", "spendpilot", "up", "--host", "127.0.0.1", "--port", str(port),
                "--data-dir", str(workdir)]

    def env(self, workdir: Path, scenario: Scenario) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in SPENDPILOT_UNSET}
        env["SPENDPILOT_SEED_DEMO"] = "1" if scenario.demo else "0"
        # Per-user limits raised as for `spendpilot bench`: the demo scenario is one user sending 50 messages.
        for key, value in (("MAX_SOCKETS_PER_USER", "2000"), ("MAX_ACTIVE_RUNS_PER_USER", "2000"),
                           ("WS_MESSAGES_PER_MINUTE", "100000")):
            env.setdefault(f"SPENDPILOT_{key}", value)
        return env

    def driver(self, url: str, scenario: Scenario) -> list[str]:
        extra = ["--email", DEMO[0], "--password", DEMO[1]] if scenario.demo else []
        return [self.args.python, str(BENCH / "spendpilot_driver.py"), *self.driver_args(url, scenario), *extra]


class Chainlit(Target):
    name = "chainlit"

    def server(self, port: int, workdir: Path) -> list[str]:
        return [self.args.peer_python, "-m", "chainlit", "run", str(BENCH / "peers" / "chainlit_app.py"),
                "--headless", "--host", "127.0.0.1", "--port", str(port)]

    def env(self, workdir: Path, scenario: Scenario) -> dict:
        env = {k: v for k, v in os.environ.items() if k not in PEER_UNSET}
        # Chainlit writes .chainlit/, .files/ and chainlit.md into its app root: a fresh one per server.
        env["CHAINLIT_APP_ROOT"] = str(workdir)
        return env

    def driver(self, url: str, scenario: Scenario) -> list[str]:
        return [self.args.peer_python, str(BENCH / "peers" / "chainlit_driver.py"), *self.driver_args(url, scenario)]


def _proc_children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children[int(stat[stat.rindex(")") + 2:].split()[1])].append(int(entry))
    return children


def process_tree(pid: int) -> list[int]:
    children, tree = _proc_children(), [pid]
    for p in tree:
        tree.extend(children.get(p, []))
    return tree


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and of its children, live (their own counters) or reaped (cutime, cstime)."""
    total = 0
    for p in process_tree(pid):
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()  # fields[0] is field 3 (state)
        total += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return total / CLK_TCK


def status_field(pid: int, key: str) -> str | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return next((line.split()[1] for line in status.splitlines() if line.startswith(key + ":")), None)


def rss_kib(pid: int) -> int:
    return sum(int(status_field(p, "VmRSS") or 0) for p in process_tree(pid))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def wait_healthy(url: str, server: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RunFailed(f"server exited with {server.returncode} before it was up")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RunFailed(f"server not up within {timeout:g}s")


def expect(driver: subprocess.Popen, deadline: float, phase: str) -> dict:
    """The driver's next JSON line, which must announce `phase`; stdout is unbuffered so select() sees each line."""
    while (remaining := deadline - time.monotonic()) > 0:
        if not select.select([driver.stdout], [], [], min(remaining, 1.0))[0]:
            continue
        line = driver.stdout.readline()
        if not line:
            raise RunFailed(f"driver exited with {driver.wait()}")
        if not line.startswith(b"{"):
            continue  # a stray print, not the driver's word
        message = json.loads(line)
        if message.get("phase") != phase:
            raise RunFailed(f"driver said {message!r}, expected phase {phase}")
        return message
    raise RunFailed("driver did not finish in time")


def go_on(driver: subprocess.Popen) -> None:
    driver.stdin.write(b"go\n")
    driver.stdin.flush()


def stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the process group it leads (servers start their own), then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def run_once(target: Target, scenario: Scenario, rep: int, args, logs: Path) -> dict:
    """Start a fresh server, drive the scenario through its phases, read memory and CPU between them."""
    workdir = Path(tempfile.mkdtemp(prefix=f"sp-compare-{target.name}-", dir=args.tmp))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stem = f"{scenario.name}-{target.name}-{rep}"
    load_before = load_average()
    with open(logs / f"{stem}-server.log", "wb") as server_log, open(logs / f"{stem}-driver.log", "wb") as driver_log:
        server = subprocess.Popen(args.pin_server + target.server(port, workdir), cwd=workdir,
                                  env=target.env(workdir, scenario), stdout=server_log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, start_new_session=True)
        driver = None
        try:
            wait_healthy(url + target.health, server, args.start_timeout)
            driver = subprocess.Popen(args.pin_driver + target.driver(url, scenario), cwd=ROOT, bufsize=0,
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=driver_log,
                                      start_new_session=True)
            deadline = time.monotonic() + args.run_timeout
            expect(driver, deadline, "accounts")  # accounts made, warm-up done, no socket open
            time.sleep(args.settle)
            # Where the kernel lets the server run: proof that the pinning took.
            rss_base, server_cpus = rss_kib(server.pid), status_field(server.pid, "Cpus_allowed_list")
            go_on(driver)
            opened = expect(driver, deadline, "connected")["open"]
            time.sleep(args.settle)
            rss_idle = rss_kib(server.pid)
            cpu_before, driver_before, window = cpu_seconds(server.pid), cpu_seconds(driver.pid), time.monotonic()
            go_on(driver)
            result = expect(driver, deadline, "done")
            cpu, driver_cpu = cpu_seconds(server.pid) - cpu_before, cpu_seconds(driver.pid) - driver_before
            window = time.monotonic() - window
            go_on(driver)
            driver.wait(30)
        finally:
            if driver is not None:
                stop(driver, 5)
            stop(server, 20)
            shutil.rmtree(workdir, ignore_errors=True)
    result.pop("phase", None)
    done = result["completed"]
    result.update(
        server_cpu_s=round(cpu, 3),
        cpu_ms_per_msg=round(cpu * 1000.0 / done, 3) if done else None,
        server_rss_idle_mib=round(rss_idle / 1024.0, 1),
        idle_kib_per_socket=round((rss_idle - rss_base) / opened, 1) if opened >= MEMORY_MIN_SOCKETS else None,
        # Share of its core each side kept busy while the messages ran: a driver near 1.0 would be the limit.
        server_busy=round(cpu / window, 2),
        driver_busy=round(driver_cpu / window, 2),
        server_cpus=server_cpus,
        load_before=load_before,
        load_after=load_average(),
    )
    return result


def median(values: list) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def aggregate(reps: list[dict]) -> dict:
    """Medians over the repetitions; errors are summed so that one bad repetition still shows."""
    summary = {m: median([r.get(m) for r in reps]) for m in METRICS}
    for busy in ("server_busy", "driver_busy"):
        summary[busy] = median([r.get(busy) for r in reps])
    summary["errors"] = sum(r.get("errors", 0) for r in reps)
    summary["messages"] = sum(r.get("messages", 0) for r in reps)
    return summary


def ratios(ours: dict, peer: dict) -> dict:
    return {m: round(ours[m] / peer[m], 2) if ours.get(m) is not None and peer.get(m) else None for m in METRICS}


def fmt(value, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def table(results: dict) -> str:
    head = ("| scenario | server | msgs/s | final p50 ms | final p99 ms | first event p50 ms | ack p99 ms "
            "| server CPU ms/msg | idle KiB/socket | errors | core busy server/driver |")
    lines = [head, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, by_target in results.items():
        for target, entry in by_target.items():
            s = entry["median"]
            lines.append(f"| {name} | {target} | " + " | ".join(fmt(s[m], 2 if m == "cpu_ms_per_msg" else 1)
                                                               for m in METRICS)
                         + f" | {s['errors']}/{s['messages']}"
                         + f" | {fmt(s['server_busy'], 2)}/{fmt(s['driver_busy'], 2)} |")
        if "ratio" in by_target.get("spendpilot", {}):
            r = by_target["spendpilot"]["ratio"]
            lines.append(f"| {name} | **Spendpilot/peer** | " + " | ".join(fmt(r[m], 2) for m in METRICS) + " | | |")
    return "\n".join(lines)


def pins(cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu)] if cpu is not None else []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenarios", default="1x50,50,200,1000,1x50-demo",
                        type=lambda text: [Scenario.parse(t) for t in text.split(",") if t.strip()])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="Messages on a throwaway socket before each measurement.")
    parser.add_argument("--timeout", type=float, default=120.0, help="Seconds one message may take.")
    parser.add_argument("--run-timeout", type=float, default=1200.0, help="Seconds one driver run may take.")
    parser.add_argument("--start-timeout", type=float, default=120.0)
    parser.add_argument("--settle", type=float, default=1.0, help="Seconds before reading memory after a phase.")
    parser.add_argument("--server-cpu", type=int, default=0)
    parser.add_argument("--driver-cpu", type=int, default=1)
    parser.add_argument("--python", default=str(ROOT / ".venv" / "bin" / "python"), help="Spendpilot's Python.")
    parser.add_argument("--peer-python", default=str(PEER_VENV / "bin" / "python"), help="The peer venv's Python.")
    parser.add_argument("--tmp", help="Where the servers' fresh data dirs go (default: the system's temp dir; "
                                      "/dev/shm takes disk flushes out of Spendpilot's figures).")
    parser.add_argument("--logs", type=Path, help="Keep server and driver logs here (default: a temporary dir).")
    parser.add_argument("--json", action="store_true", help="Print the full results as JSON instead of the table.")
    args = parser.parse_args()
    if not Path(args.peer_python).exists() and any(not s.demo for s in args.scenarios):
        parser.error(f"{args.peer_python} is missing: run `make bench-peers` first")
    available = os.sched_getaffinity(0)
    pinnable = {args.server_cpu, args.driver_cpu} <= available and args.server_cpu != args.driver_cpu
    if shutil.which("taskset") and pinnable:
        args.pin_server, args.pin_driver = pins(args.server_cpu), pins(args.driver_cpu)
        os.sched_setaffinity(0, {args.driver_cpu})  # this process stays off the server's core too
        pinned = f"server on CPU {args.server_cpu}, driver on CPU {args.driver_cpu}"
    else:
        args.pin_server = args.pin_driver = []
        pinned = "not pinned (taskset or two distinct CPUs missing)"
    # 1,000 users are 1,000 descriptors on each side; servers and drivers inherit the raised soft limit.
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    logs = args.logs or Path(tempfile.mkdtemp(prefix="sp-compare-logs-"))
    logs.mkdir(parents=True, exist_ok=True)
    query = "from importlib.metadata import version; print(version('chainlit'))"
    peer_version = subprocess.run([args.peer_python, "-c", query], capture_output=True, text=True, check=False)
    machine = {"cpus": os.cpu_count(), "pinning": pinned, "load_start": load_average(), "reps": args.reps,
               "chainlit": peer_version.stdout.strip() or None, "logs": str(logs)}
    print(f"compare: {machine}", file=sys.stderr)

    results: dict = {}
    for scenario in args.scenarios:
        targets = [Spendpilot(args)] if scenario.demo else [Chainlit(args), Spendpilot(args)]
        runs: dict[str, list[dict]] = {t.name: [] for t in targets}
        for rep in range(args.reps):
            for target in targets:  # interleaved, so that a change in the machine's load hits both alike
                try:
                    result = run_once(target, scenario, rep, args, logs)
                except (RunFailed, OSError, KeyError) as exc:
                    total = scenario.users * scenario.messages
                    result = {"failed": str(exc), "errors": total, "messages": total}
                runs[target.name].append(result)
                keys = ("failed", *METRICS, "errors", "server_busy", "driver_busy", "load_before")
                shown = {k: result.get(k) for k in keys if k in result}
                print(f"  {scenario.name} {target.name} rep {rep + 1}: {shown}", file=sys.stderr)
        results[scenario.name] = {name: {"reps": reps, "median": aggregate(reps)} for name, reps in runs.items()}
        if "chainlit" in results[scenario.name]:
            results[scenario.name]["spendpilot"]["ratio"] = ratios(results[scenario.name]["spendpilot"]["median"],
                                                                   results[scenario.name]["chainlit"]["median"])
    machine["load_end"] = load_average()
    if args.json:
        print(json.dumps({"machine": machine, "scenarios": results}, indent=2))
    else:
        print(f"{args.reps} repetition(s), medians; {pinned}; load {machine['load_start']} -> {machine['load_end']}; "
              f"chainlit {machine['chainlit']}\n")
        print(table(results))
    return 0 if all(e["median"]["errors"] == 0 for by in results.values() for e in by.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
