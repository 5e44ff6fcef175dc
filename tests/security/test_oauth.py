"""OIDC sign-in end to end against a real provider (Authlib server grants) and a real Spendpilot server."""

from __future__ import annotations

import base64
import json
import time
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from websockets.asyncio.client import connect

from tests.security.conftest import bearer
from tests.security.oidc_provider import alg_none

PROVIDER = "test-idp"


def set_cookies(response: httpx.Response) -> dict[str, dict]:
    """Set-Cookie headers as {name: {"value", and lower-cased attributes}}."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        jar = SimpleCookie()
        jar.load(header)
        for name, morsel in jar.items():
            attrs = {k: v for k, v in morsel.items() if v != ""}
            # SimpleCookie keeps flags as True; samesite keeps its case
            found[name] = {"value": morsel.value, **{k.lower(): v for k, v in attrs.items()}}
    return found


class Browser:
    """A browser-less user agent: follows the flow by hand and keeps cookies per origin and path."""

    def __init__(self, server, provider):
        self.server, self.provider = server, provider
        self.http = httpx.AsyncClient(timeout=30, follow_redirects=False)
        self.cookies: dict[str, str] = {}  # Spendpilot's cookies (all under /auth/oauth)
        self.trail: list[httpx.Response] = []

    async def get(self, url: str, **kwargs) -> httpx.Response:
        headers = {}
        if url.startswith(self.server.url) and self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        response = await self.http.get(url, headers=headers, **kwargs)
        self._keep(url, response)
        return response

    async def post(self, path: str) -> httpx.Response:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        response = await self.http.post(self.server.url + path, headers=headers)
        self._keep(self.server.url + path, response)
        return response

    def _keep(self, url: str, response: httpx.Response) -> None:
        self.http.cookies.clear()  # only the cookies this class sends explicitly
        self.trail.append(response)
        if url.startswith(self.server.url):
            for name, cookie in set_cookies(response).items():
                if cookie.get("max-age") == "0" or not cookie["value"]:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = cookie["value"]

    async def start(self) -> httpx.Response:
        """Spendpilot login -> provider authorize; returns the provider's redirect back to the callback."""
        login = await self.get(f"{self.server.url}/auth/oauth/{PROVIDER}/login")
        assert login.status_code == 302, login.text
        authorize = await self.get(login.headers["location"])
        assert authorize.status_code == 302, authorize.text
        return authorize

    async def finish(self, callback_url: str) -> httpx.Response:
        """Callback -> (redirect to the web app) -> exchange of the one-time cookie for tokens."""
        callback = await self.get(callback_url)
        assert callback.status_code == 303, callback.text
        assert callback.headers["location"] == "/#/oauth"
        return await self.post("/auth/oauth/session")

    async def sign_in(self) -> httpx.Response:
        return await self.finish((await self.start()).headers["location"])

    async def aclose(self):
        await self.http.aclose()


@pytest.fixture
async def browser(oauth_server, idp):
    b = Browser(oauth_server, idp)
    yield b
    await b.aclose()


async def test_providers_lists_google_preset_and_the_oidc_issuer(oauth_server):
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        listed = (await http.get("/auth/providers")).json()
    assert listed == [
        {"id": "google", "name": "Google", "login_url": "/auth/oauth/google/login"},
        {"id": PROVIDER, "name": "Test IdP", "login_url": f"/auth/oauth/{PROVIDER}/login"},
    ]


async def test_providers_is_empty_without_configuration(security_server):
    async with httpx.AsyncClient(base_url=security_server.url) as http:
        assert (await http.get("/auth/providers")).json() == []
        unknown = await http.get("/auth/oauth/google/login", follow_redirects=False)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"


async def test_code_flow_with_pkce_ends_in_a_working_spendpilot_session(browser, oauth_server, idp):
    login = await browser.get(f"{oauth_server.url}/auth/oauth/{PROVIDER}/login")
    assert login.status_code == 302
    state_cookie = set_cookies(login)["sp_oauth_state"]
    assert state_cookie["httponly"] is True and state_cookie["samesite"].lower() == "lax"
    assert state_cookie["path"] == "/auth/oauth" and int(state_cookie["max-age"]) <= 600

    authorize_url = urlsplit(login.headers["location"])
    assert f"{authorize_url.scheme}://{authorize_url.netloc}" == idp.issuer
    query = {k: v[0] for k, v in parse_qs(authorize_url.query).items()}
    assert query["response_type"] == "code" and query["client_id"] == idp.client.client_id
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32 and "openid" in query["scope"].split()
    assert query["redirect_uri"] == f"{oauth_server.url}/auth/oauth/{PROVIDER}/callback"

    back = await browser.get(login.headers["location"])
    callback = await browser.get(back.headers["location"])
    assert callback.status_code == 303 and callback.headers["location"] == "/#/oauth"
    # The provider received the verifier that matches the challenge (PKCE S256).
    verifier = idp.seen_token[-1]["code_verifier"]
    import hashlib
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    assert digest == query["code_challenge"]
    exchange_cookie = set_cookies(callback)["sp_oauth_exchange"]
    assert exchange_cookie["httponly"] is True and exchange_cookie["samesite"].lower() == "strict"
    assert exchange_cookie["path"] == "/auth/oauth" and int(exchange_cookie["max-age"]) <= 60
    # No token anywhere in a URL of the whole round trip.
    for response in browser.trail:
        for url in (str(response.request.url), response.headers.get("location", "")):
            assert "eyJ" not in url and "access_token" not in url

    exchanged = await browser.post("/auth/oauth/session")
    assert exchanged.status_code == 200, exchanged.text
    pair = exchanged.json()
    assert pair["token_type"] == "bearer" and pair["user"]["email"] == idp.user["email"]
    assert set_cookies(exchanged)["sp_oauth_exchange"].get("max-age") == "0"  # cleared
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        me = await http.get("/auth/me", headers=bearer(pair["access_token"]))
        assert me.status_code == 200 and me.json()["email"] == idp.user["email"]
        refreshed = await http.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
        assert refreshed.status_code == 200
    async with connect(oauth_server.ws_url, additional_headers=bearer(pair["access_token"])) as ws:
        ready = json.loads(await ws.recv())
        assert ready["type"] == "connection_ready" and ready["data"]["user_id"] == pair["user"]["id"]


async def test_the_one_time_code_works_once_and_a_replay_revokes_the_sign_in(browser, oauth_server):
    first = await browser.sign_in()
    assert first.status_code == 200
    code = set_cookies(browser.trail[-2])["sp_oauth_exchange"]["value"]
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        replay = await http.post("/auth/oauth/session", headers={"Cookie": f"sp_oauth_exchange={code}"})
        assert replay.status_code == 401 and replay.json()["error"]["code"] == "token_reused"
        # Whoever replayed the code got nothing, and the session it came from is revoked.
        revoked = await http.post("/auth/refresh", json={"refresh_token": first.json()["refresh_token"]})
        assert revoked.status_code == 401
        nothing = await http.post("/auth/oauth/session")
        assert nothing.status_code == 401 and nothing.json()["error"]["code"] == "no_sign_in"


async def test_the_code_cannot_be_redeemed_from_another_site(browser, oauth_server):
    callback = await browser.get((await browser.start()).headers["location"])
    cookie = f"sp_oauth_exchange={set_cookies(callback)['sp_oauth_exchange']['value']}"
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        forged = await http.post("/auth/oauth/session", headers={"Cookie": cookie, "Origin": "https://evil.example"})
        assert forged.status_code == 403 and "access_token" not in forged.text
        # Refused before the code was touched: the real page still completes the sign-in.
        own = await http.post("/auth/oauth/session", headers={"Cookie": cookie, "Origin": oauth_server.url})
        assert own.status_code == 200 and own.json()["access_token"]


async def test_the_code_is_bound_to_its_type_and_cannot_be_used_as_a_token(browser, oauth_server):
    callback = await browser.get((await browser.start()).headers["location"])
    code = set_cookies(callback)["sp_oauth_exchange"]["value"]
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        assert (await http.get("/auth/me", headers=bearer(code))).status_code == 401
        assert (await http.post("/auth/refresh", json={"refresh_token": code})).status_code == 401


async def test_a_verified_email_signs_in_to_the_existing_account(browser, oauth_server, idp):
    email = f"linked-{int(time.time() * 1000)}@example.com"
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        registered = (await http.post("/auth/register", json={"email": email, "password": "correct-horse-9"})).json()
    idp.user = {**idp.user, "sub": "idp-linked", "email": email.upper()}
    pair = (await browser.sign_in()).json()
    assert pair["user"]["id"] == registered["user"]["id"] and pair["user"]["org"] == registered["user"]["org"]


async def test_a_new_email_creates_an_account_without_a_password(browser, oauth_server, idp):
    email = f"fresh-{int(time.time() * 1000)}@example.com"
    idp.user = {**idp.user, "sub": "idp-fresh", "email": email}
    pair = (await browser.sign_in()).json()
    assert pair["user"]["email"] == email and pair["user"]["org"].startswith("org_")
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        # No password was set, so none (not even an empty one) signs in.
        for password in ("", "correct-horse-battery", "null"):
            assert (await http.post("/auth/login", json={"email": email, "password": password})).status_code == 401


async def _refused(browser, code: str, status: int) -> None:
    response = await browser.sign_in()
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert "access_token" not in response.json()


@pytest.mark.parametrize("claims", [{"email_verified": False}, {"email_verified": None}, {"email_verified": "yes"}],
                         ids=["false", "missing", "not-boolean"])
async def test_an_unverified_email_is_refused_and_no_account_is_made(browser, oauth_server, idp, claims):
    email = f"unverified-{int(time.time() * 1000)}@example.com"
    idp.user = {**idp.user, "sub": "idp-unverified", "email": email, **claims}
    if claims["email_verified"] is None:
        del idp.user["email_verified"]
    await _refused(browser, "oauth_email_unverified", 403)
    async with httpx.AsyncClient(base_url=oauth_server.url) as http:
        # The address is still free: the refused sign-in created nothing.
        created = await http.post("/auth/register", json={"email": email, "password": "correct-horse-9"})
        assert created.status_code == 201


async def test_a_missing_email_is_refused(browser, idp):
    idp.user = {"sub": "idp-no-email", "name": "No Email"}
    await _refused(browser, "oauth_email_missing", 400)


async def test_a_state_that_does_not_match_is_refused(browser):
    back = urlsplit((await browser.start()).headers["location"])
    query = {k: v[0] for k, v in parse_qs(back.query).items()}
    forged = f"{back.scheme}://{back.netloc}{back.path}?code={query['code']}&state=attacker-state"
    await _refused_at(browser, forged, "oauth_state_mismatch")


async def test_a_callback_without_the_state_cookie_is_refused(browser):
    callback_url = (await browser.start()).headers["location"]
    browser.cookies.clear()  # another browser, e.g. a victim lured to an attacker's callback URL
    await _refused_at(browser, callback_url, "oauth_state_missing")


async def test_a_tampered_state_cookie_is_refused(browser):
    callback_url = (await browser.start()).headers["location"]
    head, payload, signature = browser.cookies["sp_oauth_state"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["nonce"] = "attacker-nonce"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    browser.cookies["sp_oauth_state"] = f"{head}.{forged}.{signature}"
    await _refused_at(browser, callback_url, "oauth_state_invalid")


async def test_a_replayed_callback_is_refused(browser):
    callback_url = (await browser.start()).headers["location"]
    saved = dict(browser.cookies)
    assert (await browser.finish(callback_url)).status_code == 200
    browser.cookies = saved  # the attacker kept the state cookie too
    await _refused_at(browser, callback_url, "oauth_exchange_failed")


async def _refused_at(browser, callback_url: str, code: str) -> None:
    response = await browser.finish(callback_url)
    assert response.status_code in (400, 403), response.text
    assert response.json()["error"]["code"] == code


def _resign_hs256(secret: str):
    def mutate(id_token: str) -> str:
        claims = jwt.decode(id_token, options={"verify_signature": False})
        return jwt.encode(claims, secret, algorithm="HS256")
    return mutate


@pytest.mark.parametrize("misbehave, code", [
    (lambda idp: idp.extra_claims.update(nonce="attacker-nonce"), "oauth_invalid_nonce"),
    (lambda idp: idp.extra_claims.update(aud="another-client"), "oauth_invalid_id_token"),
    (lambda idp: idp.extra_claims.update(iss="https://evil.example.com"), "oauth_invalid_id_token"),
    (lambda idp: idp.extra_claims.update(exp=int(time.time()) - 3600, iat=int(time.time()) - 7200),
     "oauth_invalid_id_token"),
    (lambda idp: setattr(idp, "sign_with_other_key", True), "oauth_invalid_id_token"),
    (lambda idp: setattr(idp, "mutate_id_token", alg_none), "oauth_invalid_id_token"),
    (lambda idp: setattr(idp, "mutate_id_token", _resign_hs256(idp.client.client_secret)), "oauth_invalid_id_token"),
    (lambda idp: setattr(idp, "mutate_id_token", lambda t: t[:-8] + "AAAAAAAA"), "oauth_invalid_id_token"),
], ids=["nonce", "audience", "issuer", "expired", "unknown-key", "alg-none", "hs256-client-secret", "bad-signature"])
async def test_a_bad_id_token_is_refused(browser, idp, misbehave, code):
    misbehave(idp)
    await _refused(browser, code, 400)


async def test_a_provider_error_is_refused(browser, oauth_server):
    login = await browser.get(f"{oauth_server.url}/auth/oauth/{PROVIDER}/login")
    state = parse_qs(urlsplit(login.headers["location"]).query)["state"][0]
    url = f"{oauth_server.url}/auth/oauth/{PROVIDER}/callback?error=access_denied&state={state}"
    await _refused_at(browser, url, "oauth_denied")
