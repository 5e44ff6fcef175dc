"""Browser fixtures: Debian's Chromium driven by Playwright, with every console error collected."""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass, field

import pytest
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("SPENDPILOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VIEWPORT = {"width": 1280, "height": 900}


@dataclass
class PageProblems:
    """Console errors and uncaught exceptions seen by one page."""

    errors: list[str] = field(default_factory=list)
    allowed: list[re.Pattern] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [e for e in self.errors if not any(p.search(e) for p in self.allowed)]


@pytest.fixture(scope="module")
def browser():
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_page_at(browser, make_server):
    """open_page_at(base_url) -> (page, problems) in a fresh browser context (its own storage, like
    another person), or in the given context (another tab). Console errors fail the test.

    It takes make_server so that a test's own servers stop only after its pages are closed: a page
    left open while its server stops would see its socket refused, which is no fault of the app."""
    contexts = []
    watched: list[tuple[str, PageProblems]] = []

    def make(base_url: str, context=None, viewport=VIEWPORT):
        if context is None:
            context = browser.new_context(base_url=base_url, viewport=viewport)
            contexts.append(context)
        page = context.new_page()
        problems = PageProblems()
        page.on("console", lambda msg: msg.type == "error" and problems.errors.append(f"console: {msg.text}"))
        page.on("pageerror", lambda exc: problems.errors.append(f"pageerror: {exc}"))
        watched.append((f"page {len(watched) + 1}", problems))
        return page, problems

    yield make
    for context in contexts:
        context.close()
    found = {name: problems.unexpected() for name, problems in watched if problems.unexpected()}
    assert not found, f"browser console errors: {found}"


@pytest.fixture
def open_page(open_page_at, spendpilot_server):
    """open_page() -> (page, problems) on the shared demo server."""

    def make(context=None, viewport=VIEWPORT):
        return open_page_at(spendpilot_server.url, context=context, viewport=viewport)

    return make


@pytest.fixture
def silent_llm():
    """The URL of an OpenAI-compatible endpoint that accepts requests and never answers, so a run
    that asks it stays in flight until it is stopped (the way a stalled provider behaves)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.2)
    accepted: list[socket.socket] = []
    stopping = threading.Event()

    def accept() -> None:
        while not stopping.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            accepted.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
    stopping.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()
