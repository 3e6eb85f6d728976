"""The folder `run` and `compare` write: quarters.csv, summary.csv, comparison.csv and sources.csv (compare),
partners.parquet (with the partner panel), every scenario's resolved parameters (a run's in
scenario.resolved.toml, each compared scenario's in NAME.resolved.toml), the figures and report.html.

The folder is written whole into a staging folder and swapped in by `sim.outputs.replacing`: a failure
leaves earlier results as they were. Every scenario of a comparison runs on the first one's seed and
replicates, so replicate r of each is on the same seed (common random numbers).

This module imports pandas and the report on first use: the command line imports it before it can
answer Ctrl-C.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sim import outputs
from sim.errors import display

if TYPE_CHECKING:
    import pandas as pd

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


def resolved_toml(params: Scenario, command: str) -> str:
    """Every parameter with its value, headed by how to repeat the run (`channelsim run COMMAND`)."""
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


def write(out: Path, kind: str, loaded: list[Loaded], names: list[str], outcomes: dict[str, Outcome]) -> Written:
    """Write a run's (`kind` "run") or a comparison's ("compare": each scenario against the first) results
    folder from the outcomes of `runner.run`; replaces earlier results only once the new ones are complete."""
    import pandas as pd

    from sim import __version__, report

    compare = kind == "compare"
    first = loaded[0].params
    quarters = pd.concat([outcomes[n].quarters for n in names], ignore_index=True)
    panels = [outcomes[n].partners for n in names if outcomes[n].partners is not None]
    final = report.final_year(quarters)
    summary = report.summary(final)
    compared = report.comparison(final, names[0], names[1:]) if compare else None
    title = f"{names[0]} against {', '.join(names[1:])}" if compare else f"{names[0]}: {first.meta.title}"
    with outputs.replacing(out, kind) as folder:
        quarters.to_csv(folder / "quarters.csv", index=False)
        summary.to_csv(folder / "summary.csv", index=False)
        if compared is not None:
            compared.to_csv(folder / "comparison.csv", index=False)
            report.sources(compared).to_csv(folder / "sources.csv", index=False)
        if panels:
            pd.concat(panels, ignore_index=True).to_parquet(folder / "partners.parquet", index=False)
        for name, item in zip(names, loaded, strict=True):
            filename = resolved_name(kind, name)
            again = f"{display(out)}/{filename} --out {display(out)}-again"
            (folder / filename).write_text(resolved_toml(item.params, again), encoding="utf-8")
        images = report.save_figures(report.figures(quarters, first.vendor.tiers.names), folder)
        described = [{"name": n, "title": i.params.meta.title, "question": i.params.meta.question,
                      "files": " <- ".join(display(p) for p in reversed(i.chain)), "changes": changes(i.params)}
                     for n, i in zip(names, loaded, strict=True)]
        note = (f"channelsim {__version__}; base seed {first.run.seed}; {first.run.replicates} replicates x "
                f"{first.quarters} quarters per scenario; replicate r of every scenario runs on the same seed.")
        report.write_page(folder / "report.html", title, described, summary, images, compared, note)
    table = report.kpi_table(compared, "difference") if compare else report.kpi_table(summary, "mean")
    files = ["report.html", "quarters.csv", "summary.csv", *(["comparison.csv", "sources.csv"] if compare else []),
             *(["partners.parquet"] if panels else []), "figures"]
    return Written(title, table, files)
