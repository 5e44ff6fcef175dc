"""OAuth 2.0 / OpenID Connect sign-in: providers, authorization code with state, nonce and PKCE, id_token checks."""

from __future__ import annotations

import hmac
import re
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import jwt
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client

from spendpilot.auth.signing import KeyRing
from spendpilot.config import Settings
from spendpilot.errors import NotFound

_ClientTransportError: type[Exception]
try:  # Authlib's HTTP client is built on httpx2 when it is installed, else on httpx.
    from httpx2 import HTTPError as _ClientTransportError
except ImportError:  # pragma: no cover
    _ClientTransportError = httpx.HTTPError

GOOGLE_DISCOVERY_URL = "https://accounts.google.com/.well-known/openid-configuration"
# Google documents both spellings of its issuer in ID tokens.
GOOGLE_ISSUERS = ("https://accounts.google.com", "accounts.google.com")
DISCOVERY_SUFFIX = "/.well-known/openid-configuration"

STATE_COOKIE = "sp_oauth_state"
EXCHANGE_COOKIE = "sp_oauth_exchange"
FAILURE_COOKIE = "sp_oauth_error"
COOKIE_PATH = "/auth/oauth"
STATE_TTL_S = 600
FAILURE_TTL_S = 60
METADATA_TTL_S = 3600
HTTP_TIMEOUT_S = 10.0
CLOCK_LEEWAY_S = 60
# Asymmetric only: an HS* id_token would be "signed" with our own client secret, and none is unsigned.
ID_TOKEN_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
_STATE_AUDIENCE = "spendpilot:oauth"


class SignInError(Exception):
    """The provider round trip failed; `code` and `message` are shown to the user."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Provider:
    id: str
    name: str
    discovery_url: str
    client_id: str
    client_secret: str | None
    issuers: tuple[str, ...] = ()  # accepted `iss` values; empty means the discovered issuer
    scope: str = "openid email profile"


@dataclass(frozen=True)
class Identity:
    provider: str
    subject: str
    email: str
    name: str


def _slug(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    return slug[:40] or "oidc"


def configured_providers(settings: Settings) -> list[Provider]:
    """The Google preset and one generic OIDC issuer, each only when its client id is set."""
    providers = []
    if settings.google_client_id:
        providers.append(Provider("google", "Google", GOOGLE_DISCOVERY_URL, settings.google_client_id,
                                  settings.google_client_secret, GOOGLE_ISSUERS))
    if settings.oidc_discovery_url and settings.oidc_client_id:
        name = settings.oidc_name or "Single sign-on"
        slug = _slug(name)
        if slug == "google":
            slug = "oidc-google"
        providers.append(Provider(slug, name, settings.oidc_discovery_url, settings.oidc_client_id,
                                  settings.oidc_client_secret))
    return providers


class OAuthProviders:
    """The configured providers, their discovered metadata and keys, and the two halves of a sign-in."""

    def __init__(self, settings: Settings, keys: KeyRing):
        self.settings = settings
        self.keys = keys
        self._providers = {p.id: p for p in configured_providers(settings)}
        self._metadata: dict[str, tuple[float, dict]] = {}
        self._jwks: dict[str, tuple[float, jwt.PyJWKSet]] = {}

    def listing(self) -> list[dict]:
        return [{"id": p.id, "name": p.name, "login_url": f"/auth/oauth/{p.id}/login"}
                for p in self._providers.values()]

    def get(self, provider_id: str) -> Provider:
        provider = self._providers.get(provider_id)
        if provider is None:
            raise NotFound.of("sign-in provider")
        return provider

    # First half: send the browser to the provider.
    async def begin(self, provider: Provider, redirect_uri: str) -> tuple[str, str]:
        """Return (authorization URL, signed state cookie value)."""
        metadata = await self._discover(provider)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128
        async with self._client(provider, redirect_uri) as client:
            url, _ = client.create_authorization_url(metadata["authorization_endpoint"], state=state,
                                                     code_verifier=verifier, nonce=nonce)
        cookie = self.sign({"type": "oauth_state", "prv": provider.id, "state": state, "nonce": nonce,
                            "cv": verifier, "ru": redirect_uri}, STATE_TTL_S)
        return url, cookie

    # Second half: the provider sent the browser back.
    async def complete(self, provider: Provider, params: dict[str, str], state_cookie: str | None) -> Identity:
        pending = self._pending(provider, params, state_cookie)
        if params.get("error"):
            raise SignInError("oauth_denied", f"the provider refused the sign-in: {params['error'][:100]}")
        code = params.get("code")
        if not code or len(code) > 2048:
            raise SignInError("oauth_invalid_response", "the provider sent no authorization code")
        metadata = await self._discover(provider)
        try:
            async with self._client(provider, pending["ru"]) as client:
                token = await client.fetch_token(metadata["token_endpoint"], grant_type="authorization_code",
                                                 code=code, code_verifier=pending["cv"])
        except OAuthError as exc:
            raise SignInError("oauth_exchange_failed",
                              f"the provider did not accept the code: {str(exc.error)[:100]}") from None
        except (_ClientTransportError, httpx.HTTPError):
            raise SignInError("oauth_provider_unavailable", "the provider could not be reached", 502) from None
        except ValueError:
            raise SignInError("oauth_invalid_response", "the provider's token response is not JSON") from None
        id_token = token.get("id_token") if isinstance(token, dict) else None
        if not isinstance(id_token, str):
            raise SignInError("oauth_invalid_response", "the provider sent no id_token")
        claims = await self._verify_id_token(provider, metadata, id_token)
        if not hmac.compare_digest(str(claims.get("nonce", "")), pending["nonce"]):
            raise SignInError("oauth_invalid_nonce", "the id_token does not answer this sign-in (nonce)")
        if "email" not in claims and metadata.get("userinfo_endpoint") and token.get("access_token"):
            claims = {**await self._userinfo(metadata, token["access_token"], claims["sub"]), **claims}
        return _identity(provider, claims)

    def _pending(self, provider: Provider, params: dict[str, str], state_cookie: str | None) -> dict:
        if not state_cookie:
            raise SignInError("oauth_state_missing", "no sign-in was started in this browser, or it took too long")
        pending = self.unsign(state_cookie, "oauth_state")
        if pending is None or pending.get("prv") != provider.id:
            raise SignInError("oauth_state_invalid", "the sign-in state is invalid or expired")
        if not hmac.compare_digest(str(params.get("state", "")).encode(), str(pending["state"]).encode()):
            raise SignInError("oauth_state_mismatch", "the sign-in state does not match; start again")
        return pending

    async def _verify_id_token(self, provider: Provider, metadata: dict, id_token: str) -> dict:
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError:
            raise SignInError("oauth_invalid_id_token", "the id_token is malformed") from None
        alg = header.get("alg")
        if alg not in ID_TOKEN_ALGORITHMS:
            raise SignInError("oauth_invalid_id_token", "the id_token uses an unacceptable algorithm")
        key = await self._signing_key(provider, metadata, header.get("kid"))
        issuers = list(provider.issuers or (metadata["issuer"],))
        try:
            claims = jwt.decode(id_token, key, algorithms=[alg], audience=provider.client_id, issuer=issuers,
                                leeway=CLOCK_LEEWAY_S, options={"require": ["iss", "sub", "aud", "exp", "iat"]})
        except jwt.ExpiredSignatureError:
            raise SignInError("oauth_invalid_id_token", "the id_token has expired") from None
        except jwt.InvalidAudienceError:
            raise SignInError("oauth_invalid_id_token", "the id_token is for another client (aud)") from None
        except jwt.InvalidIssuerError:
            raise SignInError("oauth_invalid_id_token", "the id_token is from another issuer (iss)") from None
        except (jwt.PyJWTError, ValueError, TypeError):
            raise SignInError("oauth_invalid_id_token", "the id_token signature or claims are invalid") from None
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise SignInError("oauth_invalid_id_token", "the id_token was issued to another party (azp)")
        return claims

    async def _signing_key(self, provider: Provider, metadata: dict, kid):
        for refresh in (False, True):  # an unknown kid means the provider rotated: fetch once more
            keyset = await self._keyset(provider, metadata, refresh)
            candidates = [k for k in keyset.keys if k.public_key_use in (None, "sig")
                          and (kid is None or k.key_id == kid)]
            if kid is None and len(candidates) > 1:
                raise SignInError("oauth_invalid_id_token", "the id_token names no key (kid)")
            if candidates:
                return candidates[0].key
        raise SignInError("oauth_invalid_id_token", "the id_token is signed with an unknown key")

    async def _keyset(self, provider: Provider, metadata: dict, refresh: bool) -> jwt.PyJWKSet:
        cached = self._jwks.get(provider.id)
        if cached and not refresh and time.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        document = await self._get_json(metadata["jwks_uri"])
        try:
            keyset = jwt.PyJWKSet.from_dict(document)
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            raise SignInError("oauth_provider_invalid", "the provider's key set is unusable", 502) from None
        self._jwks[provider.id] = (time.monotonic(), keyset)
        return keyset

    async def _discover(self, provider: Provider) -> dict:
        cached = self._metadata.get(provider.id)
        if cached and time.monotonic() - cached[0] < METADATA_TTL_S:
            return cached[1]
        metadata = await self._get_json(provider.discovery_url)
        problem = metadata_problem(provider.discovery_url, metadata)
        if problem:
            raise SignInError("oauth_provider_invalid", f"the provider's discovery document is unusable: {problem}",
                              502)
        self._metadata[provider.id] = (time.monotonic(), metadata)
        return metadata

    async def _userinfo(self, metadata: dict, access_token: str, subject: str) -> dict:
        info = await self._get_json(metadata["userinfo_endpoint"], {"Authorization": f"Bearer {access_token}"})
        if info.get("sub") != subject:  # OIDC Core 5.3.2: must match, or the answer is not about this user
            raise SignInError("oauth_invalid_response", "the provider's userinfo is about another subject")
        return {k: info[k] for k in ("email", "email_verified", "name") if k in info}

    async def _get_json(self, url: str, headers: dict | None = None) -> dict:
        try:
            async with httpx.AsyncClient(timeout=HTTP_TIMEOUT_S) as http:
                response = await http.get(url, headers=headers)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError):
            raise SignInError("oauth_provider_unavailable", "the provider could not be reached", 502) from None
        if not isinstance(document, dict):
            raise SignInError("oauth_provider_invalid", "the provider answered something unexpected", 502)
        return document

    def _client(self, provider: Provider, redirect_uri: str) -> AsyncOAuth2Client:
        method = "client_secret_basic" if provider.client_secret else "none"
        return AsyncOAuth2Client(client_id=provider.client_id, client_secret=provider.client_secret,
                                 scope=provider.scope, redirect_uri=redirect_uri, code_challenge_method="S256",
                                 token_endpoint_auth_method=method, timeout=HTTP_TIMEOUT_S)

    # Short-lived values the browser carries for us (state, failure): signed with our key ring.
    def sign(self, claims: dict, ttl_s: int) -> str:
        now = int(time.time())
        payload = {**claims, "aud": _STATE_AUDIENCE, "iat": now, "exp": now + ttl_s}
        return jwt.encode(payload, self.keys.active.private, algorithm="EdDSA", headers={"kid": self.keys.active.kid})

    def unsign(self, value: str, type: str) -> dict | None:
        try:
            if len(value) > 4096:
                return None
            key = self.keys.public_key(str(jwt.get_unverified_header(value).get("kid", "")))
            if key is None:
                return None
            claims = jwt.decode(value, key, algorithms=["EdDSA"], audience=_STATE_AUDIENCE,
                                options={"require": ["exp", "iat", "aud"]})
        except jwt.PyJWTError:
            return None
        return claims if claims.get("type") == type else None


def metadata_problem(discovery_url: str, metadata: dict) -> str | None:
    """What makes a discovery document unusable, or None (OIDC Discovery 1.0 §3 and §4.3)."""
    for field in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(metadata.get(field), str) or not metadata[field]:
            return f"missing {field}"
    expected = discovery_url[:-len(DISCOVERY_SUFFIX)] if discovery_url.endswith(DISCOVERY_SUFFIX) else None
    if expected is not None and metadata["issuer"].rstrip("/") != expected.rstrip("/"):
        return "issuer does not match the discovery URL"
    if urlsplit(discovery_url).scheme == "https":
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
            if field in metadata and urlsplit(str(metadata[field])).scheme != "https":
                return f"{field} is not https"
    return None


def _identity(provider: Provider, claims: dict) -> Identity:
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email or len(email) > 320:
        raise SignInError("oauth_email_missing", "the provider did not share an email address")
    verified = claims.get("email_verified")
    # Some providers send the string "true"; anything else is not a verified address.
    if not (verified is True or verified == "true"):
        raise SignInError("oauth_email_unverified", "the provider has not verified this email address", 403)
    name = claims.get("name")
    if not isinstance(name, str):
        name = ""
    return Identity(provider.id, str(claims["sub"]), email.strip().lower(), name[:200])
