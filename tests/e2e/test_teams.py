"""Teams on a real server: invitations, roles that apply at once, removal, the last admin, switching org,
private threads and the audit log."""

from __future__ import annotations

import asyncio
import sqlite3
from contextlib import closing

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from spendpilot.auth.permissions import Role
from tests.support.client import open_socket, register
from tests.support.server import RunningServer, free_port
from tests.support.teams import PASSWORD, bearer, invite, join_by_registering, make_team, new_email

USAGE_CSV = ("ts,provider,model,feature,user,input_tokens,output_tokens\n"
             "2026-10-01T10:00:00Z,openai,gpt-4o,chat,ana,1000,200\n"
             "2026-10-01T11:00:00Z,openai,gpt-4o,chat,ana,3000,500\n"
             "2026-10-02T10:00:00Z,openai,gpt-4o-mini,search,bo,1000,200\n"
             "2026-10-02T12:00:00Z,openai,gpt-4o-mini,search,,800,100\n")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    running = RunningServer(tmp_path_factory.mktemp("teams"), free_port(),
                            env={"SPENDPILOT_SEED_DEMO": "false", "SPENDPILOT_LOGIN_ATTEMPTS_PER_IP": "10000"}).start()
    yield running
    running.stop()


@pytest.fixture
async def http(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
        yield client


def sql(server: RunningServer, statement: str, *args) -> list[tuple]:
    """Run one statement on the server's own database (to age an invitation, or read a run's status)."""
    with closing(sqlite3.connect(server.data_dir / "spendpilot.db")) as conn, conn:
        return conn.execute(statement, args).fetchall()


async def me(http: httpx.AsyncClient, token: str) -> dict:
    response = await http.get("/auth/me", headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()


async def test_an_invitation_joins_its_address_with_its_role_once(server, http):
    admin = await register(server.url)
    token = admin["access_token"]
    email = new_email("invitee")
    invitation = await invite(http, token, email.upper(), "viewer")
    assert invitation["email"] == email and invitation["role"] == "viewer"
    assert invitation["url"] == f"{server.url}/#/join/{invitation['token']}"
    assert invitation["expires_at"] > invitation["created_at"] and invitation["mail"] == "outbox"

    preview = (await http.post("/auth/invitation", json={"token": invitation["token"]})).json()
    assert preview["org"]["id"] == admin["user"]["org"] and preview["email"] == email
    assert preview["role"] == "viewer" and preview["account_exists"] is False
    pending = (await http.get("/api/org/invitations", headers=bearer(token))).json()
    assert [p["id"] for p in pending] == [invitation["id"]] and "token" not in pending[0]

    other = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD,
                                                    "invitation": invitation["token"]})
    assert other.status_code == 422 and other.json()["error"]["code"] == "invitation_email_mismatch"
    joined = await join_by_registering(http, invitation, email)
    assert joined["user"]["org"] == admin["user"]["org"] and joined["user"]["role"] == "viewer"
    profile = await me(http, joined["access_token"])
    assert [o["id"] for o in profile["orgs"]] == [admin["user"]["org"]]
    assert "usage.read" in profile["permissions"] and "usage.import" not in profile["permissions"]

    again = await http.post("/auth/register", json={"email": new_email(), "password": PASSWORD,
                                                    "invitation": invitation["token"]})
    assert again.status_code == 422 and again.json()["error"]["code"] == "invalid_invitation"
    assert (await http.post("/auth/invitation", json={"token": invitation["token"]})).status_code == 404
    assert (await http.get("/api/org/invitations", headers=bearer(token))).json() == []
    members = (await http.get("/api/org/members", headers=bearer(joined["access_token"]))).json()
    assert {(m["email"], m["role"]) for m in members} == {(admin["user"]["email"], "admin"), (email, "viewer")}
    duplicate = await http.post("/api/org/invitations", json={"email": email, "role": "admin"}, headers=bearer(token))
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "already_member"


async def test_a_new_invitation_replaces_the_old_one_and_withdrawn_or_expired_links_stop_working(server, http):
    admin = (await register(server.url))["access_token"]
    email = new_email()
    first = await invite(http, admin, email, "viewer")
    second = await invite(http, admin, email, "analyst")
    assert (await http.post("/auth/invitation", json={"token": first["token"]})).status_code == 404
    assert (await http.post("/auth/invitation", json={"token": second["token"]})).json()["role"] == "analyst"
    assert (await http.delete(f"/api/org/invitations/{second['id']}", headers=bearer(admin))).status_code == 204
    withdrawn = await http.post("/auth/register", json={"email": email, "password": PASSWORD,
                                                        "invitation": second["token"]})
    assert withdrawn.status_code == 422 and withdrawn.json()["error"]["code"] == "invalid_invitation"

    third = await invite(http, admin, email, "viewer")
    sql(server, "UPDATE invitations SET expires_at = '2000-01-01 00:00:00.000000' WHERE id = ?", third["id"])
    assert (await http.post("/auth/invitation", json={"token": third["token"]})).status_code == 404
    expired = await http.post("/auth/register", json={"email": email, "password": PASSWORD,
                                                      "invitation": third["token"]})
    assert expired.status_code == 422
    # Another org's invitation is not this admin's to withdraw.
    stranger = (await register(server.url))["access_token"]
    fourth = await invite(http, admin, email, "viewer")
    assert (await http.delete(f"/api/org/invitations/{fourth['id']}", headers=bearer(stranger))).status_code == 404


async def test_a_role_change_applies_to_the_next_request_with_the_same_token(server, http):
    team = await make_team(server.url)
    viewer = team[Role.VIEWER]
    upload = {"file": ("usage.csv", USAGE_CSV.encode())}
    refused = await http.post("/api/usage/import", files=upload, headers=bearer(viewer["access_token"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"

    admin = bearer(team[Role.ADMIN]["access_token"])
    changed = await http.patch(f"/api/org/members/{viewer['user']['id']}", json={"role": "analyst"}, headers=admin)
    assert changed.status_code == 200 and changed.json()["role"] == "analyst"
    imported = await http.post("/api/usage/import", files=upload, headers=bearer(viewer["access_token"]))
    assert imported.status_code == 200 and imported.json()["imported"] == 4
    assert (await me(http, viewer["access_token"]))["role"] == "analyst"

    back = await http.patch(f"/api/org/members/{viewer['user']['id']}", json={"role": "viewer"}, headers=admin)
    assert back.json()["role"] == "viewer"
    assert (await http.post("/api/usage/import", files=upload,
                            headers=bearer(viewer["access_token"]))).status_code == 403
    bad = await http.patch(f"/api/org/members/{viewer['user']['id']}", json={"role": "owner"}, headers=admin)
    assert bad.status_code == 422
    outsider = await register(server.url)
    missing = await http.patch(f"/api/org/members/{outsider['user']['id']}", json={"role": "viewer"}, headers=admin)
    assert missing.status_code == 404


async def test_removal_refuses_the_members_tokens_at_once_and_closes_their_sockets_1008(server, http):
    team = await make_team(server.url)
    member = team[Role.ANALYST]
    token = member["access_token"]
    ws = await open_socket(server.ws_url, token)
    try:
        assert (await http.get("/api/usage/summary", headers=bearer(token))).status_code == 200
        removed = await http.delete(f"/api/org/members/{member['user']['id']}",
                                    headers=bearer(team[Role.ADMIN]["access_token"]))
        assert removed.status_code == 204
        # The very next request with the same access token, and the refresh token, are refused.
        after = await http.get("/api/usage/summary", headers=bearer(token))
        assert after.status_code == 401
        assert (await http.post("/auth/refresh", json={"refresh_token": member["refresh_token"]})).status_code == 401
        with pytest.raises(ConnectionClosed) as closed:
            async with asyncio.timeout(1.0):
                while True:
                    await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
    finally:
        await ws.close()
    with pytest.raises(InvalidStatus) as refused:
        await open_socket(server.ws_url, token)
    assert refused.value.response.status_code == 403
    members = (await http.get("/api/org/members", headers=bearer(team[Role.ADMIN]["access_token"]))).json()
    assert member["user"]["id"] not in {m["user_id"] for m in members}
    # The account remains: signing in again opens an org of its own, not the one it left.
    again = await http.post("/auth/login", json={"email": member["user"]["email"], "password": PASSWORD})
    assert again.status_code == 200 and again.json()["user"]["org"] != member["user"]["org"]
    assert again.json()["user"]["role"] == "admin"


async def test_the_last_admin_can_neither_leave_nor_be_demoted_nor_removed(server, http):
    team = await make_team(server.url)
    admin_id = team[Role.ADMIN]["user"]["id"]
    admin = bearer(team[Role.ADMIN]["access_token"])
    for response in (await http.patch(f"/api/org/members/{admin_id}", json={"role": "viewer"}, headers=admin),
                     await http.post("/api/org/leave", headers=admin),
                     await http.delete(f"/api/org/members/{admin_id}", headers=admin)):
        assert response.status_code == 409 and response.json()["error"]["code"] == "last_admin"
    assert (await me(http, team[Role.ADMIN]["access_token"]))["role"] == "admin"

    analyst_id = team[Role.ANALYST]["user"]["id"]
    promoted = await http.patch(f"/api/org/members/{analyst_id}", json={"role": "admin"}, headers=admin)
    assert promoted.json()["role"] == "admin"
    # With two admins, each demoting the other at the same moment: one of them stays admin.
    other = bearer(team[Role.ANALYST]["access_token"])
    results = await asyncio.gather(
        http.patch(f"/api/org/members/{analyst_id}", json={"role": "viewer"}, headers=admin),
        http.patch(f"/api/org/members/{admin_id}", json={"role": "viewer"}, headers=other))
    # The loser is refused either as the last admin (409) or, when the winner's change landed first, as a
    # viewer who may no longer change roles (403): never both demoted.
    assert sorted(r.status_code for r in results) in ([200, 403], [200, 409])
    members = (await http.get("/api/org/members", headers=bearer(team[Role.VIEWER]["access_token"]))).json()
    assert [m["role"] for m in members].count("admin") == 1

    # A member who is not the last admin may leave; their session ends with it.
    viewer = team[Role.VIEWER]
    assert (await http.post("/api/org/leave", headers=bearer(viewer["access_token"]))).status_code == 204
    assert (await http.get("/auth/me", headers=bearer(viewer["access_token"]))).status_code == 401


async def test_a_member_of_two_orgs_switches_and_each_org_keeps_its_own_threads(server, http):
    user = await register(server.url)
    home = user["user"]["org"]
    other_admin = await register(server.url)
    invitation = await invite(http, other_admin["access_token"], user["user"]["email"], "analyst")
    assert (await http.post("/auth/invitation", json={"token": invitation["token"]})).json()["account_exists"]

    accepted = await http.post(f"/api/org/invitations/{invitation['token']}/accept",
                               headers=bearer(user["access_token"]))
    assert accepted.status_code == 200, accepted.text
    away = accepted.json()
    assert away["user"]["org"] == other_admin["user"]["org"] and away["user"]["role"] == "analyst"
    # The session moved to the org it joined: the old token is done.
    assert (await http.get("/auth/me", headers=bearer(user["access_token"]))).status_code == 401
    profile = await me(http, away["access_token"])
    assert {(o["id"], o["role"]) for o in profile["orgs"]} == {(home, "admin"), (away["user"]["org"], "analyst")}
    thread = (await http.post("/api/threads", json={"title": "away plans"},
                              headers=bearer(away["access_token"]))).json()

    switched = await http.post("/auth/switch-org", json={"org_id": home}, headers=bearer(away["access_token"]))
    assert switched.status_code == 200
    back = switched.json()
    assert back["user"]["org"] == home and back["user"]["role"] == "admin"
    assert (await me(http, back["access_token"]))["org"] == home
    assert (await http.get("/auth/me", headers=bearer(away["access_token"]))).status_code == 401
    assert (await http.get("/api/threads", headers=bearer(back["access_token"]))).json() == []
    assert (await http.get(f"/api/threads/{thread['id']}", headers=bearer(back["access_token"]))).status_code == 404

    stranger_org = (await register(server.url))["user"]["org"]
    refused = await http.post("/auth/switch-org", json={"org_id": stranger_org}, headers=bearer(back["access_token"]))
    assert refused.status_code == 404
    # A new sign-in opens the org last switched to.
    signed_in = await http.post("/auth/login", json={"email": user["user"]["email"], "password": PASSWORD})
    assert signed_in.json()["user"]["org"] == home


async def test_an_invitation_is_accepted_only_by_its_address(server, http):
    admin = await register(server.url)
    invitation = await invite(http, admin["access_token"], new_email(), "viewer")
    someone = await register(server.url)
    refused = await http.post(f"/api/org/invitations/{invitation['token']}/accept",
                              headers=bearer(someone["access_token"]))
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "invitation_email_mismatch"
    unknown = await http.post("/api/org/invitations/not-a-token/accept", headers=bearer(someone["access_token"]))
    assert unknown.status_code == 404


async def test_threads_stay_private_to_their_author_inside_an_org(server, http):
    team = await make_team(server.url)
    admin, viewer = bearer(team[Role.ADMIN]["access_token"]), bearer(team[Role.VIEWER]["access_token"])
    thread = (await http.post("/api/threads", json={"title": "admin only"}, headers=admin)).json()
    assert (await http.get(f"/api/threads/{thread['id']}", headers=viewer)).status_code == 404
    assert (await http.get("/api/threads", headers=viewer)).json() == []
    assert (await http.delete(f"/api/threads/{thread['id']}", headers=viewer)).status_code == 404


async def test_the_audit_log_records_who_did_what_newest_first_a_page_at_a_time(server, http):
    team = await make_team(server.url)
    admin = bearer(team[Role.ADMIN]["access_token"])
    admin_id, viewer_id = team[Role.ADMIN]["user"]["id"], team[Role.VIEWER]["user"]["id"]
    imported = await http.post("/api/usage/import", files={"file": ("team.csv", USAGE_CSV.encode())},
                               headers=bearer(team[Role.ANALYST]["access_token"]))
    assert imported.status_code == 200
    await http.patch(f"/api/org/members/{viewer_id}", json={"role": "analyst"}, headers=admin)
    await http.delete(f"/api/org/members/{viewer_id}", headers=admin)

    entries, cursor, pages = [], None, 0
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await http.get("/api/org/audit", params=params, headers=admin)).json()
        entries += page["entries"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages > 2 and len({e["id"] for e in entries}) == len(entries)
    assert [e["at"] for e in entries] == sorted((e["at"] for e in entries), reverse=True)
    actions = [e["action"] for e in entries]
    assert actions[:2] == ["member.removed", "member.role_changed"]
    assert actions.count("member.invited") == 2 and actions.count("member.joined") == 2
    assert actions.count("auth.sign_in") == 3 and "usage.imported" in actions
    removed = entries[0]
    assert removed["actor"]["id"] == admin_id and removed["target"] == {"type": "user", "id": viewer_id}
    assert removed["detail"]["role"] == "analyst" and removed["detail"]["sessions_ended"] == 1
    imports = [e for e in entries if e["action"] == "usage.imported"]
    assert imports[0]["detail"] == {"format": "generic", "imported": 4, "duplicates": 0, "rejected": 0}
    assert imports[0]["actor"]["email"] == team[Role.ANALYST]["user"]["email"]
    assert imports[0]["target"] == {"type": "file", "id": "team.csv"}

    members_only = (await http.get("/api/org/audit", params={"action": "member."}, headers=admin)).json()
    assert {e["action"] for e in members_only["entries"]} == {"member.invited", "member.joined",
                                                              "member.role_changed", "member.removed"}
    refused = await http.get("/api/org/audit", headers=bearer(team[Role.ANALYST]["access_token"]))
    assert refused.status_code == 403
    bad = await http.get("/api/org/audit", params={"cursor": "%%%"}, headers=admin)
    assert bad.status_code == 422
    # Nothing secret is kept: no token of any kind appears in the log.
    text = str(entries)
    assert "eyJ" not in text and team[Role.ADMIN]["refresh_token"] not in text


async def test_a_failed_sign_in_is_in_the_log_of_the_accounts_org(server, http):
    user = await register(server.url)
    failed = await http.post("/auth/login", json={"email": user["user"]["email"], "password": "wrong password"})
    assert failed.status_code == 401
    entries = (await http.get("/api/org/audit", params={"action": "auth.sign_in_failed"},
                              headers=bearer(user["access_token"]))).json()["entries"]
    assert len(entries) == 1 and entries[0]["actor"]["id"] == user["user"]["id"]


async def test_spend_by_user_and_by_tag_over_rest(server, http):
    admin = (await register(server.url))["access_token"]
    assert (await http.post("/api/usage/import", files={"file": ("u.csv", USAGE_CSV.encode())},
                            headers=bearer(admin))).status_code == 200
    by_user = (await http.get("/api/usage/summary", params={"group_by": "user"}, headers=bearer(admin))).json()
    # Biggest first; calls that name no user group under "".
    assert [(g["key"], g["requests"]) for g in by_user["groups"]] == [("ana", 2), ("bo", 1), ("", 1)]
    assert by_user["group_count"] == 3 and by_user["truncated"] is False
    assert sum(g["cost_usd"] for g in by_user["groups"]) == pytest.approx(by_user["total_usd"], abs=1e-5)
    by_tag = (await http.get("/api/usage/summary", params={"group_by": "tag:team"}, headers=bearer(admin))).json()
    assert [(g["key"], g["requests"]) for g in by_tag["groups"]] == [("", 4)]
    limited = (await http.get("/api/usage/summary", params={"group_by": "user", "limit": 1},
                              headers=bearer(admin))).json()
    assert len(limited["groups"]) == 1 and limited["truncated"] is True
    for bad in ("team", "tag:", "tag:a b", "user;drop"):
        response = await http.get("/api/usage/summary", params={"group_by": bad}, headers=bearer(admin))
        assert response.status_code == 422, bad
    assert (await http.get("/api/usage/tags", headers=bearer(admin))).json() == []


async def test_a_removed_members_analysis_in_flight_is_cancelled(make_server):
    # Each run event pauses, so the run is still going when its author is removed.
    slow = make_server({"SPENDPILOT_SEED_DEMO": "false", "SPENDPILOT_RUN_STEP_DELAY_S": "0.3"})
    team = await make_team(slow.url)
    member = team[Role.ANALYST]
    async with httpx.AsyncClient(base_url=slow.url, timeout=30) as http:
        thread = (await http.post("/api/threads", json={}, headers=bearer(member["access_token"]))).json()
        started = await http.post(f"/api/threads/{thread['id']}/runs", json={"content": "Analyze my AI costs"},
                                  headers=bearer(member["access_token"]))
        run_id = started.json()["run_id"]
        removed = await http.delete(f"/api/org/members/{member['user']['id']}",
                                    headers=bearer(team[Role.ADMIN]["access_token"]))
        assert removed.status_code == 204
    async with asyncio.timeout(30):
        while (status := sql(slow, "SELECT status FROM runs WHERE id = ?", run_id)[0][0]) in ("queued", "running"):
            await asyncio.sleep(0.1)
    assert status == "cancelled"
    [(detail,)] = sql(slow, "SELECT detail FROM audit_log WHERE action = 'member.removed'")
    assert '"runs_cancelled": 1' in detail
