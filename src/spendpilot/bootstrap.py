"""Build the services for a role from Settings; seed the demo org; close everything in order."""

from __future__ import annotations

from spendpilot.agents.models import build_model
from spendpilot.agents.pipeline import run_supervisor
from spendpilot.analytics.store import open_analytics
from spendpilot.auth.keys import KeyRing
from spendpilot.auth.service import AuthService
from spendpilot.auth.tokens import TokenService
from spendpilot.bus.memory import MemoryBus
from spendpilot.config import Settings
from spendpilot.limits import SlidingWindow
from spendpilot.logs import get_logger
from spendpilot.realtime.registry import ConnectionRegistry
from spendpilot.runs.event_log import RunEventLog
from spendpilot.runs.executor import LocalExecutor
from spendpilot.runs.service import RunService
from spendpilot.services import Services
from spendpilot.store.database import Database

log = get_logger(__name__)


def key_ring(settings: Settings) -> KeyRing:
    if settings.signing_key:
        return KeyRing.from_pem(settings.signing_key)
    return KeyRing.load_or_create(settings.data_dir / "keys")


async def build_services(settings: Settings) -> Services:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    db = Database(settings.sqlalchemy_url)
    await db.migrate()
    analytics = open_analytics(settings)
    bus = MemoryBus()
    await bus.start()
    event_log = RunEventLog(db)
    event_log.start()
    model = build_model(settings)
    executor = LocalExecutor(event_log=event_log, bus=bus, pipeline=run_supervisor, analytics=analytics, model=model)
    runs = RunService(db, event_log, bus, executor, settings.run_deadline_s, settings.max_active_runs_per_user)
    keys = key_ring(settings)
    auth = AuthService(db, TokenService(keys, settings.access_token_ttl_s, settings.refresh_token_ttl_s),
                       attempts_per_account=settings.login_attempts_per_account,
                       attempts_per_ip=settings.login_attempts_per_ip, window_s=settings.login_window_s)
    services = Services(settings=settings, db=db, analytics=analytics, bus=bus, event_log=event_log, runs=runs,
                        auth=auth, keys=keys, connections=ConnectionRegistry(), model=model,
                        ws_rate=SlidingWindow(settings.ws_messages_per_minute, 60))
    interrupted = await runs.end_interrupted_runs()
    if interrupted:
        log.info("interrupted_runs_ended", count=interrupted)
    if settings.seed_demo:
        await seed_demo_account(services)
    return services


async def seed_demo_account(services: Services) -> bool:
    """First start only: the demo organisation, its account and 90 days of usage."""
    from sqlalchemy import select

    from spendpilot.analytics.demo import seed_demo
    from spendpilot.clock import utcnow
    from spendpilot.store.models import Org, User

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
    services.connections.close_all()
    await services.runs.executor.close()
    await services.event_log.close()
    await services.bus.close()
    await services.analytics.close()
    await services.db.close()
