"""One's own account on a real server: change and reset the password (mail through a real SMTP server),
list and revoke sessions; and mail in development, which goes to an outbox and never to the log."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from email.message import Message

import httpx
import pytest
from aiosmtpd.controller import Controller
from websockets.exceptions import ConnectionClosed

from spendpilot.auth.permissions import Role
from tests.support.client import login, open_socket, register
from tests.support.server import RunningServer, free_port
from tests.support.teams import PASSWORD, bearer, invite, make_team, new_email

RESET_LINK = re.compile(r"/#/reset/([A-Za-z0-9_-]{20,})")
JOIN_LINK = re.compile(r"/#/join/([A-Za-z0-9_-]{20,})")


class Inbox:
    """An SMTP server's handler that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.arrived = asyncio.Event()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"

    def to(self, address: str) -> list[Message]:
        return [m for m in self.messages if m["To"] == address]


@pytest.fixture(scope="module")
def smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield inbox, controller.port
    controller.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, smtp):
    _, port = smtp
    running = RunningServer(tmp_path_factory.mktemp("account"), free_port(), env={
        "SPENDPILOT_SEED_DEMO": "false", "SPENDPILOT_LOGIN_ATTEMPTS_PER_IP": "10000",
        "SPENDPILOT_SMTP_HOST": "127.0.0.1", "SPENDPILOT_SMTP_PORT": str(port), "SPENDPILOT_SMTP_SECURITY": "none",
        "SPENDPILOT_SMTP_FROM": "Spendpilot <no-reply@example.com>"}).start()
    yield running
    running.stop()


@pytest.fixture
async def http(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


async def mail_to(inbox: Inbox, address: str, count: int = 1, timeout: float = 10.0) -> list[Message]:
    """The mail `address` received, once there are `count` of them (the server sends after answering)."""
    async with asyncio.timeout(timeout):
        while len(inbox.to(address)) < count:
            await asyncio.sleep(0.05)
    return inbox.to(address)


def body(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


async def test_changing_the_password_ends_every_other_session_and_closes_their_sockets(server, http):
    email_address = new_email()
    first = await register(server.url, email_address, PASSWORD)
    second = await login(server.url, email_address, PASSWORD)
    ws = await open_socket(server.ws_url, second["access_token"])
    try:
        wrong = await http.post("/auth/password", json={"current_password": "not it at all",
                                                        "new_password": "a brand new passphrase"},
                                headers=bearer(first["access_token"]))
        assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "wrong_password"
        weak = await http.post("/auth/password", json={"current_password": PASSWORD, "new_password": "short"},
                               headers=bearer(first["access_token"]))
        assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"

        changed = await http.post("/auth/password", json={"current_password": PASSWORD,
                                                          "new_password": "a brand new passphrase"},
                                  headers=bearer(first["access_token"]))
        assert changed.status_code == 200 and changed.json() == {"sessions_ended": 1}
        assert (await http.get("/auth/me", headers=bearer(second["access_token"]))).status_code == 401
        assert (await http.post("/auth/refresh", json={"refresh_token": second["refresh_token"]})).status_code == 401
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(1.0):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        await ws.close()
    # The session that changed it goes on; the new password signs in, the old one does not.
    assert (await http.get("/auth/me", headers=bearer(first["access_token"]))).status_code == 200
    assert (await http.post("/auth/refresh", json={"refresh_token": first["refresh_token"]})).status_code == 200
    assert (await http.post("/auth/login", json={"email": email_address, "password": PASSWORD})).status_code == 401
    await login(server.url, email_address, "a brand new passphrase")
    entries = (await http.get("/api/org/audit", params={"action": "auth.password_changed"},
                              headers=bearer(first["access_token"]))).json()["entries"]
    assert [e["detail"] for e in entries] == [{"sessions_ended": 1}]


async def test_a_reset_answers_the_same_for_any_address_and_mails_only_real_accounts(server, http, smtp):
    inbox, _ = smtp
    account = await register(server.url, new_email("reset"), PASSWORD)
    address = account["user"]["email"]
    nobody = new_email("nobody")
    known = await http.post("/auth/password-reset/request", json={"email": address})
    unknown = await http.post("/auth/password-reset/request", json={"email": nobody})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()

    [message] = await mail_to(inbox, address)
    assert message["From"] == "Spendpilot <no-reply@example.com>"
    text = body(message)
    assert f"{server.url}/#/reset/" in text
    token = RESET_LINK.search(text).group(1)
    # The unknown address got nothing (its request was handled before the known one's mail was sent).
    assert inbox.to(nobody) == []

    weak = await http.post("/auth/password-reset/confirm", json={"token": token, "password": "short"})
    assert weak.status_code == 422 and weak.json()["error"]["code"] == "weak_password"
    bad = await http.post("/auth/password-reset/confirm", json={"token": "x" * 43, "password": "reset passphrase 1"})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_token"
    done = await http.post("/auth/password-reset/confirm", json={"token": token, "password": "reset passphrase 1"})
    assert done.status_code == 204
    # Every session ends, the link is spent, and only the new password signs in.
    assert (await http.get("/auth/me", headers=bearer(account["access_token"]))).status_code == 401
    again = await http.post("/auth/password-reset/confirm", json={"token": token, "password": "reset passphrase 2"})
    assert again.status_code == 422
    assert (await http.post("/auth/login", json={"email": address, "password": PASSWORD})).status_code == 401
    signed_in = await login(server.url, address, "reset passphrase 1")
    entries = (await http.get("/api/org/audit", params={"action": "auth.password_reset"},
                              headers=bearer(signed_in["access_token"]))).json()["entries"]
    assert len(entries) == 1 and entries[0]["actor"]["id"] == account["user"]["id"]
    # The token itself is stored only as a hash.
    with closing(sqlite3.connect(server.data_dir / "spendpilot.db")) as conn:
        stored = [row[0] for row in conn.execute("SELECT token_hash FROM password_resets")]
    assert token not in stored and len(stored) >= 1


async def test_resets_for_one_address_are_throttled_but_still_answer_202(server, http, smtp):
    inbox, _ = smtp
    address = (await register(server.url, new_email("throttle"), PASSWORD))["user"]["email"]
    for _ in range(7):
        assert (await http.post("/auth/password-reset/request", json={"email": address})).status_code == 202
    await mail_to(inbox, address, 5)
    # The two over the limit are dropped (and logged, without the address); no sixth mail comes.
    async with asyncio.timeout(10):
        while server.log_text().count("password_reset_throttled") < 2:
            await asyncio.sleep(0.05)
    assert len(inbox.to(address)) == 5
    assert address not in server.log_text()


async def test_an_invitation_is_mailed_with_its_link(server, http, smtp):
    inbox, _ = smtp
    admin = await register(server.url)
    address = new_email("invited")
    invitation = await invite(http, admin["access_token"], address, "analyst")
    assert invitation["mail"] == "sent"
    [message] = await mail_to(inbox, address)
    assert JOIN_LINK.search(body(message)).group(1) == invitation["token"]
    assert "analyst" in body(message) and admin["user"]["email"] in message["Subject"]
    assert invitation["token"] not in server.log_text()


async def test_sessions_are_listed_with_their_org_and_revoked_one_at_a_time(server, http):
    address = new_email("sessions")
    first = await register(server.url, address, PASSWORD)
    second = await login(server.url, address, PASSWORD)
    listed = (await http.get("/auth/sessions", headers=bearer(first["access_token"]))).json()
    assert len(listed) == 2 and [s["current"] for s in listed].count(True) == 1
    assert {s["org"]["id"] for s in listed} == {first["user"]["org"]}
    assert all(s["user_agent"].startswith("python-httpx") and s["ip"] == "127.0.0.1" for s in listed)
    other = next(s for s in listed if not s["current"])

    stranger = await register(server.url)
    assert (await http.delete(f"/auth/sessions/{other['id']}", headers=bearer(stranger["access_token"]))).status_code \
        == 404
    assert (await http.delete(f"/auth/sessions/{other['id']}", headers=bearer(first["access_token"]))).status_code \
        == 204
    assert (await http.get("/auth/me", headers=bearer(second["access_token"]))).status_code == 401
    assert [s["current"] for s in (await http.get("/auth/sessions", headers=bearer(first["access_token"]))).json()] \
        == [True]


async def test_mail_in_development_goes_to_the_outbox_and_the_log_never_holds_the_link(make_server):
    server = make_server({"SPENDPILOT_SEED_DEMO": "false"})
    admin = await register(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
        invitation = await invite(http, admin["access_token"], new_email("dev"), "viewer")
        assert invitation["mail"] == "outbox"
        assert (await http.post("/auth/password-reset/request",
                                json={"email": admin["user"]["email"]})).status_code == 202
    outbox = server.data_dir / "outbox"
    async with asyncio.timeout(10):
        while len(list(outbox.glob("*.eml"))) < 2:
            await asyncio.sleep(0.05)
    mails = [email.message_from_bytes(p.read_bytes()) for p in sorted(outbox.glob("*.eml"))]
    assert all((p.stat().st_mode & 0o777) == 0o600 for p in outbox.glob("*.eml"))
    texts = "\n".join(body(m) for m in mails)
    assert invitation["url"] in texts
    reset_token = RESET_LINK.search(texts).group(1)
    log = server.log_text()
    assert "mail_written_to_outbox" in log
    assert invitation["token"] not in log and reset_token not in log


async def test_an_org_name_is_one_line_and_odd_characters_in_it_never_break_a_mail(make_server):
    """Mail subjects carry the org's name: a line break there would fail the message after the
    invitation was stored (it once answered 500), or inject a header."""
    server = make_server({"SPENDPILOT_SEED_DEMO": "false"})
    admin = await register(server.url)
    async with httpx.AsyncClient(base_url=server.url, timeout=30, headers=bearer(admin["access_token"])) as http:
        refused = await http.patch("/api/org", json={"name": "Acme\nBcc: victim@example.com"})
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "invalid_request"
        # Separators that are not ASCII control characters are accepted as text, and flattened in mail.
        assert (await http.patch("/api/org", json={"name": "Acme\u2028Labs\x85West"})).status_code == 200
        invitation = await invite(http, admin["access_token"], new_email("odd"), "viewer")
    assert invitation["mail"] == "outbox"
    [mail] = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
              for p in (server.data_dir / "outbox").glob("*.eml")]
    assert " ".join(mail["Subject"].split()) == f"{admin['user']['email']} invited you to Acme Labs West on Spendpilot"
    assert mail["Bcc"] is None


def run_cli(server: RunningServer, *args: str) -> tuple[int, str]:
    """Exit code and stderr, its lines unwrapped."""
    done = subprocess.run([sys.executable, "-m", "spendpilot", *args, "--data-dir", str(server.data_dir)],
                          capture_output=True, text=True, timeout=120,
                          env={"SPENDPILOT_DATA_DIR": str(server.data_dir), "PATH": "/usr/bin:/bin"})
    return done.returncode, " ".join((done.stdout + done.stderr).split())


async def test_the_cli_imports_only_as_a_member_whose_role_may(make_server, tmp_path):
    server = make_server({"SPENDPILOT_SEED_DEMO": "false"})
    team = await make_team(server.url)
    server.stop()  # the embedded stores belong to one process at a time
    usage = tmp_path / "usage.csv"
    usage.write_text("ts,provider,model,input_tokens,output_tokens\n2026-10-01T10:00:00Z,openai,gpt-4o,100,10\n")

    code, said = run_cli(server, "ingest", str(usage), "--as", team[Role.VIEWER]["user"]["email"])
    assert code == 2 and "may not do this (usage.import)" in said
    code, said = run_cli(server, "ingest", str(usage), "--as", "nobody@example.com")
    assert code == 2 and "no account" in said
    code, said = run_cli(server, "ingest", str(usage), "--as", team[Role.ANALYST]["user"]["email"])
    assert code == 0 and "imported=1" in said, said

    with closing(sqlite3.connect(server.data_dir / "spendpilot.db")) as conn:
        rows = conn.execute("SELECT org_id, actor_id, detail FROM audit_log WHERE action = 'usage.imported'").fetchall()
    assert [(org, actor) for org, actor, _ in rows] == [(team[Role.ADMIN]["user"]["org"],
                                                         team[Role.ANALYST]["user"]["id"])]
    assert '"via": "cli"' in rows[0][2]
