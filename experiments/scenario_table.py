"""Regenerate the README's table of scenario results: every shipped scenario against the baseline.

    .venv/bin/python experiments/scenario_table.py            # rewrite the table in README.md
    .venv/bin/python experiments/scenario_table.py --check    # print it, change nothing

It runs what `channelsim compare scenarios/baseline.toml scenarios/X.toml` runs for every X (the
baseline's seed and replicates, common random numbers) and writes the final-year differences
with their 95 % intervals between the README's scenario-table markers. A second table puts the
rival-attack defences against the undefended attack.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pandas as pd

from sim import report, runner, scenarios

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- scenario-table:start -->", "<!-- scenario-table:end -->"


def money(value: float) -> str:
    return f"{value / 1e6:+,.1f}M"


def cell(row: pd.Series, kind: str) -> str:
    fmt = {"money": money, "points": lambda v: f"{100 * v:+.1f} pts", "ratio": lambda v: f"{v:+,.2f}"}[kind]
    if pd.isna(row["difference"]):
        return "–"
    if pd.isna(row["ci_low"]) or pd.isna(row["ci_high"]):  # an interval left open (a cost change near zero)
        return f"{fmt(row['difference'])} [open]"
    return f"{fmt(row['difference'])} [{fmt(row['ci_low'])}, {fmt(row['ci_high'])}]"


def table(base_path: Path, others: list[Path], workers: int) -> str:
    base = scenarios.load(base_path)
    loaded = [scenarios.load(p) for p in others]
    params = base.params
    runs = [(base.name, params), *[(item.name, item.params) for item in loaded]]
    outcomes = runner.run(runs, params.run.replicates, params.run.seed, workers=workers)
    quarters = pd.concat([outcomes[name].quarters for name, _ in runs], ignore_index=True)
    compared = report.comparison(report.final_year(quarters), base.name, [item.name for item in loaded])
    # transient effects (a SPIF window) show in the whole run rather than in its final year
    totals = quarters.groupby(["scenario", "replicate"])["revenue"].sum().unstack(0)
    lines = ["| scenario | what it changes | revenue, whole run | revenue, final year | mindshare | programme cost "
             "| contribution | incentive ROI | attrition |", "|---|---|---|---|---|---|---|---|---|"]
    for item in loaded:
        rows = compared[compared["scenario"] == item.name].set_index("kpi")
        mean, low, high, _ = report.interval((totals[item.name] - totals[base.name]).to_numpy())
        whole = pd.Series({"difference": mean, "ci_low": low, "ci_high": high})
        lines.append(f"| `{item.path.name}` | {item.params.meta.title} | {cell(whole, 'money')} | "
                     f"{cell(rows.loc['revenue'], 'money')} | "
                     f"{cell(rows.loc['mindshare'], 'points')} | {cell(rows.loc['program_cost'], 'money')} | "
                     f"{cell(rows.loc['vendor_contribution'], 'money')} | {cell(rows.loc['incentive_roi'], 'ratio')} | "
                     f"{cell(rows.loc['attrition'], 'points')} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="print the tables without rewriting README.md")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    library = ROOT / "scenarios"
    skip = {"baseline.toml", "roster_example.toml"}
    shipped = sorted(p for p in library.glob("*.toml") if p.name not in skip)
    defences = [p for p in shipped if p.name.startswith("rival_attack_defend_")]
    main_table = table(library / "baseline.toml", [p for p in shipped if p not in defences], args.workers)
    defence_table = table(library / "rival_attack.toml", defences, args.workers)
    params = scenarios.load(library / "baseline.toml").params
    text = (f"{START}\nAgainst `baseline.toml` ({params.run.replicates} replicates x {params.quarters} quarters, "
            f"seed {params.run.seed}, common random numbers; final-year differences with 95 % intervals):\n\n"
            f"{main_table}\n\nThe defences of question 9 against the undefended attack (`rival_attack.toml`):\n\n"
            f"{defence_table}\n{END}")
    print(text)
    if not args.check:
        readme = ROOT / "README.md"
        content = readme.read_text()
        if START not in content:
            raise SystemExit(f"README.md has no {START} marker")
        readme.write_text(re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: text, content, flags=re.S))


if __name__ == "__main__":
    main()
