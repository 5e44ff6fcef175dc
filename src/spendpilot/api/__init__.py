"""REST routers, thin over the domain: each module one resource; ROUTERS is every one the app mounts."""

from fastapi import APIRouter

from spendpilot.api import (
    account,
    alerts,
    auth,
    budgets,
    connectors,
    discovery,
    export,
    health,
    keys,
    org,
    runs,
    shares,
    threads,
    usage,
)

ROUTERS: tuple[APIRouter, ...] = (health.router, discovery.router, auth.router, account.router, org.router,
                                  threads.router, runs.router, export.router, shares.router, shares.public,
                                  usage.router, budgets.router, alerts.router, keys.router, connectors.router)
