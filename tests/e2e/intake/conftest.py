"""One Spendpilot server for the intake tests, its usage in a ClickHouse stand-in the tests can read row by row,
and its gateway pointed at the fake providers through a recorder of what they sent."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import httpx
import pytest

from tests.support.clickhouse_standin import ClickHouseStandin
from tests.support.fake_providers import FakeProviders
from tests.support.server import RunningServer, free_port

from .recorder import RecordingUpstream

# Small enough that a test can cross it with a few hundred kilobytes.
MAX_BODY_BYTES = 1024 * 1024


@dataclass
class Upstreams:
    fake: FakeProviders
    openai: RecordingUpstream
    anthropic: RecordingUpstream


@pytest.fixture(scope="package")
def upstreams():
    fake = FakeProviders.start()
    openai = RecordingUpstream(fake.openai_url.removesuffix("/v1")).start()
    anthropic = RecordingUpstream(fake.anthropic_url).start()
    yield Upstreams(fake, openai, anthropic)
    openai.stop()
    anthropic.stop()
    fake.stop()


@pytest.fixture(scope="package")
def standin(tmp_path_factory):
    server = ClickHouseStandin(tmp_path_factory.mktemp("intake-standin") / "chdb").start()
    yield server
    server.stop()


@pytest.fixture(scope="package")
def server(tmp_path_factory, standin, upstreams):
    env = {"SPENDPILOT_SEED_DEMO": "0", "SPENDPILOT_CLICKHOUSE_URL": standin.url,
           "SPENDPILOT_GATEWAY_OPENAI_URL": upstreams.openai.url + "/v1",
           "SPENDPILOT_GATEWAY_ANTHROPIC_URL": upstreams.anthropic.url,
           "SPENDPILOT_INTAKE_MAX_BODY_BYTES": str(MAX_BODY_BYTES)}
    running = RunningServer(tmp_path_factory.mktemp("intake-server"), free_port(), env=env).start()
    yield running
    running.stop()


@pytest.fixture(autouse=True)
def _fresh_script(upstreams):
    upstreams.fake.reset()
    yield


@dataclass
class Org:
    """A signed-up account (the admin of its own org) and an ingest key of that org."""

    org_id: str
    token: str
    key: str
    key_id: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def sign_up(url: str, scopes: tuple[str, ...] = ("ingest",)) -> Org:
    body = httpx.post(f"{url}/auth/register", json={"email": f"intake-{uuid.uuid4().hex[:10]}@example.com",
                                                     "password": "correct-horse-battery"}).json()
    token = body["access_token"]
    created = httpx.post(f"{url}/api/keys", json={"name": "test app", "scopes": list(scopes)},
                         headers={"Authorization": f"Bearer {token}"})
    assert created.status_code == 201, created.text
    return Org(body["user"]["org"], token, created.json()["key"], created.json()["id"])


@pytest.fixture
def org(server) -> Org:
    return sign_up(server.url)


def stored_rows(standin: ClickHouseStandin, org_id: str) -> list[dict]:
    """The org's llm_usage rows as stored, read straight from the store (not through Spendpilot)."""
    query = ("SELECT source_id, provider, model, feature, user, input_tokens, output_tokens, cached_input_tokens, "
             "cache_write_tokens, cost_usd, status, latency_ms, max_tokens, tags, api_key_id, service_tier, "
             "prompt_hash, prompt_prefix_hash, prompt_prefix_tokens, toUnixTimestamp64Milli(ts) AS ts_ms "
             "FROM llm_usage WHERE org_id = {org:String} ORDER BY ts, source_id FORMAT JSONEachRow")
    answer = httpx.post(standin.url, params={"query": query, "param_org": org_id,
                                             "output_format_json_quote_64bit_integers": "0"})
    answer.raise_for_status()
    import json

    return [json.loads(line) for line in answer.text.splitlines() if line]


from tests.support.fake_providers import unreachable_upstream_url  # noqa: E402

__all__ = ["unreachable_upstream_url"]
