"""Helpers for browser tests: sign in, register, read the open thread, cross-check over REST."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import expect

# A whole analysis run, end to end; generous because CI machines are small, not a speed claim.
RUN_TIMEOUT_MS = 90_000


def sign_in(page, email: str, password: str) -> None:
    page.goto("/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#auth-submit").click()
    wait_connected(page)


def register(page, name: str | None = None) -> tuple[str, str]:
    email = f"user-{uuid.uuid4().hex[:10]}@example.com"
    password = f"correct horse {uuid.uuid4().hex[:8]}"
    page.goto("/")
    page.get_by_role("button", name="Create account").click()
    if name:
        page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.locator("#auth-submit").click()
    wait_connected(page)
    return email, password


def wait_connected(page) -> None:
    expect(page.locator("#connection-status")).to_have_attribute("data-state", "open")


def thread_id_of(page) -> str:
    match = re.search(r"#/chat/([^/?#]+)", page.url)
    assert match, f"no thread in the URL {page.url}"
    return match.group(1)


class Api:
    """A REST client for cross-checking what the page shows against what the server holds."""

    def __init__(self, base_url: str, email: str, password: str):
        self.client = httpx.Client(base_url=base_url, timeout=30)
        tokens = self.client.post("/auth/login", json={"email": email, "password": password})
        tokens.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {tokens.json()['access_token']}"

    def get(self, path: str):
        response = self.client.get(path)
        response.raise_for_status()
        return response.json()

    def close(self) -> None:
        self.client.close()
