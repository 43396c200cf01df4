"""The explorer in Chromium, on the development database: screenshots for the README
(`make screenshots`) and the first view's load time as the browser measures it (`make
explorer-timing`; figures in docs/benchmarks.md).

Starts `reviews-api serve` on a free loopback port for the run and stops it by PID.
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from browser import chromium, first_view_timing  # noqa: E402 - tests/ is not a package

BIN = Path(sys.executable).parent
DEV_DATABASE = ROOT / "data" / "musical_instrument_reviews.sqlite"
# The most reviewed product of the development data, over the years it was reviewed.
ENTITY_VIEW = "/explore?product=B0128IL7TH"
WIDTHS = (375, 1280)


@contextmanager
def served(database_url: str) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    process = subprocess.Popen(  # noqa: S603 - our own entry point, no shell
        [str(BIN / "reviews-api"), "serve"], env=env, start_new_session=True
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base_url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("reviews-api serve did not start")
            time.sleep(0.1)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def screenshots(base_url: str, output: Path) -> None:
    output.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        for width in WIDTHS:
            for name, path in (("landing", "/explore"), ("product", ENTITY_VIEW)):
                context = browser.new_context(viewport={"width": width, "height": 900})
                page = context.new_page()
                page.goto(base_url + path)
                page.wait_for_function("() => document.documentElement.dataset.state === 'ready'")
                target = output / f"explorer-{name}-{width}.png"
                page.screenshot(path=str(target), full_page=True)
                context.close()
                print(f"wrote {target}")


def timing(base_url: str, runs: int) -> None:
    """Cold: a new browser context each run (empty cache). Warm: the same page reloaded
    (the page revalidated by its ETag, the fingerprinted assets from the cache)."""
    cold: list[dict[str, float]] = []
    warm: list[dict[str, float]] = []
    with chromium() as browser:
        for _ in range(runs):
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            page = context.new_page()
            page.goto(base_url + "/explore")
            page.wait_for_function("() => performance.getEntriesByName('explorer-ready').length")
            page.wait_for_load_state("load")
            cold.append(first_view_timing(page))
            page.reload()
            page.wait_for_function("() => performance.getEntriesByName('explorer-ready').length")
            page.wait_for_load_state("load")
            warm.append(first_view_timing(page))
            context.close()
    print(f"first view of /explore (Chromium, 1280x900, loopback), {runs} runs each:")
    print("| cache | ready ms (median / max) | load event ms (median) | requests | bytes sent |")
    print("|---|---|---|---|---|")
    for label, samples in (("cold", cold), ("warm", warm)):
        ready = [s["ready_ms"] for s in samples]
        print(
            f"| {label} | {statistics.median(ready):.0f} / {max(ready):.0f} "
            f"| {statistics.median(s['load_event_end_ms'] for s in samples):.0f} "
            f"| {samples[-1]['requests']:.0f} | {samples[-1]['transfer_bytes']:,.0f} |"
        )
    print()
    print("| asset | bytes | gzipped |")
    print("|---|---|---|")
    page_text = httpx.get(base_url + "/explore").text
    names = sorted(set(_asset_urls(page_text, base_url)))
    for url in ["/explore", *names]:
        body = httpx.get(base_url + url, headers={"Accept-Encoding": "identity"}).content
        print(f"| `{url}` | {len(body):,} | {len(gzip.compress(body, 9, mtime=0)):,} |")


def _asset_urls(text: str, base_url: str) -> Iterator[str]:
    """The page's assets and the modules they import (one level is all the page has)."""
    for url in re.findall(r'(?:src|href)="(/explore/assets/[^"]+)"', text):
        yield url
        if url.endswith(".js"):
            module = httpx.get(base_url + url).text
            for name in re.findall(r'from "\./([^"]+)"', module):
                yield f"/explore/assets/{name}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["screenshots", "timing"])
    parser.add_argument("--output", type=Path, default=ROOT / "docs")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--database-url",
        default=f"sqlite:///{DEV_DATABASE}",
        help="what the service reads (default: the development SQLite file)",
    )
    arguments = parser.parse_args()
    with served(arguments.database_url) as base_url:
        if arguments.command == "screenshots":
            screenshots(base_url, arguments.output)
        else:
            timing(base_url, arguments.runs)


if __name__ == "__main__":
    main()
