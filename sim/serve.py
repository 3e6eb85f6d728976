"""Serving the browser app and driving it in Chromium: for the browser test, `channelsim bench --viz` and
the README's screenshot (docs/screenshot.py).

The server is `channelsim viz` in its own process group, bound to 127.0.0.1; it is stopped by its
group, with SIGKILL if SIGTERM is not enough (a connected browser can keep it up). The browser is
Debian's Chromium driven by Playwright (a dev dependency), which downloads no browser of its own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sim.errors import InputError

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent


class BrowserMissing(InputError):
    """The browser tools cannot run on this machine: playwright or Chromium is not installed. The user's to
    install, so told as bad input (exit 2, one line), not as a bug."""


def check_browser() -> None:
    """Raise BrowserMissing unless playwright and Debian's Chromium are installed."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        raise BrowserMissing("the browser tools need playwright: pip install -e '.[dev]'") from None
    if not Path(CHROMIUM).exists():
        raise BrowserMissing(f"{CHROMIUM} is not installed: apt-get install chromium")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def served(*options: str, command: list[str] | None = None, timeout: float = 90.0) -> Iterator[str]:
    """`channelsim viz *options` (or `command`) on a free port of 127.0.0.1; yields its address."""
    port = free_port()
    command = command or [sys.executable, "-m", "sim.cli", "viz", *options]
    process = subprocess.Popen([*command, "--port", str(port)],
                               cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while True:
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                if process.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"channelsim viz did not start: {process.stdout.read()}") from None
                time.sleep(0.3)
        yield url
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
                process.wait(timeout=10)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue


@dataclass
class Session:
    """A Chromium page, with every response of status 400 or more and every JavaScript error it met."""

    page: object
    failures: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@contextmanager
def chromium(width: int = 1600, height: int = 1400) -> Iterator[Session]:
    check_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            session = Session(page)
            page.on("response", lambda r: session.failures.append(f"{r.status} {r.url}") if r.status >= 400 else None)
            page.on("pageerror", lambda e: session.errors.append(str(e)))
            yield session
        finally:
            browser.close()


def open_app(session: Session, url: str) -> None:
    from playwright.sync_api import expect

    session.page.goto(url)
    expect(session.page.get_by_text("Quarter 0 of")).to_be_visible(timeout=90_000)


def step(session: Session, quarter: int) -> float:
    """Press Step; seconds until quarter `quarter` is shown and the browser has painted it."""
    from playwright.sync_api import expect

    page = session.page
    start = time.perf_counter()
    page.get_by_role("button", name="Step").click()
    expect(page.get_by_text(f"Quarter {quarter} of")).to_be_visible(timeout=60_000)
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    return time.perf_counter() - start


def measure_viz(sizes=(1_000, 10_000), quarters: int = 8, progress=None) -> list[dict]:
    """Per partner count: median and worst seconds from pressing Step to the quarter painted in Chromium."""
    import statistics

    check_browser()  # before any server starts
    results = []
    for n in sizes:
        with served("--partners", str(n)) as url, chromium() as session:
            open_app(session, url)
            times = [step(session, q) for q in range(1, quarters + 1)]
            results.append({"partners": n, "median_s": statistics.median(times), "max_s": max(times),
                            "quarters": quarters, "failures": len(session.failures),
                            "errors": len(session.errors)})
        if progress:
            progress(results[-1])
    return results


def render_viz(results: list[dict]) -> str:
    lines = [" partners  median s/quarter  worst s/quarter  (Step pressed -> quarter painted in Chromium)"]
    for r in results:
        lines.append(f"{r['partners']:>9,}  {r['median_s']:>16.3f}  {r['max_s']:>15.3f}"
                     + (f"  {r['failures']} failed responses, {r['errors']} JS errors"
                        if r["failures"] or r["errors"] else ""))
    return "\n".join(lines)
