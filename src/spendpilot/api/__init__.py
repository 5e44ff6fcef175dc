"""REST routers, thin over the domain: each module one resource; ROUTERS is every one the app mounts."""

from fastapi import APIRouter

from spendpilot.api import alerts, auth, budgets, discovery, health, keys, runs, threads, usage

ROUTERS: tuple[APIRouter, ...] = (health.router, discovery.router, auth.router, threads.router, runs.router,
                                  usage.router, keys.router, budgets.router, alerts.router)
