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
from collections.abc import Callable, Iterator
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


class Address(str):
    """A served page's address, with the server's process id."""

    pid: int = 0


@contextmanager
def served(*options: str, command: list[str] | None = None, timeout: float = 90.0) -> Iterator[Address]:
    """`channelsim viz *options` (or `command`) on a free port of 127.0.0.1; yields its address."""
    port = free_port()
    command = command or [sys.executable, "-m", "sim.cli", "viz", *options]
    process = subprocess.Popen([*command, "--port", str(port)],
                               cwd=ROOT, start_new_session=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    url = Address(f"http://127.0.0.1:{port}/")
    url.pid = process.pid  # the server's (`channelsim viz` execs it in place)
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
def browser() -> Iterator[Callable[..., Session]]:
    """Chromium; yields a function that opens a page in a context of its own (its own cookies, hence its own Solara
    session), as another person's browser would be."""
    check_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM,
                                     args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])

        def new_session(width: int = 1600, height: int = 1400) -> Session:
            context = launched.new_context(viewport={"width": width, "height": height}, accept_downloads=True)
            session = Session(context.new_page())
            session.page.on("response", lambda r: session.failures.append(f"{r.status} {r.url}")
                            if r.status >= 400 else None)
            session.page.on("pageerror", lambda e: session.errors.append(str(e)))
            return session

        try:
            yield new_session
        finally:
            launched.close()


@contextmanager
def chromium(width: int = 1600, height: int = 1400) -> Iterator[Session]:
    with browser() as new_session:
        yield new_session(width, height)


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


def apply_amount(session: Session, label: str, amount: str) -> None:
    """Type `amount` into the lever `label` and press Apply from next quarter; waits for the change's record."""
    from playwright.sync_api import expect

    page = session.page
    field = page.get_by_label(label)
    records = page.locator(".steer-record")
    before = records.count()
    # the typed value may reach the server after the click, or (a page just opened) be reset by its first redraw:
    # typed and pressed again, Apply changes nothing until it has the value (it says "nothing to apply")
    for _ in range(20):
        if field.input_value() != amount:
            field.fill(amount)
            field.press("Enter")
        page.get_by_role("button", name="Apply from next quarter").click()
        try:
            expect(records).to_have_count(before + 1, timeout=1_500)
            return
        except AssertionError:
            continue
    expect(records).to_have_count(before + 1, timeout=30_000)


def measure_viz(sizes=(1_000, 10_000), quarters: int = 8, progress=None) -> list[dict]:
    """Per partner count: median and worst seconds from pressing Step to the quarter painted in Chromium, with the
    baseline running alongside (the MDF budget halved from quarter 1 by Apply)."""
    import statistics

    check_browser()  # before any server starts
    results = []
    for n in sizes:
        with served("--partners", str(n)) as url, chromium() as session:
            open_app(session, url)
            apply_amount(session, "MDF budget ($ a quarter)", "250,000")
            times = [step(session, q) for q in range(1, quarters + 1)]
            results.append({"partners": n, "median_s": statistics.median(times), "max_s": max(times),
                            "quarters": quarters, "failures": len(session.failures),
                            "errors": len(session.errors)})
        if progress:
            progress(results[-1])
    return results


def play_to_end(session: Session, quarters: int) -> None:
    """Press Play and wait for the run's last quarter."""
    from playwright.sync_api import expect

    session.page.get_by_role("button", name="▶").click()
    expect(session.page.get_by_text(f"Quarter {quarters} of {quarters}")).to_be_visible(timeout=600_000)


def measure_sessions(partners: int = 1_000, quarters: int = 40, sessions: int = 2) -> dict:
    """The server's resident memory with no page open, then after each of `sessions` browsers (each its own Solara
    session) has played a channel of `partners` to quarter `quarters` with its baseline alongside: MiB per session."""
    import psutil

    check_browser()
    with served("--partners", str(partners)) as url, browser() as new_session:
        server = psutil.Process(url.pid)
        idle = open_one = None
        rss = []
        for k in range(sessions):
            session = new_session()
            if k == 0:
                idle = server.memory_info().rss
            open_app(session, url)
            if k == 0:
                open_one = server.memory_info().rss
            apply_amount(session, "MDF budget ($ a quarter)", "250,000")
            play_to_end(session, quarters)
            rss.append(server.memory_info().rss)
    mib = 2.0**20
    per = [(b - a) / mib for a, b in zip([idle, *rss[:-1]], rss, strict=True)]
    return {"partners": partners, "quarters": quarters, "idle_mib": idle / mib, "page_open_mib": open_one / mib,
            "after_mib": [r / mib for r in rss], "per_session_mib": per}


def render_sessions(result: dict) -> str:
    return (f"memory per session ({result['partners']:,} partners, {result['quarters']} quarters, baseline alongside): "
            + ", ".join(f"{m:.0f} MiB" for m in result["per_session_mib"])
            + f" (server {result['idle_mib']:.0f} MiB idle, {result['after_mib'][-1]:.0f} MiB after "
            f"{len(result['per_session_mib'])} sessions)")


def render_viz(results: list[dict]) -> str:
    lines = [" partners  median s/quarter  worst s/quarter  (Step pressed -> quarter painted in Chromium, with the "
             "baseline alongside)"]
    for r in results:
        lines.append(f"{r['partners']:>9,}  {r['median_s']:>16.3f}  {r['max_s']:>15.3f}"
                     + (f"  {r['failures']} failed responses, {r['errors']} JS errors"
                        if r["failures"] or r["errors"] else ""))
    return "\n".join(lines)
