"""A small in-memory server speaking enough spendpilot.v1 to pass the verifier, breakable one way at a time."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric import ed25519
from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from tests.e2e.broken_servers.report import REPORT

PROTOCOL = "spendpilot.v1"
MAX_FRAME = 64 * 1024
AGENTS = ("triage", "data", "optimization", "report")
ALIASES = {"chat": "user_message", "start_agent": "user_message", "execute_agent": "user_message",
           "stop_agent": "cancel"}
CONTENT_KEYS = ("content", "text", "message", "user_request")
BREAKAGES = ("no_events", "echo_subprotocol", "echo_offered", "reorder", "leak", "no_final", "never_ends",
             "single_tab", "parallel_runs", "no_ack", "no_ready")



def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": code}}, status_code=status)


@dataclass
class Run:
    id: str
    thread_id: str
    owner: str
    events: list[dict] = field(default_factory=list)
    cancelled: bool = False
    done: bool = False


class Socket:
    """One accepted connection; serialises sends and remembers the last seq sent per run."""

    def __init__(self, ws: WebSocket, user_id: str):
        self.ws, self.user_id = ws, user_id
        self.lock = asyncio.Lock()
        self.cursors: dict[str, int] = {}

    async def send(self, frame: dict) -> None:
        async with self.lock:
            await self.ws.send_text(json.dumps(frame))

    async def deliver(self, run: Run, events: list[dict], follow: bool = False) -> None:
        async with self.lock:
            if follow:
                self.cursors.setdefault(run.id, 0)
            for event in events:
                last = self.cursors.get(run.id)
                if last is None and event["seq"] == 1:
                    last = 0
                if last is None or event["seq"] <= last:
                    continue
                self.cursors[run.id] = event["seq"]
                await self.ws.send_text(json.dumps(event))


class FakeSpendpilot:
    """The reference fake; `breakage` (one of BREAKAGES) breaks it in exactly one way."""

    def __init__(self, breakage: str | None = None, step_s: float = 0.02,
                 health_gate: threading.Event | None = None):
        assert breakage is None or breakage in BREAKAGES, breakage
        self.breakage, self.step_s = breakage, step_s
        # When given, /api/health answers only once the gate is open (a test opens it).
        self.health_gate = health_gate
        self.key = ed25519.Ed25519PrivateKey.generate()
        self.kid = "fake-" + secrets.token_hex(4)
        self.users: dict[str, dict] = {}
        self.threads: dict[str, dict] = {}
        self.runs: dict[str, Run] = {}
        self.sockets: set[Socket] = set()
        self.tasks: set[asyncio.Task] = set()
        self.thread_tail: dict[str, asyncio.Task] = {}
        self.app = self._build()

    # -- auth ---------------------------------------------------------------
    def _tokens(self, user: dict) -> dict:
        def make(kind: str, ttl: int) -> str:
            now = int(datetime.now(UTC).timestamp())
            claims = {"sub": user["id"], "org": user["org"], "email": user["email"], "type": kind,
                      "iat": now, "exp": now + ttl, "jti": secrets.token_hex(8)}
            return jwt.encode(claims, self.key, algorithm="EdDSA", headers={"kid": self.kid})

        public = {k: user[k] for k in ("id", "email", "name", "org")}
        return {"user": public, "access_token": make("access", 900), "refresh_token": make("refresh", 86400),
                "token_type": "bearer", "expires_in": 900}

    def _user(self, token: str | None) -> dict | None:
        if not token:
            return None
        try:
            claims = jwt.decode(token, self.key.public_key(), algorithms=["EdDSA"])
        except jwt.PyJWTError:
            return None
        if claims.get("type") != "access":
            return None
        return next((u for u in self.users.values() if u["id"] == claims["sub"]), None)

    def _bearer(self, request: Request) -> dict | None:
        header = request.headers.get("authorization", "")
        return self._user(header[7:] if header.lower().startswith("bearer ") else None)

    # -- runs ---------------------------------------------------------------
    def _event(self, run: Run, kind: str, data: dict) -> dict:
        event = {"type": kind, "run_id": run.id, "thread_id": run.thread_id, "seq": len(run.events) + 1,
                 "ts": _now(), "data": data}
        run.events.append(event)
        return event

    async def _publish(self, run: Run, event: dict) -> None:
        targets = [s for s in self.sockets if self.breakage == "leak" or s.user_id == run.owner]
        if self.breakage == "single_tab":
            targets = [s for s in targets if run.id in s.cursors]
        for sock in targets:
            try:
                if self.breakage == "reorder":
                    await sock.send(event)  # no cursor: the held-back event really goes out late
                else:
                    await sock.deliver(run, [event])
            except Exception:  # noqa: BLE001 - a dead socket just stops receiving
                self.sockets.discard(sock)

    async def _execute(self, run: Run) -> None:
        if self.breakage == "no_events":
            return
        plan: list[tuple[str, dict]] = [("agent_started", {"agent": "supervisor", "description": "root"}),
                                        ("agent_thinking", {"agent": "supervisor", "thought": "plan"})]
        for agent in AGENTS:
            call_id = f"call_{agent}_{secrets.token_hex(3)}"
            plan += [
                ("agent_started", {"agent": agent, "description": agent}),
                ("tool_executing", {"agent": agent, "tool": f"{agent}_tool", "call_id": call_id, "args": {}}),
                ("tool_completed", {"agent": agent, "tool": f"{agent}_tool", "call_id": call_id, "ok": True,
                                    "result": {"rows": 3}, "duration_ms": 1.0}),
                ("agent_completed", {"agent": agent, "summary": f"{agent} done", "duration_ms": 2.0}),
            ]
        if self.breakage not in ("no_final", "never_ends"):
            plan.append(("agent_completed", {"agent": "supervisor", "summary": "done", "duration_ms": 9.0,
                                             "final": True, "final_response": "# Report", "report": REPORT}))
        held: dict | None = None
        for index, (kind, data) in enumerate(plan):
            await asyncio.sleep(self.step_s)
            if run.cancelled:
                break
            event = self._event(run, kind, data)
            if self.breakage == "reorder" and index == 2:
                held = event  # seq 3 goes out after seq 4
                continue
            await self._publish(run, event)
            if held is not None:
                await self._publish(run, held)
                held = None
        while self.breakage == "never_ends" and not run.cancelled:
            await asyncio.sleep(0.2)
            await self._publish(run, self._event(run, "agent_thinking", {"agent": "supervisor", "thought": "..."}))
        if run.cancelled:
            await self._publish(run, self._event(run, "run_cancelled", {"reason": "user", "final": True}))
        elif self.breakage not in ("no_final", "never_ends"):
            self.threads[run.thread_id]["messages"].append(
                {"id": secrets.token_hex(4), "role": "assistant", "content": "# Report", "run_id": run.id,
                 "created_at": _now(), "report": REPORT})
        run.done = True

    async def _user_message(self, sock: Socket, frame: dict) -> None:
        data = frame.get("data", frame.get("payload"))
        data = data if isinstance(data, dict) else {}
        client_id = frame.get("id")
        content = next((data[k] for k in CONTENT_KEYS if k in data), None)
        if not isinstance(content, str) or not content:
            refusal = {"code": "invalid_message", "message": "content", "client_id": client_id}
            await sock.send(self._frame("error", refusal))
            return
        if self.breakage == "no_ack":
            return  # the message vanishes: no ack, no run, nothing
        thread_id = data.get("thread_id") or "thr_" + secrets.token_hex(6)
        self.threads.setdefault(thread_id, {"owner": sock.user_id, "messages": [], "created_at": _now()})
        run = Run(id="run_" + secrets.token_hex(6), thread_id=thread_id, owner=sock.user_id)
        self.runs[run.id] = run
        self.threads[thread_id]["messages"].append(
            {"id": secrets.token_hex(4), "role": "user", "content": content, "run_id": run.id, "created_at": _now()})
        sock.cursors[run.id] = 0
        await sock.send(self._frame("ack", {"client_id": client_id, "thread_id": thread_id, "run_id": run.id}))
        previous = self.thread_tail.get(thread_id)
        task = asyncio.get_running_loop().create_task(self._queued(previous, run))
        self.thread_tail[thread_id] = task
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _queued(self, previous: asyncio.Task | None, run: Run) -> None:
        """A second message in a thread waits for the run before it."""
        if previous is not None and self.breakage != "parallel_runs":
            await asyncio.wait({previous})
        await self._execute(run)

    def _frame(self, kind: str, data: dict) -> dict:
        return {"type": kind, "ts": _now(), "data": data}

    async def _handle(self, sock: Socket, text: str) -> None:
        if len(text.encode()) > MAX_FRAME:
            await sock.send(self._frame("error", {"code": "too_large", "message": "frame over 64 KiB"}))
            return
        try:
            frame = json.loads(text)
        except ValueError:
            await sock.send(self._frame("error", {"code": "invalid_json", "message": "not JSON"}))
            return
        kind = frame.get("type") if isinstance(frame, dict) else None
        kind = ALIASES.get(kind, kind)
        data = frame.get("data", frame.get("payload")) if isinstance(frame, dict) else None
        data = data if isinstance(data, dict) else {}
        if kind == "user_message":
            await self._user_message(sock, frame)
        elif kind == "ping":
            await sock.send(self._frame("pong", {"nonce": data.get("nonce")}))
        elif kind in ("cancel", "resume"):
            run = self.runs.get(data.get("run_id"))
            if run is None or run.owner != sock.user_id:
                await sock.send(self._frame("error", {"code": "not_found", "message": "no such run"}))
            elif kind == "cancel":
                run.cancelled = True
            else:
                after = int(data.get("after_seq") or 0)
                sock.cursors[run.id] = max(sock.cursors.get(run.id, 0), after)
                await sock.deliver(run, list(run.events), follow=True)
        else:
            await sock.send(self._frame("error", {"code": "unknown_type", "message": str(kind)}))

    async def _socket(self, ws: WebSocket) -> None:
        offered = list(ws.scope.get("subprotocols") or [])
        header = ws.headers.get("authorization", "")
        token = header[7:] if header.lower().startswith("bearer ") else None
        entry = next((p for p in offered if p.startswith("jwt.")), None)
        if token is None and entry is not None:
            try:
                token = base64.urlsafe_b64decode(entry[4:] + "=" * (-len(entry[4:]) % 4)).decode()
            except Exception:  # noqa: BLE001 - a malformed entry is a missing token
                token = None
        user = self._user(token)
        if user is None:
            await ws.close(code=1008)  # before accept: uvicorn answers HTTP 403
            return
        if self.breakage == "echo_subprotocol":
            chosen = PROTOCOL
        elif self.breakage == "echo_offered":
            chosen = ", ".join(offered) or None
        else:
            chosen = PROTOCOL if PROTOCOL in offered else entry
        await ws.accept(subprotocol=chosen)
        if self.breakage == "no_ready":
            await ws.receive()  # accepted, then never a word
            return
        sock = Socket(ws, user["id"])
        self.sockets.add(sock)
        await sock.send(self._frame("connection_ready", {"connection_id": "conn_" + secrets.token_hex(4),
                                                          "user_id": user["id"], "protocol": PROTOCOL,
                                                          "heartbeat_s": 20, "resume": True}))
        try:
            while True:
                await self._handle(sock, await ws.receive_text())
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            self.sockets.discard(sock)

    async def _sse(self, run: Run, after: int):
        sent = after
        while True:
            for event in run.events[sent:]:
                yield f"id: {event['seq']}\nevent: {event['type']}\ndata: {json.dumps(event)}\n\n"
                sent = event["seq"]
            if run.done and sent >= len(run.events):
                return
            await asyncio.sleep(0.05)

    # -- app ----------------------------------------------------------------
    def _build(self) -> FastAPI:  # noqa: C901 - a route table
        app = FastAPI()

        @app.get("/health")
        async def health():
            return {"status": "healthy", "service": "spendpilot", "version": "fake"}

        @app.get("/api/health")
        async def api_health():
            if self.health_gate is not None:
                await asyncio.to_thread(self.health_gate.wait, 30)
            checks = {n: {"status": "healthy", "engine": "memory", "latency_ms": 0.1}
                      for n in ("database", "bus", "analytics", "llm")}
            return {"status": "healthy", "checks": checks, "uptime_s": 1.0}

        @app.get("/.well-known/jwks.json")
        async def jwks():
            public = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(self.key.public_key()))
            return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

        @app.post("/auth/register")
        async def register(body: dict):
            email = str(body.get("email", "")).lower()
            if email in self.users:
                return _error(409, "email_taken")
            user = {"id": "usr_" + secrets.token_hex(6), "email": email, "name": body.get("name") or "",
                    "org": "org_" + secrets.token_hex(4), "password": body.get("password")}
            self.users[email] = user
            return JSONResponse(self._tokens(user), status_code=201)

        @app.post("/auth/login")
        async def login(body: dict):
            user = self.users.get(str(body.get("email", "")).lower())
            if user is None or user["password"] != body.get("password"):
                return _error(401, "bad_credentials")
            return self._tokens(user)

        @app.get("/auth/me")
        async def me(request: Request):
            user = self._bearer(request)
            if user is None:
                return _error(401, "unauthorized")
            return {k: user[k] for k in ("id", "email", "name", "org")}

        def owned_thread(request: Request, thread_id: str) -> dict | None:
            user = self._bearer(request)
            thread = self.threads.get(thread_id)
            return thread if user and thread and thread["owner"] == user["id"] else None

        def owned_run(request: Request, run_id: str) -> Run | None:
            user = self._bearer(request)
            run = self.runs.get(run_id)
            return run if user and run and run.owner == user["id"] else None

        @app.get("/api/threads/{thread_id}")
        async def thread(thread_id: str, request: Request):
            found = owned_thread(request, thread_id)
            if found is None:
                return _error(404, "not_found")
            return {"id": thread_id, "title": None, "created_at": found["created_at"], "updated_at": _now()}

        @app.get("/api/threads/{thread_id}/messages")
        async def messages(thread_id: str, request: Request):
            found = owned_thread(request, thread_id)
            return _error(404, "not_found") if found is None else found["messages"]

        @app.get("/api/runs/{run_id}")
        async def run(run_id: str, request: Request):
            found = owned_run(request, run_id)
            if found is None:
                return _error(404, "not_found")
            return {"id": run_id, "thread_id": found.thread_id, "status": "done" if found.done else "running"}

        @app.get("/api/runs/{run_id}/events")
        async def events(run_id: str, request: Request, after: int = 0):
            found = owned_run(request, run_id)
            if found is None:
                return _error(404, "not_found")
            if "text/event-stream" in request.headers.get("accept", ""):
                start = int(request.headers.get("last-event-id") or after)
                return StreamingResponse(self._sse(found, start), media_type="text/event-stream")
            return [e for e in found.events if e["seq"] > after]

        @app.get("/api/usage/summary")
        async def summary(request: Request):
            if self._bearer(request) is None:
                return _error(401, "unauthorized")
            return {"from": None, "to": None, "total_usd": 900.0, "total_requests": 1200, "groups": []}

        @app.post("/api/usage/import")
        async def usage_import(request: Request):
            if self._bearer(request) is None:
                return _error(401, "unauthorized")
            upload = (await request.form())["file"]
            lines = (await upload.read()).decode().strip().splitlines()
            return {"format": "generic", "imported": len(lines) - 1, "duplicates": 0, "rejected": []}

        app.add_api_websocket_route("/ws", self._socket)
        app.add_api_websocket_route("/api/v1/websocket", self._socket)
        return app
