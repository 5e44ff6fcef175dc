"""SPENDPILOT_ENV=production refuses unsafe settings, listing every problem at once with its fix."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.rsa import generate_private_key

from spendpilot.config import Settings
from spendpilot.server import preflight as production


def _pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


SAFE = {
    "env": "production",
    "signing_key": _pem(Ed25519PrivateKey.generate()),
    "secrets_key": "kC8qXl4E1dQ3fV1gq0yXc0mYp6sB8p9n2Jz3d1QmXk0=",
    "seed_demo": False,
    "cors_origins": ["https://app.example.com"],
    "database_url": "postgresql://spendpilot:9f3c-long-random@db.internal.example.com:5432/spendpilot?sslmode=require",
    "redis_url": "rediss://cache.example.com:6380/0",
    "clickhouse_url": "https://ch.example.com:8443",
    "behind_tls": True,
}


def settings(**overrides) -> Settings:
    return Settings(_env_file=None, **{**SAFE, **overrides})


def test_a_safe_production_configuration_has_no_problems():
    assert production.problems(settings()) == []


def test_connector_keys_need_a_real_secrets_key():
    assert any(p.startswith("SPENDPILOT_SECRETS_KEY is not a Fernet key")
               for p in production.problems(settings(secrets_key="changeme")))


def test_development_is_never_refused():
    assert production.problems(Settings(_env_file=None, env="development")) == []


def test_the_defaults_are_refused_with_every_problem_listed_at_once(monkeypatch):
    for name in list(os.environ):
        if name.startswith("SPENDPILOT_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("SPENDPILOT_ENV", "production")
    found = production.problems(Settings(_env_file=None))
    named = {re.match(r"(SPENDPILOT_[A-Z_]+)", p).group(1) for p in found}
    assert named == {"SPENDPILOT_SIGNING_KEY", "SPENDPILOT_SECRETS_KEY", "SPENDPILOT_SEED_DEMO",
                     "SPENDPILOT_DATABASE_URL", "SPENDPILOT_BEHIND_TLS"}
    assert any("default password" in p for p in found)  # the demo password is the public default


@pytest.mark.parametrize("overrides, setting, words", [
    ({"signing_key": None}, "SPENDPILOT_SIGNING_KEY", "openssl genpkey"),
    ({"signing_key": "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----"}, "SPENDPILOT_SIGNING_KEY",
     "Ed25519"),
    ({"signing_key": _pem(generate_private_key(65537, 2048))}, "SPENDPILOT_SIGNING_KEY", "Ed25519"),
    ({"previous_signing_keys": [_pem(Ed25519PrivateKey.generate()), "junk"]}, "SPENDPILOT_PREVIOUS_SIGNING_KEYS[1]",
     "Ed25519"),
    ({"seed_demo": True}, "SPENDPILOT_SEED_DEMO", "SPENDPILOT_SEED_DEMO=false"),
    ({"seed_demo": True, "demo_password": "a-long-private-one"}, "SPENDPILOT_SEED_DEMO", "demo account"),
    ({"cors_origins": ["*"]}, "SPENDPILOT_CORS_ORIGINS", "exact https origins"),
    ({"cors_origins": ["https://ok.example.com", "null"]}, "SPENDPILOT_CORS_ORIGINS", "'null'"),
    ({"cors_origins": ["http://app.example.com"]}, "SPENDPILOT_CORS_ORIGINS", "https://"),
    ({"database_url": None}, "SPENDPILOT_DATABASE_URL", "PostgreSQL"),
    ({"database_url": "sqlite+aiosqlite:////var/lib/sp.db"}, "SPENDPILOT_DATABASE_URL", "PostgreSQL"),
    ({"database_url": "postgresql://sp:9f3c-long@db.example.com/sp"}, "SPENDPILOT_DATABASE_URL", "sslmode=require"),
    ({"database_url": "postgresql://sp:9f3c-long@db.example.com/sp?sslmode=prefer"}, "SPENDPILOT_DATABASE_URL",
     "without TLS"),
    ({"database_url": "postgresql://postgres:postgres@localhost/sp"}, "SPENDPILOT_DATABASE_URL", "default password"),
    ({"redis_url": "redis://cache.example.com:6379/0"}, "SPENDPILOT_REDIS_URL", "rediss://"),
    ({"clickhouse_url": "http://ch.example.com:8123"}, "SPENDPILOT_CLICKHOUSE_URL", "https://"),
    ({"behind_tls": False}, "SPENDPILOT_BEHIND_TLS", "HTTPS"),
    ({"oidc_discovery_url": "https://idp.example.com/.well-known/openid-configuration", "oidc_client_id": "c"},
     "SPENDPILOT_PUBLIC_URL", "callback"),
    ({"oidc_discovery_url": "http://idp.example.com/.well-known/openid-configuration", "oidc_client_id": "c",
      "public_url": "https://sp.example.com"}, "SPENDPILOT_OIDC_DISCOVERY_URL", "https://"),
    ({"google_client_id": "g", "public_url": "https://sp.example.com"}, "SPENDPILOT_GOOGLE_CLIENT_SECRET",
     "client secret"),
], ids=["no-key", "bad-key", "rsa-key", "bad-previous-key", "demo", "demo-own-password", "cors-star", "cors-null",
        "cors-http", "no-database", "sqlite", "remote-no-tls", "sslmode-prefer", "default-db-password", "redis-plain",
        "clickhouse-plain", "no-tls", "oauth-no-public-url", "oauth-http-discovery", "google-no-secret"])
def test_each_unsafe_setting_is_named_with_its_fix(overrides, setting, words):
    found = production.problems(settings(**overrides))
    assert len(found) == 1, found
    assert found[0].startswith(setting) and words in found[0], found[0]


@pytest.mark.parametrize("url", [
    "postgresql://sp:9f3c-long@localhost/sp",
    "postgresql://sp:9f3c-long@127.0.0.1:5432/sp",
    "postgresql:///spendpilot?host=/var/run/postgresql",
    "postgresql+asyncpg://sp:9f3c-long@db.example.com/sp?ssl=require",
    "postgres://sp:9f3c-long@db.example.com/sp?sslmode=verify-full",
])
def test_postgres_on_this_machine_or_with_tls_is_accepted(url):
    assert production.problems(settings(database_url=url)) == []


def test_exit_if_unsafe_prints_every_problem_and_exits_2():
    out = io.StringIO()
    with pytest.raises(SystemExit) as exited:
        production.exit_if_unsafe(settings(seed_demo=True, cors_origins=["*"]), stream=out)
    assert exited.value.code == 2
    text = out.getvalue()
    assert "2 setting(s) to fix" in text and "SPENDPILOT_SEED_DEMO" in text and "SPENDPILOT_CORS_ORIGINS" in text
    production.exit_if_unsafe(settings(), stream=out)  # a safe configuration passes silently


def test_spendpilot_up_refuses_to_start_in_production_with_defaults(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPENDPILOT_")}
    env.update(SPENDPILOT_ENV="production", SPENDPILOT_DATA_DIR=str(tmp_path))
    done = subprocess.run([sys.executable, "-m", "spendpilot", "up", "--port", "1"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stdout + done.stderr
    for setting in ("SPENDPILOT_SIGNING_KEY", "SPENDPILOT_SEED_DEMO", "SPENDPILOT_DATABASE_URL",
                    "SPENDPILOT_BEHIND_TLS"):
        assert setting in done.stderr + done.stdout
    assert not (tmp_path / "keys").exists(), "nothing may be created before the refusal"


def test_mail_needs_the_public_url_for_its_links_and_tls_to_a_remote_server():
    assert production.problems(settings(smtp_host="smtp.example.com", public_url="https://spend.example.com")) == []
    found = production.problems(settings(smtp_host="smtp.example.com", smtp_security="none"))
    assert len(found) == 2
    assert "SPENDPILOT_PUBLIC_URL" in found[0] and "SPENDPILOT_SMTP_SECURITY is none for smtp.example.com" in found[1]
    # A relay on the same machine may be plain SMTP.
    assert production.problems(settings(smtp_host="localhost", smtp_security="none",
                                        public_url="https://spend.example.com")) == []
