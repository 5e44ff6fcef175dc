"""Build the services a process needs from Settings; seed the demo org; close everything in order.

Two shapes, chosen once by SPENDPILOT_REDIS_URL: everything in this process (`up`: in-process
bus, runs executed here), or a split deployment (`serve`: Redis bus, runs queued to workers,
the parts of `settings.role`).
"""

from __future__ import annotations

from sqlalchemy import select

from spendpilot.agents.choose import build_model
from spendpilot.agents.context import with_budgets, with_conversation
from spendpilot.agents.model import ProseModel
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.alerts.budgets import BudgetBook
from spendpilot.alerts.service import AlertService
from spendpilot.analytics.demo import seed_demo
from spendpilot.analytics.live_writer import IntakeWriter
from spendpilot.analytics.store import AnalyticsStore, open_analytics
from spendpilot.auth.account import AccountService
from spendpilot.auth.api_keys import ApiKeyService
from spendpilot.auth.mail import Mailer
from spendpilot.auth.oauth import OAuthProviders
from spendpilot.auth.service import AuthService
from spendpilot.auth.signing import KeyRing
from spendpilot.auth.tokens import TokenService
from spendpilot.bus.base import EventBus
from spendpilot.bus.memory import MemoryBus
from spendpilot.bus.redis import RedisBus
from spendpilot.clock import utcnow
from spendpilot.config import Settings
from spendpilot.connectors.scheduler import ConnectorScheduler
from spendpilot.connectors.secrets import SecretBox
from spendpilot.connectors.service import ConnectorService
from spendpilot.intake.notices import UsageNotices
from spendpilot.limits import RateLimits
from spendpilot.logs import get_logger
from spendpilot.runs.conversation import ThreadHistory
from spendpilot.runs.degraded import DegradedDelivery
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.executors import LocalExecutor, QueueExecutor, RunExecutor, queued_reporter
from spendpilot.runs.queue import RunQueue
from spendpilot.runs.queue_positions import QueuePositions
from spendpilot.runs.runner import Pipeline, slowed
from spendpilot.runs.service import RunService
from spendpilot.runs.watchdog import Watchdog
from spendpilot.runs.worker import RunWorker
from spendpilot.server.peers import open_shared_analytics
from spendpilot.server.preflight import redacted_url
from spendpilot.services import Services
from spendpilot.store.database import Database
from spendpilot.store.models import Org, User
from spendpilot.teams.invitations import Invitations
from spendpilot.teams.members import Members

log = get_logger(__name__)


def key_ring(settings: Settings) -> KeyRing:
    if settings.signing_key:
        return KeyRing.from_pem(settings.signing_key, settings.previous_signing_keys)
    return KeyRing.load_or_create(settings.data_dir / "keys")


async def build_services(settings: Settings) -> Services:
    """Everything a process needs; raises StartupRefused when it must not start as configured."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    bus: EventBus
    executor: RunExecutor
    bus = RedisBus(settings.redis_url, settings.redis_prefix) if settings.redis_url else MemoryBus()
    redis = bus.redis if isinstance(bus, RedisBus) else None
    try:
        # First: a process whose analytics would not be shared with its peers stops here.
        analytics, peers = await open_shared_analytics(settings, redis, settings.redis_prefix)
    except BaseException:
        await bus.close()
        raise
    db = Database(settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow)
    await db.migrate()
    if db.engine_name == "postgresql":
        # Imports into one org take turns across every process, not only within this one.
        analytics.share_import_lock(db.usage_import_lock)
    event_log = RunEventLog(db)
    event_log.start()
    model = build_model(settings)
    budgets = BudgetBook(db)
    # The pause applies wherever runs execute, in this process or on a worker.
    # Each run reads its thread's earlier answer (scope, period) wherever it executes, here or on a worker.
    pipeline = slowed(with_conversation(with_budgets(run_supervisor, budgets.specs), ThreadHistory(db).basis),
                      settings.run_step_delay_s)
    distributed = isinstance(bus, RedisBus)
    await bus.start()
    if isinstance(bus, RedisBus):
        executor = queue_executor(settings, db=db, event_log=event_log, bus=bus, analytics=analytics, model=model,
                                  pipeline=pipeline)
    else:
        executor = LocalExecutor(event_log=event_log, bus=bus, pipeline=pipeline, analytics=analytics,
                                 model=model, max_concurrent=settings.max_concurrent_runs,
                                 queue_report_s=settings.run_queue_report_s)
    runs = RunService(db, event_log, bus, executor, settings.run_deadline_s, settings.max_active_runs_per_user)
    keys = key_ring(settings)
    # Counted in Redis when there is one, so a limit holds across every instance.
    limits = RateLimits(redis, settings.redis_prefix)
    auth = AuthService(db, TokenService(keys, settings.access_token_ttl_s, settings.refresh_token_ttl_s), bus,
                       failed_logins_per_account=limits.make("login_account", settings.login_attempts_per_account,
                                                             settings.login_window_s),
                       failed_logins_per_ip=limits.make("login_ip", settings.login_attempts_per_ip,
                                                        settings.login_window_s))
    mailer = Mailer(settings)
    accounts = AccountService(db, auth, mailer, reset_ttl_s=settings.password_reset_ttl_s,
                              resets_by_email=limits.make("password_resets", settings.password_resets_per_hour, 3600),
                              session_ttl_s=settings.refresh_token_ttl_s)
    alerts = AlertService(db, analytics, settings, budgets)
    connectors = ConnectorService(db, analytics, settings, SecretBox.from_settings(settings.secrets_key,
                                                                                   settings.data_dir),
                                  usage_changed=alerts.usage_changed)
    services = Services(settings=settings, db=db, analytics=analytics, bus=bus, event_log=event_log, runs=runs,
                        auth=auth, accounts=accounts, members=Members(db, auth, bus),
                        invitations=Invitations(db, auth, mailer, settings.invitation_ttl_s), mailer=mailer,
                        keys=keys, oauth=OAuthProviders(settings, keys), model=model,
                        ws_rate=limits.make("socket_messages", settings.ws_messages_per_minute, 60), alerts=alerts,
                        api_keys=ApiKeyService(db, bus, settings.api_key_cache_ttl_s),
                        intake=intake_writer(settings, analytics, bus, alerts),
                        connectors=connectors)
    if peers is not None:
        services.closers.append(peers.leave)
    await services.intake.start()
    if settings.role != "worker":
        # Every API process ticks; the connectors table's lease lets one of them pull each connector.
        services.scheduler = ConnectorScheduler(connectors, settings.connector_poll_s)
        services.scheduler.start()
    if distributed:
        # Other processes may be executing runs right now: the watchdog ends only the lost ones.
        await executor.start()
    else:
        interrupted = await runs.end_interrupted_runs()
        if interrupted:
            log.info("interrupted_runs_ended", count=interrupted)
    if settings.seed_demo and settings.role != "worker":
        async with db.advisory_lock("seed-demo"):
            await seed_demo_account(services)
    # Every role evaluates and delivers alerts; the database keeps each one to a single firing.
    await alerts.start()
    return services


def intake_writer(settings: Settings, analytics: AnalyticsStore, bus: EventBus, alerts: AlertService) -> IntakeWriter:
    notices = UsageNotices(bus)

    async def stored(org_id: str, rows: int, source: str) -> None:
        # Live usage, like an import, moves budgets: they are evaluated again soon.
        alerts.usage_changed(org_id)
        await notices.stored(org_id, rows, source)

    return IntakeWriter(analytics, max_pending=settings.intake_max_pending_rows,
                        max_pending_per_key=settings.intake_max_pending_per_key, batch_rows=settings.intake_batch_rows,
                        write_timeout_s=settings.intake_write_timeout_s,
                        commit_every_s=settings.intake_commit_every_s, on_stored=stored)


def queue_executor(settings: Settings, *, db: Database, event_log: RunEventLog, bus: RedisBus,
                   analytics: AnalyticsStore, model: ProseModel, pipeline: Pipeline) -> QueueExecutor:
    """Runs on workers: the api role enqueues; the worker role executes; `all` does both."""
    queue = RunQueue(bus, settings.lease_s)
    parts: list = []
    worker = None
    if settings.role in ("worker", "all"):
        worker = RunWorker(db=db, event_log=event_log, bus=bus, queue=queue, pipeline=pipeline, analytics=analytics,
                           model=model, max_jobs=settings.worker_max_jobs, poll_s=settings.queue_poll_s,
                           job_timeout_s=settings.run_deadline_s + 30)
        parts.append(worker)
    parts.append(Watchdog(db=db, event_log=event_log, bus=bus, queue=queue, interval_s=settings.watchdog_interval_s,
                          lease_s=settings.lease_s, cancel_waiting=settings.role != "worker"))
    positions = None
    if settings.role != "worker":
        parts.append(DegradedDelivery(db=db, bus=bus))
        # A free worker looks at the queue every poll: a run still there after a few polls waits for capacity.
        positions = QueuePositions(queue, queued_reporter(bus), report_every_s=settings.run_queue_report_s,
                                   patience_s=max(0.25, 4 * settings.queue_poll_s))
        parts.append(positions)
    return QueueExecutor(db=db, queue=queue, parts=parts, worker=worker, positions=positions)


async def seed_demo_account(services: Services) -> bool:
    """First start only: the demo organisation, its account and 90 days of usage."""
    settings = services.settings
    async with services.db.session() as s:
        if await s.scalar(select(User.id).where(User.email == settings.demo_email)):
            return False
        s.add(Org(id="org_demo", name="Demo organisation", created_at=utcnow()))
        await s.commit()
    await services.auth.create_user(settings.demo_email, settings.demo_password, "Demo", org_id="org_demo")
    rows = await seed_demo(services.analytics, "org_demo")
    log.info("demo_seeded", rows=rows, email=settings.demo_email)
    return True


async def migrate_stores(settings: Settings) -> list[str]:
    """Bring the database and the analytics schema up to date, as every process does at start.

    For a release step before a rollout, and for restoring a backup into a fresh store.
    Returns what it did, a line per store.
    """
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url, pool_size=1, max_overflow=0)
    try:
        await db.migrate()
    finally:
        await db.close()
    analytics = open_analytics(settings)  # creates the tables and views that are missing
    try:
        where = redacted_url(settings.clickhouse_url) if settings.clickhouse_url else str(settings.chdb_path)
        return [f"database ({db.engine_name}): migrated to the latest revision",
                f"analytics ({analytics.engine} at {where}): tables and views in place"]
    finally:
        await analytics.close()


async def close_services(services: Services) -> None:
    # Accepted usage is stored before the stores close.
    await services.intake.close()
    services.api_keys.close()
    await services.accounts.drain()
    await services.alerts.close()
    if services.scheduler is not None:
        await services.scheduler.close()
    await services.runs.executor.drain(services.settings.worker_drain_s)
    await services.runs.executor.close()
    await services.event_log.close()
    for close in services.closers:
        await close()
    await services.bus.close()
    await services.analytics.close()
    await services.db.close()
