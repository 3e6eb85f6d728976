"""Regenerate docs/app.png, the README's picture of `channelsim viz`: the baseline scenario with its MDF cut to nothing
by "Apply from next quarter" at quarter 12, eight quarters on, the baseline dashed alongside and the answer since the
change beside the KPIs.

    .venv/bin/python docs/screenshot.py        (needs playwright and /usr/bin/chromium)
"""

from pathlib import Path

from sim import serve

OUT = Path(__file__).resolve().parent / "app.png"


def main() -> None:
    with serve.served() as url, serve.chromium(width=1500, height=2000) as session:
        page = session.page
        serve.open_app(session, url)
        for quarter in range(1, 13):
            serve.step(session, quarter)
        serve.apply_amount(session, "MDF budget ($ a quarter)", "0")
        for quarter in range(13, 21):
            serve.step(session, quarter)
        page.wait_for_timeout(1_000)
        page.screenshot(path=str(OUT), full_page=True)
        if session.failures or session.errors:
            raise SystemExit(f"the page met problems: {session.failures + session.errors}")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
