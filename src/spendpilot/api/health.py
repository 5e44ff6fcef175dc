"""Health: /health (process up) and /api/health (each dependency really queried, with latency)."""

from __future__ import annotations

import asyncio
import time

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from spendpilot import __version__
from spendpilot.api.deps import PUBLIC_ROUTE, ServicesDep

router = APIRouter(tags=["health"], dependencies=[PUBLIC_ROUTE])
CHECK_TIMEOUT_S = 3.0


@router.get("/health")
async def health():
    return {"status": "healthy", "service": "spendpilot", "version": __version__}


async def _check(engine: str, probe) -> dict:
    start = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT_S)
    except Exception as exc:
        return {"status": "unhealthy", "engine": engine, "latency_ms": _ms(start),
                "error": type(exc).__name__}
    return {"status": "healthy", "engine": engine, "latency_ms": _ms(start)}


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)


@router.get("/api/health")
async def api_health(services: ServicesDep):
    database, bus, analytics, llm = await asyncio.gather(
        _check(services.db.engine_name, services.db.ping),
        _check(services.bus.engine, services.bus.ping),
        _check(services.analytics.engine, services.analytics.ping),
        _check(services.model.name, services.model.ping),
    )
    # Runs fall back to the offline model when the LLM is down, so it never makes us unhealthy.
    llm["required"] = False
    checks = {"database": database, "bus": bus, "analytics": analytics, "llm": llm}
    failed = [name for name in ("database", "bus", "analytics") if checks[name]["status"] != "healthy"]
    status = "unhealthy" if failed else "healthy"
    body = {"status": status, "checks": checks, "uptime_s": round(time.monotonic() - services.started, 1),
            # Live usage accepted by this instance and not yet stored (it refuses more past its limit).
            "intake": {"pending_rows": services.intake.pending}}
    return JSONResponse(body, status_code=503 if failed else 200)
