"""Every intake router the app mounts."""

from fastapi import APIRouter

from spendpilot.intake import gateway, receiver

ROUTERS: tuple[APIRouter, ...] = (receiver.router, gateway.router)
