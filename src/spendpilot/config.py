"""The one settings object; nothing else in Spendpilot reads os.environ."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["api", "worker", "all"]
ROLES: tuple[str, ...] = get_args(Role)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SPENDPILOT_", extra="ignore")

    env: Literal["development", "production"] = "development"
    data_dir: Path = Path(".spendpilot")
    # Unset means a SQLite file in the data dir.
    database_url: str | None = None
    # Connections per process; size them so that every process together stays under the
    # server's max_connections (PostgreSQL's default is 100).
    db_pool_size: int = 20
    db_max_overflow: int = 20
    # Unset means the in-process bus.
    redis_url: str | None = None
    # Unset means embedded chDB in the data dir, which lives inside one process: `up` or a single
    # `serve --role all`. Every process of a split deployment must name the same ClickHouse.
    clickhouse_url: str | None = None
    # Unset or "offline" means the deterministic offline model.
    llm: str | None = None
    llm_timeout_s: float = 20.0
    # Keys for the SPENDPILOT_LLM providers; only the chosen provider's key is needed.
    openai_api_key: str | None = None
    anthropic_api_key: str | None = None
    gemini_api_key: str | None = None
    # Another URL for the chosen provider's API (a proxy or gateway); openai-compatible names its URL in LLM.
    llm_base_url: str | None = None
    # Key for an openai-compatible server that wants one; an OpenAI key is never sent to another server.
    llm_api_key: str | None = None

    # Signing key (PEM, Ed25519). Unset in development: generated into the data dir.
    signing_key: str | None = None
    # Keys that signed before SIGNING_KEY (PEM, as a JSON list): they still verify until their tokens expire.
    previous_signing_keys: list[str] = Field(default_factory=list)
    access_token_ttl_s: int = 15 * 60
    refresh_token_ttl_s: int = 30 * 24 * 3600

    seed_demo: bool = True
    demo_email: str = "demo@spendpilot.local"
    demo_password: str = "spendpilot-demo"

    run_deadline_s: float = 120.0
    # Runs executing at once in one process (`up`); more wait in arrival order. Many at once also
    # make the event log's group commits larger: with 8 the 200-user burst ran at half the pace.
    max_concurrent_runs: int = 64
    # How often a waiting run is told its new place in the queue (run_queued), at most.
    run_queue_report_s: float = 1.0
    # Split deployment (`spendpilot serve`): which part this process plays, and how runs on
    # workers are supervised. Keys, channels and the job queue share one Redis key prefix.
    role: Role = "all"
    redis_prefix: str = "sp"
    lease_s: float = 10.0
    watchdog_interval_s: float = 2.0
    worker_max_jobs: int = 50
    worker_drain_s: float = 20.0
    queue_poll_s: float = 0.05
    # Pause after each run event, as a slow model would; for demos, tests and benchmarks.
    run_step_delay_s: float = 0.0
    heartbeat_s: float = 20.0
    max_frame_bytes: int = 64 * 1024
    transport_max_bytes: int = 1024 * 1024
    ws_messages_per_minute: int = 120
    max_sockets_per_user: int = 20
    max_active_runs_per_user: int = 8
    # Failed sign-ins per account and per client address within the window. These and the socket
    # messages per minute are counted in Redis when there is one: every instance shares the count.
    login_attempts_per_account: int = 10
    login_attempts_per_ip: int = 50
    login_window_s: int = 300
    # Teams and accounts (SPEC §11): how long an invitation link and a password reset link work,
    # and how many reset mails one address can be sent per hour (more requests still answer 202).
    invitation_ttl_s: int = 7 * 24 * 3600
    password_reset_ttl_s: int = 3600
    password_resets_per_hour: int = 5
    max_request_bytes: int = 64 * 1024 * 1024

    # Budgets and alerts. Every process evaluates budgets after each import it takes in; besides,
    # one process of the deployment evaluates every org with budgets each ALERTS_INTERVAL_S.
    alerts_interval_s: float = 60.0
    # How often each process looks for alert deliveries that are due (and for its turn to evaluate).
    alerts_poll_s: float = 2.0
    webhook_timeout_s: float = 10.0
    # Failed deliveries are retried after base * 2^(n-1) seconds (capped at max) until the window ends.
    webhook_retry_base_s: float = 30.0
    webhook_retry_max_s: float = 3600.0
    webhook_retry_window_s: float = 24 * 3600.0
    # Production refuses webhook targets on loopback, private and link-local networks (SSRF) unless set.
    webhook_allow_private: bool = False

    # Live intake (SPEC §9): the gateway's upstreams (each URL as the provider's SDK takes it as base URL).
    gateway_openai_url: str = "https://api.openai.com/v1"
    gateway_anthropic_url: str = "https://api.anthropic.com"
    gateway_connect_timeout_s: float = 10.0
    # Between two bytes of an upstream answer (a long generation streams; a stuck one is cut).
    gateway_read_timeout_s: float = 600.0
    gateway_max_connections: int = 1000
    # Largest OTLP export accepted, compressed and decompressed alike (413 beyond).
    intake_max_body_bytes: int = 16 * 1024 * 1024
    # Rows accepted but not yet stored, in this process: beyond it the receiver answers 503 with Retry-After
    # instead of queueing more; one key may hold at most intake_max_pending_per_key of them (429 beyond).
    intake_max_pending_rows: int = 200_000
    intake_max_pending_per_key: int = 100_000
    # Rows written in one insert (requests that arrive while one is written go in the next), and the least time
    # between two inserts: an insert costs about the same for one row as for thousands.
    intake_batch_rows: int = 20_000
    intake_commit_every_s: float = 0.05
    # How long a request waits for its rows to be stored before it is answered 503 (the client retries).
    intake_write_timeout_s: float = 15.0
    # How long a process trusts what it read about an API key; revocation reaches every instance within it.
    api_key_cache_ttl_s: float = Field(default=0.5, gt=0, le=1.0)

    cors_origins: list[str] = Field(default_factory=list)
    # Proxies whose X-Forwarded-For is believed (the client address feeds the per-IP login limit).
    forwarded_allow_ips: str = "127.0.0.1"
    behind_tls: bool = False

    # Connectors (scheduled pulls of provider usage and cost APIs). The admin keys people give them
    # are stored encrypted with this Fernet key (`python -c "from cryptography.fernet import Fernet;
    # print(Fernet.generate_key().decode())"`); unset in development: generated into the data dir.
    secrets_key: str | None = None
    # How often each process looks for connectors that are due (each has its own interval).
    connector_poll_s: float = 60.0
    connector_default_interval_s: int = 3600
    # Attempts per request when a provider answers 429 or 5xx (backing off, honouring Retry-After).
    connector_max_attempts: int = 6
    # The providers' admin API roots; tests and proxies point them elsewhere.
    openai_admin_url: str = "https://api.openai.com/v1"
    anthropic_admin_url: str = "https://api.anthropic.com"

    # OAuth / OIDC providers.
    google_client_id: str | None = None
    google_client_secret: str | None = None
    oidc_name: str | None = None
    oidc_discovery_url: str | None = None
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    public_url: str | None = None

    # Mail (invitations, password resets). Unset host: in development each mail is written to
    # <data dir>/outbox as an .eml file (the log says only that one was written); in production
    # nothing is sent and the log says so. Links in mail point at SPENDPILOT_PUBLIC_URL.
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_from: str = "Spendpilot <spendpilot@localhost>"
    # starttls (port 587), tls (implicit, port 465) or none (a relay on this machine only).
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_timeout_s: float = 10.0

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            url = self.database_url
            if url.startswith("postgresql://") or url.startswith("postgres://"):
                url = "postgresql+asyncpg://" + url.split("://", 1)[1]
            return url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'spendpilot.db').resolve()}"

    @property
    def chdb_path(self) -> Path:
        return (self.data_dir / "analytics").resolve()


class McpClientSettings(BaseSettings):
    """`spendpilot mcp`, the stdio MCP server a desktop client starts: which Spendpilot it speaks for, and how.

    It holds no data of its own: every tool call goes to SPENDPILOT_URL's /mcp with SPENDPILOT_API_KEY
    (an org API key with the read scope) as its bearer credential.
    """

    model_config = SettingsConfigDict(env_prefix="SPENDPILOT_", extra="ignore")

    url: str = "http://127.0.0.1:8000"
    api_key: SecretStr | None = None
    # One tool call, analyze_costs included (a whole report), may take this long before it is given up.
    mcp_timeout_s: float = Field(default=180.0, gt=0)
