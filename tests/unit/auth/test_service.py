"""AuthService on a real database: accounts, sign-in throttling, refresh rotation, reuse detection, sign-out."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from spendpilot.auth.service import AuthService, ClientInfo
from spendpilot.auth.tokens import TokenError
from spendpilot.bus.memory import MemoryBus
from spendpilot.errors import Conflict, InvalidInput, RateLimited, Unauthorized
from spendpilot.limits import RateLimits
from spendpilot.store.models import TokenFamily, User

PASSWORD = "correct horse battery"
WINDOW_S = 300
CLIENT = ClientInfo(ip="10.0.0.1", user_agent="tests")


@pytest.fixture
def make_auth(db, tokens):
    def make(per_account: int = 10, per_ip: int = 50) -> AuthService:
        limits = RateLimits()
        return AuthService(db, tokens, MemoryBus(),
                           failed_logins_per_account=limits.make("login_account", per_account, WINDOW_S),
                           failed_logins_per_ip=limits.make("login_ip", per_ip, WINDOW_S))
    return make


@pytest.fixture
def auth(make_auth) -> AuthService:
    return make_auth()


@pytest.fixture
async def account(auth) -> dict:
    """A registered account: its first session's token pair."""
    return await auth.register("Ana@Example.com ", PASSWORD, "Ana", CLIENT)


async def refused_token(auth: AuthService, access_token: str) -> str:
    with pytest.raises(TokenError) as raised:
        await auth.authenticate(access_token)
    return str(raised.value)


async def unauthorized(call) -> Unauthorized:
    with pytest.raises(Unauthorized) as raised:
        await call
    return raised.value


async def test_register_creates_the_account_in_its_own_org_and_signs_it_in(auth, account, db):
    assert account["token_type"] == "bearer" and account["expires_in"] == 900
    assert account["user"]["email"] == "ana@example.com" and account["user"]["name"] == "Ana"
    principal = await auth.authenticate(account["access_token"])
    assert (principal.user_id, principal.org_id, principal.email) == (
        account["user"]["id"], account["user"]["org"], "ana@example.com")
    async with db.session() as s:
        user = await s.get(User, principal.user_id)
    assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash


async def test_an_email_can_register_once_whatever_its_case(auth, account, db):
    with pytest.raises(Conflict) as taken:
        await auth.register("ANA@example.COM", "another password", None, CLIENT)
    assert (taken.value.code, taken.value.status) == ("email_taken", 409)
    async with db.session() as s:
        assert len((await s.scalars(select(User))).all()) == 1


async def test_a_weak_password_is_refused_before_anything_is_stored(auth, db):
    with pytest.raises(InvalidInput) as weak:
        await auth.register("bo@example.com", "short", None, CLIENT)
    assert (weak.value.code, weak.value.status) == ("weak_password", 422)
    async with db.session() as s:
        assert (await s.scalars(select(User))).all() == []


async def test_login_with_the_right_password_starts_a_new_session(auth, account):
    session = await auth.login(" ANA@example.com", PASSWORD, ClientInfo(ip="10.0.0.1"))
    assert session["user"] == account["user"]
    assert session["refresh_token"] != account["refresh_token"]
    assert (await auth.authenticate(session["access_token"])).user_id == account["user"]["id"]


@pytest.mark.parametrize(("email", "password"), [("ana@example.com", "wrong password"),
                                                 ("nobody@example.com", PASSWORD)])
async def test_login_with_a_wrong_password_or_unknown_email_is_the_same_refusal(auth, account, email, password):
    refusal = await unauthorized(auth.login(email, password, ClientInfo(ip="10.0.0.1")))
    assert (refusal.code, refusal.status, refusal.message) == (
        "invalid_credentials", 401, "email or password is incorrect")


async def test_repeated_failures_lock_the_account_from_every_address(make_auth, account):
    auth = make_auth(per_account=2, per_ip=100)
    for ip in ("10.0.0.1", "10.0.0.2"):
        await unauthorized(auth.login("ana@example.com", "wrong password", ClientInfo(ip=ip)))
    for ip in ("10.0.0.1", "10.0.0.3"):
        with pytest.raises(RateLimited) as limited:
            await auth.login("ana@example.com", PASSWORD, ClientInfo(ip=ip))  # even the right password waits
        assert (limited.value.code, limited.value.status) == ("rate_limited", 429)
        assert 1 <= int(limited.value.headers["Retry-After"]) <= WINDOW_S + 1
    # Another account is not locked by this one's failures.
    await auth.register("bo@example.com", PASSWORD, None, CLIENT)
    assert (await auth.login("bo@example.com", PASSWORD, ClientInfo(ip="10.0.0.1")))["access_token"]


async def test_repeated_failures_from_one_address_lock_that_address_for_every_account(make_auth, account):
    auth = make_auth(per_account=100, per_ip=2)
    for email in ("x@example.com", "y@example.com"):
        await unauthorized(auth.login(email, "wrong password", ClientInfo(ip="10.0.0.9")))
    with pytest.raises(RateLimited) as limited:
        await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.9"))
    assert int(limited.value.headers["Retry-After"]) >= 1
    assert (await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.10")))["access_token"]


async def test_a_successful_sign_in_clears_the_account_failures(make_auth, account):
    auth = make_auth(per_account=2, per_ip=100)
    await unauthorized(auth.login("ana@example.com", "wrong password", ClientInfo(ip="10.0.0.1")))
    await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.1"))
    await unauthorized(auth.login("ana@example.com", "wrong password", ClientInfo(ip="10.0.0.1")))
    assert (await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.1")))["access_token"]


async def test_refresh_rotates_the_pair_within_the_same_session(auth, account):
    second = await auth.refresh(account["refresh_token"])
    assert second["refresh_token"] != account["refresh_token"]
    assert second["access_token"] != account["access_token"]
    third = await auth.refresh(second["refresh_token"])
    assert (await auth.authenticate(third["access_token"])).user_id == account["user"]["id"]
    family = auth.tokens.verify(account["refresh_token"], "refresh").family_id
    assert auth.tokens.verify(third["refresh_token"], "refresh").family_id == family


async def test_a_reused_refresh_token_revokes_its_whole_session(auth, account, db):
    other_session = await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.1"))
    rotated = await auth.refresh(account["refresh_token"])
    reuse = await unauthorized(auth.refresh(account["refresh_token"]))
    assert (reuse.code, reuse.status) == ("token_reused", 401)
    # Every token of the session is now refused: the rotated refresh token and both access tokens.
    assert (await unauthorized(auth.refresh(rotated["refresh_token"]))).code == "invalid_token"
    assert await refused_token(auth, rotated["access_token"]) == "session revoked"
    assert await refused_token(auth, account["access_token"]) == "session revoked"
    async with db.session() as s:
        family = await s.get(TokenFamily, auth.tokens.verify(account["refresh_token"], "refresh").family_id)
    assert family.revoked_at is not None
    # The account's other sign-in is a session of its own and carries on.
    assert (await auth.authenticate(other_session["access_token"])).user_id == account["user"]["id"]
    assert (await auth.refresh(other_session["refresh_token"]))["access_token"]


async def test_logout_ends_the_session_and_only_it(auth, account):
    other_session = await auth.login("ana@example.com", PASSWORD, ClientInfo(ip="10.0.0.1"))
    await auth.logout(account["refresh_token"])
    assert await refused_token(auth, account["access_token"]) == "session revoked"
    assert (await unauthorized(auth.refresh(account["refresh_token"]))).code == "invalid_token"
    await auth.logout(account["refresh_token"])  # signing out twice is harmless
    assert (await auth.authenticate(other_session["access_token"])).user_id == account["user"]["id"]


@pytest.mark.parametrize("which", ["access_token", "garbage"])
async def test_refresh_and_logout_need_a_refresh_token(auth, account, which):
    token = account.get(which, "not-a-token")
    assert (await unauthorized(auth.refresh(token))).code == "invalid_token"
    assert (await unauthorized(auth.logout(token))).code == "invalid_token"


@pytest.mark.parametrize("token", [None, "", "not-a-jwt"])
async def test_authenticate_refuses_a_missing_or_malformed_token(auth, token):
    with pytest.raises(TokenError):
        await auth.authenticate(token)


async def test_authenticate_refuses_a_refresh_token(auth, account):
    assert await refused_token(auth, account["refresh_token"]) == "expected an access token"


async def test_of_two_concurrent_refreshes_with_one_token_only_one_gets_a_pair(auth, account):
    results = await asyncio.gather(auth.refresh(account["refresh_token"]), auth.refresh(account["refresh_token"]),
                                   return_exceptions=True)
    pairs = [r for r in results if isinstance(r, dict)]
    refusals = [r for r in results if isinstance(r, Unauthorized)]
    assert len(pairs) == 1 and [r.code for r in refusals] == ["token_reused"]
    # The second use is a reuse: the session, including the pair just issued, is revoked.
    assert await refused_token(auth, pairs[0]["access_token"]) == "session revoked"
