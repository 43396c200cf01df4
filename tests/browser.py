"""A real browser for the explorer's tests and scripts: Debian's Chromium driven by
Playwright (its own browser downloads do not work here; `make browser-tools` installs the
system one). Without it, the browser tests fail under CI=true and are skipped elsewhere,
saying how to install it, like the replica tests without pgbouncer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, ConsoleMessage, Page, Request, sync_playwright

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
INSTALL_HINT = "as root: make browser-tools (apt-get install chromium), or set BROWSER_PATH"


def chromium_path() -> str | None:
    """BROWSER_PATH, else Debian's chromium on the PATH or in /usr/bin."""
    configured = os.environ.get("BROWSER_PATH")
    if configured:
        return configured if Path(configured).exists() else None
    return shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    path = chromium_path()
    if path is None:
        raise FileNotFoundError(f"no Chromium: {INSTALL_HINT}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class Visit:
    """A page and what it did: every request it made, its console errors and uncaught
    exceptions, and any dialog (alert, confirm) it opened."""

    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @classmethod
    def open(cls, browser: Browser, **context_options: Any) -> Visit:
        page = browser.new_context(**context_options).new_page()
        visit = cls(page)
        page.on("request", lambda request: visit._request(request))
        page.on("console", lambda message: visit._console(message))
        page.on("pageerror", lambda error: visit.errors.append(f"uncaught: {error}"))
        page.on("dialog", lambda dialog: visit._dialog(dialog))
        return visit

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _console(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(message.text)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, url: str) -> None:
        """Open `url` and wait until the explorer has drawn what it names."""
        self.page.goto(url)
        self.wait_ready()

    def wait_ready(self) -> None:
        self.page.wait_for_function("() => document.documentElement.dataset.state === 'ready'")

    def close(self) -> None:
        self.page.context.close()


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is (run through the DevTools protocol, which
    the page's Content-Security-Policy does not govern)."""
    page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r)"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:3]}
        for v in result["violations"]
    ]


def first_view_timing(page: Page) -> dict[str, float]:
    """The browser's own figures for the page just loaded, in ms from navigation start:
    Navigation Timing's, the explorer's `explorer-ready` mark (its first view drawn), and
    bytes over the wire of the page and its resources."""
    timing: dict[str, float] = page.evaluate(
        """() => {
            const nav = performance.getEntriesByType('navigation')[0];
            const ready = performance.getEntriesByName('explorer-ready')[0];
            const resources = performance.getEntriesByType('resource');
            const sum = (list, key) => list.reduce((total, entry) => total + entry[key], 0);
            return {
                response_end_ms: nav.responseEnd,
                dom_content_loaded_ms: nav.domContentLoadedEventEnd,
                load_event_end_ms: nav.loadEventEnd,
                ready_ms: ready ? ready.startTime : -1,
                requests: 1 + resources.length,
                transfer_bytes: nav.transferSize + sum(resources, 'transferSize'),
                decoded_bytes: nav.decodedBodySize + sum(resources, 'decodedBodySize'),
            };
        }"""
    )
    return timing
