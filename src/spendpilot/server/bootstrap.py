"""Build the services a process needs from Settings; seed the demo org; close everything in order.

Two shapes, chosen once by SPENDPILOT_REDIS_URL: everything in this process (`up`: in-process
bus, runs executed here), or a split deployment (`serve`: Redis bus, runs queued to workers,
the parts of `settings.role`).
"""

from __future__ import annotations

from sqlalchemy import select

from spendpilot.agents.choose import build_model
from spendpilot.agents.context import with_budgets
from spendpilot.agents.conversation import with_conversation
from spendpilot.agents.model import ProseModel
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.alerts.budgets import BudgetBook
from spendpilot.alerts.service import AlertService
from spendpilot.analytics.demo import seed_demo
from spendpilot.analytics.store import AnalyticsStore, open_analytics
from spendpilot.auth.account import AccountService
from spendpilot.auth.oauth import OAuthProviders
from spendpilot.auth.service import AuthService
from spendpilot.auth.signing import KeyRing
from spendpilot.auth.tokens import TokenService
from spendpilot.bus.base import EventBus
from spendpilot.bus.memory import MemoryBus
from spendpilot.bus.redis import RedisBus
from spendpilot.clock import utcnow
from spendpilot.config import Settings
from spendpilot.limits import SlidingWindow
from spendpilot.logs import get_logger
from spendpilot.mail import Mailer
from spendpilot.runs.conversation import ThreadHistory
from spendpilot.runs.degraded import DegradedDelivery
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.executors import LocalExecutor, QueueExecutor, RunExecutor
from spendpilot.runs.queue import RunQueue
from spendpilot.runs.runner import Pipeline, slowed
from spendpilot.runs.service import RunService
from spendpilot.runs.watchdog import Watchdog
from spendpilot.runs.worker import RunWorker
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
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url, settings.db_pool_size, settings.db_max_overflow)
    await db.migrate()
    analytics = open_analytics(settings)
    event_log = RunEventLog(db)
    event_log.start()
    model = build_model(settings)
    budgets = BudgetBook(db)
    # The pause applies wherever runs execute, in this process or on a worker.
    # Each run reads its thread's earlier answer (scope, period) wherever it executes, here or on a worker.
    pipeline = slowed(with_conversation(with_budgets(run_supervisor, budgets.specs), ThreadHistory(db).basis),
                      settings.run_step_delay_s)
    distributed = bool(settings.redis_url)
    bus: EventBus
    executor: RunExecutor
    if settings.redis_url:
        bus = RedisBus(settings.redis_url, settings.redis_prefix)
        await bus.start()
        executor = queue_executor(settings, db=db, event_log=event_log, bus=bus, analytics=analytics, model=model,
                                  pipeline=pipeline)
    else:
        bus = MemoryBus()
        await bus.start()
        executor = LocalExecutor(event_log=event_log, bus=bus, pipeline=pipeline, analytics=analytics,
                                 model=model, max_concurrent=settings.max_concurrent_runs)
    runs = RunService(db, event_log, bus, executor, settings.run_deadline_s, settings.max_active_runs_per_user)
    keys = key_ring(settings)
    auth = AuthService(db, TokenService(keys, settings.access_token_ttl_s, settings.refresh_token_ttl_s), bus,
                       attempts_per_account=settings.login_attempts_per_account,
                       attempts_per_ip=settings.login_attempts_per_ip, window_s=settings.login_window_s)
    mailer = Mailer(settings)
    accounts = AccountService(db, auth, mailer, reset_ttl_s=settings.password_reset_ttl_s,
                              resets_per_hour=settings.password_resets_per_hour,
                              session_ttl_s=settings.refresh_token_ttl_s)
    alerts = AlertService(db, analytics, settings, budgets)
    services = Services(settings=settings, db=db, analytics=analytics, bus=bus, event_log=event_log, runs=runs,
                        auth=auth, accounts=accounts, members=Members(db, auth, bus),
                        invitations=Invitations(db, auth, mailer, settings.invitation_ttl_s), mailer=mailer,
                        keys=keys, oauth=OAuthProviders(settings, keys), model=model,
                        ws_rate=SlidingWindow(settings.ws_messages_per_minute, 60), alerts=alerts)
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
    if settings.role != "worker":
        parts.append(DegradedDelivery(db=db, bus=bus))
    return QueueExecutor(db=db, queue=queue, parts=parts, worker=worker)


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


async def close_services(services: Services) -> None:
    await services.accounts.drain()
    await services.alerts.close()
    await services.runs.executor.drain(services.settings.worker_drain_s)
    await services.runs.executor.close()
    await services.event_log.close()
    await services.bus.close()
    await services.analytics.close()
    await services.db.close()
