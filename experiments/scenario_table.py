"""Regenerate the README's table of scenario results: each strategist question's answer card headline.

    .venv/bin/python experiments/scenario_table.py            # rewrite the table in README.md
    .venv/bin/python experiments/scenario_table.py --check    # print it, change nothing

For every shipped scenario X it runs what `channelsim compare scenarios/baseline.toml scenarios/X.toml` runs
(the baseline's seed and replicates, common random numbers) and writes the first sentence of X's answer card:
its KPIs over its window, with 95 % intervals, where its mindshare came from, the programme cost and the
incentive return. A second table puts the rival-attack defences against the undefended attack.
"""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pandas as pd

from sim import answers, cohorts, report, results, runner, scenarios

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- scenario-table:start -->", "<!-- scenario-table:end -->"


def table(base_path: Path, others: list[Path], workers: int) -> str:
    base = scenarios.load(base_path)
    loaded = [scenarios.load(p) for p in others]
    params = base.params
    runs = [(base.name, params), *[(item.name, item.params) for item in loaded]]
    outcomes = runner.run(runs, params.run.replicates, params.run.seed, workers=workers)
    quarters = pd.concat([outcomes[name].quarters for name, _ in runs], ignore_index=True)
    end = params.quarters
    lines = ["| question | scenario | the answer card's headline |", "|---|---|---|"]
    for item in sorted(loaded, key=lambda i: (i.params.meta.answers or 99, i.path.name)):
        meta = item.params.meta
        window = results.card_window(item, end)
        compared = report.comparison(report.window_kpis(quarters, window), base.name, [item.name])
        recruits = None
        if meta.cohorts:  # the recruits since the scenario first differs, as compare's card has them
            first = report.first_difference(report.differences(quarters, base.name, [item.name]), item.name)
            logs = pd.concat([outcomes[n].recruits for n in (base.name, item.name)], ignore_index=True)
            recruits = cohorts.comparison(cohorts.since(logs, first), base.name, [item.name])
        card = answers.card(item.name, meta, window, compared, report.sources(compared), recruits=recruits)
        lines.append(f"| {meta.answers} | `{item.path.name}`: {meta.title} | {card.sentence} |")
    if len(loaded) > 1 and len({item.params.meta.answers for item in loaded}) == 1:  # variants of one question
        window = results.final_year(end)
        compared = report.comparison(report.window_kpis(quarters, window), base.name, [i.name for i in loaded])
        lines += ["", answers.ranking(compared, [i.name for i in loaded], loaded[0].params.meta.kpis[0], window)]
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
            f"seed {params.run.seed}, common random numbers; each scenario's KPIs over its window, default the final "
            "year, with 95 % intervals):\n\n"
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
