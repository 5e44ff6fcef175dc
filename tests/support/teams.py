"""An organisation with one member of each role, made the way users make one: register, invite, sign up."""

from __future__ import annotations

import uuid

import httpx

from spendpilot.auth.permissions import Role

PASSWORD = "correct-horse-battery"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def new_email(label: str = "member") -> str:
    return f"{label}-{uuid.uuid4().hex[:10]}@example.com"


async def invite(http: httpx.AsyncClient, admin_token: str, email: str, role: str) -> dict:
    response = await http.post("/api/org/invitations", json={"email": email, "role": role},
                               headers=bearer(admin_token))
    assert response.status_code == 201, response.text
    return response.json()


async def join_by_registering(http: httpx.AsyncClient, invitation: dict, email: str) -> dict:
    response = await http.post("/auth/register", json={"email": email, "password": PASSWORD,
                                                       "invitation": invitation["token"]})
    assert response.status_code == 201, response.text
    return response.json()


async def make_team(url: str) -> dict[Role, dict]:
    """{role: token pair (with `user`)} for an admin, an analyst and a viewer of one new org."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        created = await http.post("/auth/register", json={"email": new_email("admin"), "password": PASSWORD})
        assert created.status_code == 201, created.text
        team = {Role.ADMIN: created.json()}
        for role in (Role.ANALYST, Role.VIEWER):
            email = new_email(role)
            invitation = await invite(http, team[Role.ADMIN]["access_token"], email, role)
            team[role] = await join_by_registering(http, invitation, email)
            assert team[role]["user"]["org"] == team[Role.ADMIN]["user"]["org"]
            assert team[role]["user"]["role"] == role
    return team
