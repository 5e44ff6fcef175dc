"""A small OpenID Connect provider for tests, built from Authlib's server grants and served by Starlette.

Authorization code flow with PKCE (S256 required) and nonce, client_secret_basic, RS256 id_tokens
published at its own JWKS. Consent is automatic for `provider.user`. Knobs let a test make the
provider misbehave one way at a time (claims, signing key, the id_token string itself).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

os.environ.setdefault("AUTHLIB_INSECURE_TRANSPORT", "1")  # the test provider speaks plain HTTP on 127.0.0.1

import uvicorn  # noqa: E402
from authlib.oauth2 import AuthorizationServer  # noqa: E402
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Request, grants  # noqa: E402
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload  # noqa: E402
from authlib.oauth2.rfc6750 import BearerTokenGenerator  # noqa: E402
from authlib.oauth2.rfc7636 import CodeChallenge  # noqa: E402
from authlib.oidc.core import AuthorizationCodeMixin  # noqa: E402
from authlib.oidc.core.grants import OpenIDCode  # noqa: E402
from joserfc.jwk import OctKey, RSAKey  # noqa: E402
from starlette.applications import Starlette  # noqa: E402
from starlette.requests import Request  # noqa: E402
from starlette.responses import JSONResponse, Response  # noqa: E402
from starlette.routing import Route  # noqa: E402

from tests.support.server import free_port  # noqa: E402


@dataclass
class Client(ClientMixin):
    client_id: str
    client_secret: str
    redirect_uris: list[str]

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uris[0] if self.redirect_uris else None

    def get_allowed_scope(self, scope):
        allowed = {"openid", "email", "profile"}
        return " ".join(s for s in (scope or "").split() if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        # Registered by prefix: the Spendpilot port is only known once its server starts.
        return any(redirect_uri.startswith(uri) for uri in self.redirect_uris)

    def check_client_secret(self, client_secret):
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


@dataclass
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    user: dict
    nonce: str | None
    code_challenge: str | None
    code_challenge_method: str | None
    auth_time: int = field(default_factory=lambda: int(time.time()))

    def get_redirect_uri(self):
        return self.redirect_uri

    def get_scope(self):
        return self.scope

    def get_nonce(self):
        return self.nonce

    def get_auth_time(self):
        return self.auth_time


class _Request(OAuth2Request):
    def __init__(self, method: str, url: str, headers, query: dict, form: dict):
        super().__init__(method, url, headers=headers)
        self._args, self._form = query, form
        self.payload = BasicOAuth2Payload({**query, **form})

    @property
    def args(self):
        return self._args

    @property
    def form(self):
        return self._form


class TestProvider:
    """An OIDC provider on a free port in a background thread. Not a pytest test class."""

    __test__ = False

    def __init__(self, client_id: str = "spendpilot-test", client_secret: str | None = None):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client = Client(client_id, client_secret or secrets.token_urlsafe(32), ["http://127.0.0.1:"])
        self.key = RSAKey.generate_key(2048, parameters={"kid": "idp-key-1", "use": "sig"}, private=True)
        self.other_key = RSAKey.generate_key(2048, parameters={"kid": "idp-key-1"}, private=True)
        self.user = {"sub": "idp-user-1", "email": "sso.user@example.com", "email_verified": True,
                     "name": "Sso User"}
        # Misbehaviour knobs, reset by `reset()`.
        self.extra_claims: dict = {}
        self.sign_with_other_key = False
        self.alg = "RS256"
        self.mutate_id_token: Callable[[str], str] | None = None
        self.codes: dict[str, AuthorizationCode] = {}
        self.seen_authorize: list[dict] = []
        self.seen_token: list[dict] = []
        self.server = self._authorization_server()
        self._uvicorn: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def reset(self) -> None:
        self.extra_claims, self.sign_with_other_key, self.alg, self.mutate_id_token = {}, False, "RS256", None
        self.user = {"sub": "idp-user-1", "email": "sso.user@example.com", "email_verified": True,
                     "name": "Sso User"}

    def _authorization_server(self) -> AuthorizationServer:
        provider = self

        class CodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]

            def save_authorization_code(self, code, request):
                data = request.payload.data
                provider.codes[code] = AuthorizationCode(
                    code, request.client.get_client_id(), request.payload.redirect_uri, request.scope,
                    dict(request.user), data.get("nonce"), data.get("code_challenge"),
                    data.get("code_challenge_method"))

            def query_authorization_code(self, code, client):
                found = provider.codes.get(code)
                return found if found and found.client_id == client.get_client_id() else None

            def delete_authorization_code(self, authorization_code):
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code):
                return authorization_code.user

        class OpenID(OpenIDCode):
            def resolve_client_private_key(self, client):
                if provider.alg == "HS256":
                    return OctKey.import_key(client.client_secret)
                return provider.other_key if provider.sign_with_other_key else provider.key

            def get_client_algorithm(self, client):
                return provider.alg

            def get_client_claims(self, client):
                return {"iss": provider.issuer, "aud": [client.get_client_id()]}

            def get_encode_header(self, client):
                header = {"alg": provider.alg}
                if provider.alg != "HS256":
                    header["kid"] = "idp-key-1"
                return header

            def exists_nonce(self, nonce, request):
                return any(c.nonce == nonce for c in provider.codes.values())

            def generate_user_info(self, user, scope):
                # Applied last by Authlib, so `extra_claims` can override iss, aud, nonce...
                return {**user, **provider.extra_claims}

        class Server(AuthorizationServer):
            def query_client(self, client_id):
                return provider.client if client_id == provider.client.client_id else None

            def save_token(self, token, request):
                pass

            def create_oauth2_request(self, request):
                return request

            def create_json_request(self, request):  # pragma: no cover - no JSON endpoints here
                raise NotImplementedError

            def handle_response(self, status, body, headers):
                if isinstance(body, dict):
                    if provider.mutate_id_token and "id_token" in body:
                        body = {**body, "id_token": provider.mutate_id_token(body["id_token"])}
                    return JSONResponse(body, status, headers=dict(headers))
                return Response(body, status, headers=dict(headers))

            def send_signal(self, name, *args, **kwargs):
                pass

        server = Server(scopes_supported=["openid", "email", "profile"])
        server.register_token_generator("default", BearerTokenGenerator(lambda **_: secrets.token_urlsafe(32)))
        server.register_grant(CodeGrant, [OpenID(require_nonce=True), CodeChallenge(required=True)])
        return server

    def app(self) -> Starlette:
        async def discovery(_request: Request):
            return JSONResponse({
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
                "scopes_supported": ["openid", "email", "profile"],
            })

        async def jwks(_request: Request):
            return JSONResponse({"keys": [self.key.as_dict(private=False)]})

        async def authorize(request: Request):
            query = dict(request.query_params)
            self.seen_authorize.append(query)
            oauth_request = _Request("GET", str(request.url), request.headers, query, {})
            grant = self.server.get_consent_grant(oauth_request, end_user=self.user)
            return self.server.create_authorization_response(oauth_request, grant_user=self.user, grant=grant)

        async def token(request: Request):
            form = dict(await request.form())
            self.seen_token.append(form)
            oauth_request = _Request("POST", str(request.url), request.headers, dict(request.query_params), form)
            return self.server.create_token_response(oauth_request)

        return Starlette(routes=[Route("/.well-known/openid-configuration", discovery), Route("/jwks", jwks),
                                 Route("/authorize", authorize), Route("/token", token, methods=["POST"])])

    def start(self) -> TestProvider:
        config = uvicorn.Config(self.app(), host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._uvicorn = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._uvicorn.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started:
            if time.monotonic() > deadline:
                raise RuntimeError("test OIDC provider did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        if self._uvicorn:
            self._uvicorn.should_exit = True
            self._thread.join(timeout=10)


def alg_none(id_token: str) -> str:
    """The same claims, unsigned."""
    _header, payload, _signature = id_token.split(".")
    header = base64.urlsafe_b64encode(json.dumps({"alg": "none", "typ": "JWT"}).encode()).decode().rstrip("=")
    return f"{header}.{payload}."
