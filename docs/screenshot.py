"""Regenerate docs/app.png, the README's picture of `channelsim viz`: the baseline scenario with a richer
rebate, twelve quarters in, its baseline dashed alongside.

    .venv/bin/python docs/screenshot.py        (needs playwright and /usr/bin/chromium)
"""

from pathlib import Path

from playwright.sync_api import expect

from sim import serve

OUT = Path(__file__).resolve().parent / "app.png"


def main() -> None:
    with serve.served() as url, serve.chromium(width=1500, height=1900) as session:
        page = session.page
        serve.open_app(session, url)
        slider = page.locator(".v-input").filter(has_text="Rebate rate").locator(".v-slider")
        slider.click(position={"x": slider.bounding_box()["width"] * 0.6, "y": 8})
        page.get_by_role("button", name="Reset").click()
        expect(page.get_by_text("Levers changed from the scenario")).to_be_visible(timeout=30_000)
        for quarter in range(1, 13):
            serve.step(session, quarter)
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(OUT), full_page=True)
        if session.failures or session.errors:
            raise SystemExit(f"the page met problems: {session.failures + session.errors}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
