"""A 200 means stored (kill -9 right after loses nothing acknowledged); overload is refused, not queued forever."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

from tests.support.clickhouse_standin import ClickHouseStandin
from tests.support.server import RunningServer, free_port

from .conftest import sign_up, stored_rows

T0 = 1_767_000_000_000_000_000


def export(feature: str, spans: int, seed: int) -> bytes:
    """One protobuf export of `spans` GenAI calls, all attributed to `feature`."""
    def attr(key: str, value: str | int) -> KeyValue:
        return KeyValue(key=key, value=AnyValue(string_value=value) if isinstance(value, str)
                        else AnyValue(int_value=value))

    calls = [Span(trace_id=seed.to_bytes(16, "big"), span_id=(i + 1).to_bytes(8, "big"), name="chat gpt-4o-mini",
                  start_time_unix_nano=T0 + i, end_time_unix_nano=T0 + i + 10**8,
                  attributes=[attr("gen_ai.request.model", "gpt-4o-mini"), attr("gen_ai.usage.input_tokens", 100),
                              attr("gen_ai.usage.output_tokens", 10)]) for i in range(spans)]
    resource = Resource(attributes=[attr("service.name", feature)])
    return ExportTraceServiceRequest(resource_spans=[ResourceSpans(resource=resource,
                                                                   scope_spans=[ScopeSpans(spans=calls)])]
                                     ).SerializeToString()


def post(url: str, key: str, body: bytes, timeout: float = 30) -> httpx.Response:
    return httpx.post(f"{url}/v1/traces", content=body, timeout=timeout,
                      headers={"content-type": "application/x-protobuf", "x-spendpilot-key": key})


def test_every_acknowledged_span_survives_kill_9(tmp_path):
    """Exports stream in from 6 senders; the server is killed -9 right after a 200; all acknowledged are there."""
    env = {"SPENDPILOT_SEED_DEMO": "0"}
    server = RunningServer(tmp_path / "kill9", free_port(), env=env).start()
    org = sign_up(server.url)
    acknowledged: list[str] = []
    stop = threading.Event()
    lock = threading.Lock()

    def sender(worker: int) -> None:
        batch = 0
        while not stop.is_set():
            feature = f"w{worker}-b{batch}"
            try:
                answer = post(server.url, org.key, export(feature, 50, worker * 10_000 + batch))
            except httpx.HTTPError:
                return  # the server died under this request: it was never acknowledged
            if answer.status_code == 200:
                with lock:
                    acknowledged.append(feature)
                    if len(acknowledged) >= 40 and not stop.is_set():
                        stop.set()
                        # At once after a 200, with other exports still in flight.
                        os.kill(server.process.pid, signal.SIGKILL)  # type: ignore[union-attr]
            batch += 1

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(sender, range(6)))
    server.process.wait()  # type: ignore[union-attr]
    assert server.process.returncode == -signal.SIGKILL  # type: ignore[union-attr]

    server.start()
    try:
        summary = httpx.get(f"{server.url}/api/usage/summary", params={"group_by": "feature", "from": "2025-12-01"},
                            headers=org.auth).json()
    finally:
        server.stop()
    stored = {group["key"]: group["requests"] for group in summary["groups"]}
    assert len(acknowledged) >= 40
    assert {feature: stored.get(feature) for feature in acknowledged} == {feature: 50 for feature in acknowledged}
    # Exports cut off by the kill may or may not be in; none is half in (an insert is all or nothing).
    assert all(count == 50 for count in stored.values())


def test_overload_is_refused_with_retry_after_and_accepted_work_still_lands(tmp_path):
    """With the store stalled, new exports get 429 (this key holds too much) or 503 (the instance does)."""
    standin = ClickHouseStandin(tmp_path / "stalled" / "chdb").start()
    env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_CLICKHOUSE_URL": standin.url,
           "SPENDPILOT_INTAKE_MAX_PENDING_ROWS": "100", "SPENDPILOT_INTAKE_MAX_PENDING_PER_KEY": "75",
           "SPENDPILOT_INTAKE_WRITE_TIMEOUT_S": "60"}
    server = RunningServer(tmp_path / "overload", free_port(), env=env).start()
    try:
        busy, other = sign_up(server.url), sign_up(server.url)
        os.kill(standin.process.pid, signal.SIGSTOP)  # type: ignore[union-attr]
        with ThreadPoolExecutor(2) as pool:
            first = pool.submit(post, server.url, busy.key, export("first", 40, 1), 60)
            _wait_for_backlog(server, 40)
            second = pool.submit(post, server.url, other.key, export("second", 40, 2), 60)
            _wait_for_backlog(server, 80)
            same_key = post(server.url, busy.key, export("third", 40, 3))
            whole_instance = post(server.url, other.key, export("fourth", 30, 4))
            os.kill(standin.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
            assert (first.result().status_code, second.result().status_code) == (200, 200)
        assert same_key.status_code == 429 and same_key.headers["retry-after"] == "1"
        assert whole_instance.status_code == 503 and whole_instance.headers["retry-after"] == "1"
        # OTLP's own failure body: a google.rpc.Status, RESOURCE_EXHAUSTED and UNAVAILABLE.
        assert status_pb2.Status.FromString(same_key.content).code == code_pb2.RESOURCE_EXHAUSTED
        assert status_pb2.Status.FromString(whole_instance.content).code == code_pb2.UNAVAILABLE
        # What was accepted is stored; what was refused is not, and is taken once the backlog is gone.
        assert len(stored_rows(standin, busy.org_id)) == 40 and len(stored_rows(standin, other.org_id)) == 40
        assert post(server.url, busy.key, export("third", 40, 3)).status_code == 200
        assert len(stored_rows(standin, busy.org_id)) == 80
    finally:
        os.kill(standin.process.pid, signal.SIGCONT)  # type: ignore[union-attr]
        server.stop()
        standin.stop()


def _wait_for_backlog(server: RunningServer, rows: int) -> None:
    """Until the instance holds `rows` accepted rows waiting for the stalled store (as /api/health reports)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if httpx.get(f"{server.url}/api/health", timeout=10).json()["intake"]["pending_rows"] == rows:
            return
        time.sleep(0.05)
    raise AssertionError(f"the backlog never reached {rows} rows")
