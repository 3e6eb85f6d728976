"""The folder `run` and `compare` write: quarters.csv, summary.csv, comparison.csv and sources.csv (compare),
partners.parquet (with the partner panel), every scenario's resolved parameters (a run's in
scenario.resolved.toml, each compared scenario's in NAME.resolved.toml), the figures and report.html.

The folder is written whole into a staging folder and swapped in by `sim.outputs.replacing`: a failure
leaves earlier results as they were. Every scenario of a comparison runs on the first one's seed and
replicates, so replicate r of each is on the same seed (common random numbers). Under K parameter draws of a
calibration (`--ensemble K`), R replicates are K*R, replicate j on draw j // R (draws.csv says which).

This module imports pandas and the report on first use: the command line imports it before it can
answer Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from sim import outputs
from sim.errors import display

if TYPE_CHECKING:
    import pandas as pd

    from sim.ensemble import Draws
    from sim.params import Scenario
    from sim.runner import Outcome
    from sim.scenarios import Loaded


def unique_names(loaded: list[Loaded]) -> list[str]:
    """Each scenario's name in the results: its own, with _2, _3, ... after the first that has it."""
    names: list[str] = []
    for item in loaded:
        name, n = item.name, 2
        while name in names:
            name, n = f"{item.name}_{n}", n + 1
        names.append(name)
    return names


def prepare_runs(loaded: list[Loaded], names: list[str]) -> list[tuple[str, Scenario]]:
    """The scenarios as they run and as their resolved files say: each on the first one's seed and
    replicates (the options are in its tree already), named as the results name it, stamped with this
    version. Returns (name, parameters) pairs for `runner.run`."""
    from sim import __version__

    first = loaded[0].params
    seed, replicates = first.run.seed, first.run.replicates
    for item, name in zip(loaded, names, strict=True):
        item.params.run.seed = seed
        item.params.run.replicates = replicates
        item.params.meta.version = __version__
        item.params.meta.name = name
    return [(name, item.params) for name, item in zip(names, loaded, strict=True)]


def resolved_name(kind: str, name: str) -> str:
    """The file a scenario's resolved parameters go to: a run's `scenario.resolved.toml`; in a comparison each
    scenario's `{name}.resolved.toml`, which cannot clash, the names in the results being unique."""
    return "scenario.resolved.toml" if kind == "run" else f"{name}.resolved.toml"


def resolved_toml(params: Scenario, command: str, note: str = "") -> str:
    """Every parameter with its value, headed by how to repeat the run (`channelsim run COMMAND`) and `note`."""
    import tomli_w

    from sim import __version__

    def plain(value):
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items() if v is not None}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    header = (f"# Every parameter of this run, as resolved by channelsim {__version__}.\n"
              f"# Repeat it exactly with: channelsim run {command}\n")
    header += "".join(f"# {line}\n" for line in note.splitlines())
    return header + tomli_w.dumps(plain(params.model_dump()))


def changes(params: Scenario) -> dict[str, str]:
    """What a scenario sets against the model's defaults (its name and run settings aside), as text."""
    from sim.params import Scenario

    defaults = Scenario().flat()
    return {path: repr(value) for path, value in params.flat().items()
            if not path.startswith(("meta.", "run.")) and defaults.get(path) != value}


@dataclass
class Written:
    """What the command says about the folder it wrote."""

    title: str
    table: pd.DataFrame  # the headline KPIs as text: the first scenario's, or each other's difference from it
    files: list[str]  # what the folder holds, as the command lists it
    window: tuple[int, int]  # the quarters the KPIs are read over
    cards: list = field(default_factory=list)  # a comparison's answer cards (sim.answers.Card), one per other
    ranking: str = ""  # with several compared scenarios, them ranked by the first one's headline KPI


# KPIs a window's table derives beside the quarterly metrics (`report.window_kpis`)
DERIVED_KPIS = ("incentive_spend", "partner_payments", "program_cost")


def kpi_names(params: Scenario) -> list[str]:
    """The KPIs a run of `params` has: its quarterly metrics (named after its verticals, rivals, instruments and
    tiers) and those a window derives from them."""
    from sim.model import metric_names

    return [*metric_names(params), *DERIVED_KPIS]


def check_answers(loaded: list[Loaded]) -> None:
    """Every scenario's `meta.kpis` names KPIs its run has; raises InputError naming the file, the value and the
    KPIs there are (before any run)."""
    from sim.errors import InputError
    from sim.tree import suggest

    problems = []
    for item in loaded:
        names = kpi_names(item.params)
        unknown = [k for k in item.params.meta.kpis if k not in names]
        if unknown:
            hints = "".join(suggest(k, names) for k in unknown)
            problems.append(f"{display(item.path)}: meta.kpis: {', '.join(map(repr, unknown))} "
                            f"{'is not a KPI' if len(unknown) == 1 else 'are not KPIs'} of this scenario{hints}; its "
                            f"KPIs are {', '.join(names)}")
    if problems:
        raise InputError(problems)


def window_of(loaded: list[Loaded], asked: tuple[int, int] | None) -> tuple[tuple[int, int], str]:
    """The quarters a run or comparison is read over, and where that came from: the one asked for (`--window`),
    else the one the first compared scenario (a run's scenario) declares for its answer card (`meta.window`) when it
    fits the horizon, else the final year. Each answer card reads its own scenario's window (`card_window`)."""
    if asked is not None:
        return asked, "--window"
    item = loaded[1] if len(loaded) > 1 else loaded[0]
    quarters = loaded[0].params.quarters
    own, declared = card_window(item, quarters), item.params.meta.span()
    if declared is not None and own != declared:
        return own, (f"the final year: meta.window {list(declared)} of {display(item.path)} lies beyond the "
                     f"{quarters} quarters run")
    return own, f"meta.window of {display(item.path)}" if declared is not None else "the final year"


def final_year(quarters: int) -> tuple[int, int]:
    return max(1, quarters - 3), quarters


def card_window(item: Loaded, quarters: int, asked: tuple[int, int] | None = None) -> tuple[int, int]:
    """The window one scenario's answer card reads: `--window`, else its `meta.window` if it fits the horizon, else
    the final year."""
    declared = item.params.meta.span()
    if asked is not None:
        return asked
    return declared if declared is not None and declared[1] <= quarters else final_year(quarters)


def runs_label(params: Scenario, draws: Draws | None = None) -> str:
    """How a scenario's replicates were run, as the notes say it: `R replicates`, or under parameter draws `R
    replicates x K parameter draws`."""
    return draws.label() if draws is not None else f"{params.run.replicates} replicates"


def draws_table(draws: Draws, seed: int) -> pd.DataFrame:
    """What each replicate ran under `--ensemble`: replicate j, its draw of the ensemble, its seed and the draw's
    value of every fitted parameter (the same in every scenario)."""
    import pandas as pd

    from sim.runner import replicate_seed

    return pd.DataFrame([{"replicate": j, "draw": draws.numbers[j // draws.replicates], "seed": replicate_seed(seed, j),
                          **draws.overrides[j // draws.replicates]} for j in range(draws.units)])


def write(out: Path, kind: str, loaded: list[Loaded], names: list[str], outcomes: dict[str, Outcome],
          window: tuple[int, int] | None = None, marginal: dict[str, pd.DataFrame] | None = None,
          asked: tuple[int, int] | None = None, draws: Draws | None = None) -> Written:
    """Write a run's (`kind` "run") or a comparison's ("compare": each scenario against the first) results
    folder from the outcomes of `runner.run`, read over `window` (default: as `window_of` says), its replicates
    run under `draws` when given (`--ensemble`); replaces earlier results only once the new ones are complete."""
    import html

    import pandas as pd

    from sim import __version__, answers, cohorts, report, responders

    compare = kind == "compare"
    first = loaded[0].params
    window = window or window_of(loaded, None)[0]
    marginal = marginal or {}
    base, others = names[0], names[1:]
    quarters = pd.concat([outcomes[n].quarters for n in names], ignore_index=True)
    panels = [outcomes[n].partners for n in names if outcomes[n].partners is not None]
    panel = pd.concat(panels, ignore_index=True) if panels else None
    recruits = pd.concat([outcomes[n].recruits for n in names if outcomes[n].recruits is not None],
                         ignore_index=True)
    final = report.window_kpis(quarters, window)
    summary = report.summary(final)
    per_cohort = cohorts.table(recruits)
    compared = report.comparison(final, base, others) if compare else None
    title = f"{', '.join(others)} against {base}" if compare else f"{base}: {first.meta.title}"
    figs = report.figures(quarters, first.vendor.tiers.names)
    tables = {"quarters": quarters, "summary": summary}
    cards = []
    if compare:
        kpis = list(dict.fromkeys(k for item in loaded[1:] for k in item.params.meta.kpis))
        diffs = report.differences(quarters, base, others)
        sources = report.sources(compared)
        cohort_changes = cohorts.comparison(per_cohort, base, others)
        tables |= {"comparison": compared, "sources": sources, "differences": diffs, "cohorts": cohort_changes}
        plotted = [k for k in kpis if k in set(diffs["kpi"])] or ["revenue"]  # (a derived KPI has no quarters)
        figs["differences"] = report.difference_figure(diffs, plotted, window)
        moved = None
        if panel is not None:
            moved = responders.responders(panel, base, others, window)
            tables["responders"] = moved
            figs["responders"] = responders.figure(moved, "revenue")
        if marginal:
            tables["marginal"] = pd.concat([t.assign(scenario=n) for n, t in marginal.items()], ignore_index=True)
        for name, item in zip(others, loaded[1:], strict=True):
            meta = item.params.meta
            own = card_window(item, first.quarters, asked)
            if own == window:
                own_compared, own_sources, own_moved = compared, sources, moved
            else:  # this scenario's answer reads its own window
                own_compared = report.comparison(report.window_kpis(quarters, own), base, [name])
                own_sources = report.sources(own_compared)
                own_moved = responders.responders(panel, base, [name], own) if panel is not None else None
            evidence = answers.evidence(name, meta, diffs, own, cohort_changes, own_moved, marginal.get(name))
            first_change = report.first_difference(diffs, name)
            own_recruits = None
            if meta.cohorts and first_change is not None:
                mine = recruits[recruits["scenario"].isin([base, name])]
                own_recruits = cohorts.comparison(cohorts.since(mine, first_change), base, [name])
            cards.append(answers.card(name, meta, own, own_compared, own_sources, evidence, own_recruits))
    else:
        tables["cohorts"] = per_cohort
    if draws is not None:
        tables["draws"] = draws_table(draws, first.run.seed)
    if not recruits.empty:
        figs["cohorts"] = cohorts.figure(cohorts.curves(recruits))
    ranking = (answers.ranking(compared, others, loaded[1].params.meta.kpis[0], window)
               if compare and len(others) > 1 else "")
    with outputs.replacing(out, kind) as folder:
        if cards:
            tables["answers"] = pd.DataFrame([{"scenario": c.scenario, "first_quarter": c.window[0],
                                               "last_quarter": c.window[1], "question": c.question,
                                               "answer": c.sentence, "evidence": "\n".join(c.evidence)}
                                              for c in cards])
        for name, frame in tables.items():
            frame.to_csv(folder / f"{name}.csv", index=False)
        if panel is not None:
            panel.to_parquet(folder / "partners.parquet", index=False)
        ensemble = f" --ensemble {draws.k}" if draws is not None else ""
        drawn = (f"Its replicates ran as {draws.label()} of {draws.path}:\nreplicate j = 0..{draws.units - 1} "
                 f"under draw j // {draws.replicates} of those chosen ({', '.join(map(str, draws.numbers))}; "
                 "draws.csv), each on its own seed." if draws is not None else "")
        for name, item in zip(names, loaded, strict=True):
            filename = resolved_name(kind, name)
            again = f"{display(out)}/{filename}{ensemble} --out {display(out)}-again"
            (folder / filename).write_text(resolved_toml(item.params, again, drawn), encoding="utf-8")
        images = report.save_figures(figs, folder)
        described = [{"name": n, "title": i.params.meta.title, "question": i.params.meta.question,
                      "files": " <- ".join(display(p) for p in reversed(i.chain)), "changes": changes(i.params)}
                     for n, i in zip(names, loaded, strict=True)]
        note = (f"channelsim {__version__}; base seed {first.run.seed}; {runs_label(first, draws)} x "
                f"{first.quarters} quarters per scenario; replicate r of every scenario runs on the same seed"
                + (f" and the same parameter draw of {display(draws.path)} (replicate r under draw r // "
                   f"{draws.replicates} of the {draws.k} chosen, draws.csv), so the intervals carry the "
                   "calibration's uncertainty as well as the seed noise" if draws is not None else "")
                + f"; KPIs read over {report.window_label(window)}.")
        extra = report.extra_sections(tables)
        for name, table in marginal.items():
            from sim.marginal import render

            extra.append(f"<h2>The next unit's return in {html.escape(name)} (paired perturbation)</h2><p "
                         "class='note'>A small extra given to one group of partners at a time, on the same seeds: "
                         "revenue and vendor contribution per extra unit over the window, beside the average over "
                         f"the partners who already get it (marginal.csv).</p><pre>{html.escape(render(table))}</pre>")
        shown = ([f"<div class='card'><h2>Ranked</h2><p class='answer'>{html.escape(ranking)}</p></div>"]
                 if ranking else [])
        report.write_page(folder / "report.html", title, described, summary, images, compared, note, window=window,
                          cards=shown + [c.html() for c in cards], extra=extra)
    table = report.kpi_table(compared, "difference") if compare else report.kpi_table(summary, "mean")
    files = ["report.html", *(f"{name}.csv" for name in tables), *(["partners.parquet"] if panel is not None else []),
             "figures"]
    return Written(title, table, files, window, cards, ranking)
