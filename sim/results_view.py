"""Read a results folder and show it in the browser: what `run`, `compare`, `sweep` and `calibrate` wrote, as
interactive charts and sortable tables, from the files alone.

    read_results(folder)    the folder's kind, title and tables (ResultsError, one message, for anything else)
    ResultsView(folder)     the Solara component that shows it
    result_folders(root)    the results folders directly under `root`, for a picker

A folder's kind is told from the names of the files it holds (`kind_of`): a calibration writes
calibration.json, a sweep experiment.json, a run scenario.resolved.toml, a comparison NAME.resolved.toml
beside differences.csv (or comparison.csv, sources.csv, answers.csv); failing those, its `.channelsim`
marker says. Nothing is run and nothing is written: a folder is read as it is, and a file it lacks or
that does not parse is said, by name, instead of shown.

The charts draw what the report's figures draw (sim.report, sim.analysis, sim.calibration_report), as
ECharts: a mean with its 95 % band is three line series, the band's lower edge and its width stacked
(`stackStrategy: "all"`, so a band below zero stacks right), both named "NAME: 95 % band" so that one
legend entry toggles the band and the hover shows its two edges (each series' tooltip is the edge, not
the stacked width). Values are sent rounded to six significant figures.
"""

from __future__ import annotations

import html
import json
import math
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import reacton.ipyvuetify as rv
import solara

from sim.errors import display, first_line
from sim.outputs import MARKER
from sim.report import COLOURS, HEADLINE, SHOWN, SOURCE_NAMES, half_width, kind, number

KINDS = ("run", "compare", "sweep", "calibrate")
CHART_STYLE = {"style": "height: 300px; width: 100%;"}  # every chart's box, here and in sim.app
COMPARED_FILES = {"differences.csv", "comparison.csv", "sources.csv", "answers.csv"}
SWEEP_IDS = ("run", "point", "replicate", "seed")  # final.parquet's columns that are not outcomes
FIGURES = 6  # significant figures of a value sent to a chart
TABLE_FIGURES = 4  # and shown in a table (numbers still, so that a column sorts by value)


class ResultsError(Exception):
    """A folder that cannot be shown: missing, of no kind channelsim writes, or damaged. One message for people,
    naming the folder or file and what is wrong."""


@dataclass
class Results:
    """One results folder as read: its kind ("run", "compare", "sweep", "calibrate"), title and tables (`frames`,
    by the name of the file each comes from, without its suffix); `texts` holds what the reports say in words
    (a question, a ranking, the goodness of fit), `info` a sweep's or a calibration's own record."""

    kind: str
    title: str
    folder: Path
    frames: dict[str, pd.DataFrame]
    texts: dict[str, str] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- which kind of folder


def kind_by_names(names: set[str]) -> str | None:
    """The kind of results a folder holding files of these names is, from the files each command always writes;
    None for none."""
    if "calibration.json" in names:
        return "calibrate"
    if "experiment.json" in names:
        return "sweep"
    if "scenario.resolved.toml" in names:
        return "run"
    if names & COMPARED_FILES and any(n.endswith(".resolved.toml") for n in names):
        return "compare"
    return None


def _names(folder: Path) -> set[str]:
    return {item.name for item in folder.iterdir()}


def kind_of(folder: Path) -> str | None:
    """The kind of results `folder` holds, by its files' names alone (cheap: nothing is opened); None for a folder
    of none of the four kinds, or one that cannot be read."""
    try:
        return kind_by_names(_names(folder)) if folder.is_dir() else None
    except OSError:
        return None


def result_folders(root: Path) -> list[Path]:
    """The results folders directly under `root` (one level, by name), skipping anything of none of the four kinds
    and hidden folders (a staging folder being written)."""
    try:
        children = sorted(root.iterdir())
    except OSError:
        return []
    return [child for child in children if not child.name.startswith(".") and kind_of(child) is not None]


def _marked_kind(folder: Path) -> str | None:
    """What the folder's `.channelsim` marker says it holds, if it has a readable one."""
    try:
        data = json.loads((folder / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data.get("kind") if isinstance(data, dict) and isinstance(data.get("kind"), str) else None


# --------------------------------------------------------------------------- reading files, each problem said


AGAIN = {"run": "run the command again to write the folder whole",
         "compare": "run the command again to write the folder whole",
         "sweep": "`channelsim sweep EXPERIMENT --out DIR --resume` writes it again",
         "calibrate": "`channelsim calibrate CALIBRATION --out DIR --resume` finishes the calibration and writes it"}


def _path(folder: Path, name: str, what: str, optional: bool) -> Path | None:
    path = folder / name
    if path.is_file():
        return path
    if optional:
        return None
    state = "is not a file" if path.exists() else "is missing"
    raise ResultsError(f"{display(folder)}: {name} {state}, so these {what} results are incomplete or damaged "
                       f"({AGAIN[what]})")


def _checked(frame: pd.DataFrame, path: Path, columns: tuple[str, ...], numbers: tuple[str, ...]) -> pd.DataFrame:
    lacking = [c for c in columns if c not in frame.columns]
    if lacking:
        held = ", ".join(map(str, frame.columns))
        held = held if len(held) <= 120 else held[:117] + "..."
        raise ResultsError(f"{display(path)}: has no column {lacking[0]!r} (its columns: {held}); the file is damaged "
                           "or not channelsim's")
    for column in numbers:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = frame.index[values.isna() & frame[column].notna()]
            if len(bad):
                raise ResultsError(f"{display(path)}: column {column!r} holds {str(frame.loc[bad[0], column])[:40]!r}"
                                   f" (row {bad[0] + 1}), not a number; the file is damaged")
            frame[column] = values
    return frame


def read_csv(folder: Path, name: str, what: str, columns: tuple[str, ...] = (), numbers: tuple[str, ...] = (),
             optional: bool = False) -> pd.DataFrame | None:
    """A table of the folder, with these columns (`numbers` numeric) and a row at least (unless `optional`);
    ResultsError naming the file if it is missing (unless `optional`: None), does not parse or lacks one."""
    path = _path(folder, name, what, optional)
    if path is None:
        return None
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as error:  # pandas' parser, empty-data and decoding errors are ValueErrors
        raise ResultsError(f"{display(path)}: cannot be read as a table ({first_line(error)}); the file is "
                           "damaged") from None
    if frame.empty and not optional:
        raise ResultsError(f"{display(path)}: holds no rows; the file is damaged ({AGAIN[what]})")
    if not _ends_a_line(path):  # every table channelsim writes ends with its last row's newline
        raise ResultsError(f"{display(path)}: its last row is cut off part-way; the file is damaged ({AGAIN[what]})")
    return _checked(frame, path, (*columns, *numbers), numbers)


def _ends_a_line(path: Path) -> bool:
    with path.open("rb") as file:
        file.seek(0, 2)
        if file.tell() == 0:
            return True
        file.seek(-1, 2)
        return file.read(1) == b"\n"


def read_json(folder: Path, name: str, what: str) -> dict[str, Any]:
    path = _path(folder, name, what, optional=False)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{display(path)}: cannot be read as JSON ({first_line(error)}); the file is "
                           "damaged") from None
    if not isinstance(data, dict):
        raise ResultsError(f"{display(path)}: not a record channelsim writes (not a JSON object); the file is damaged")
    return data


def read_toml(folder: Path, name: str, what: str) -> dict[str, Any]:
    path = _path(folder, name, what, optional=False)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ResultsError(f"{display(path)}: cannot be read as TOML ({first_line(error)}); the file is "
                           "damaged") from None


def read_said(folder: Path, name: str, pattern: str) -> str:
    """What a report page says where `pattern` (a regular expression, its group the text) matches, as plain text;
    "" when the page or the passage is not there."""
    try:
        page = (folder / name).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    found = re.search(pattern, page, re.DOTALL)
    return html.unescape(re.sub(r"<[^>]+>", "", found.group(1))).strip() if found else ""


def _meta(params: dict[str, Any]) -> dict[str, Any]:
    meta = params.get("meta")
    return meta if isinstance(meta, dict) else {}


# --------------------------------------------------------------------------- each kind


QUARTER_IDS = ("replicate", "quarter")
DIFFERENCE_COLUMNS = ("scenario", "kpi")
DIFFERENCE_NUMBERS = ("quarter", "base", "value", "difference", "ci_low", "ci_high")
ANSWER_COLUMNS = ("scenario", "question", "answer", "evidence")
ANSWER_NUMBERS = ("first_quarter", "last_quarter")


def _answers(folder: Path, what: str, optional: bool) -> pd.DataFrame | None:
    answers = read_csv(folder, "answers.csv", what, ANSWER_COLUMNS, ANSWER_NUMBERS, optional=optional)
    if answers is not None:
        answers[["question", "evidence"]] = answers[["question", "evidence"]].fillna("")
    return answers


def _read_run(folder: Path) -> Results:
    params = read_toml(folder, "scenario.resolved.toml", "run")
    meta = _meta(params)
    quarters = read_csv(folder, "quarters.csv", "run", ("scenario",), (*QUARTER_IDS, "revenue", "mindshare"))
    summary = read_csv(folder, "summary.csv", "run", ("scenario", "kpi"), ("mean", "ci_low", "ci_high"))
    frames = {"quarters": quarters, "summary": summary}
    answers = _answers(folder, "run", optional=True)
    if answers is not None:
        frames["answers"] = answers
    name = meta.get("name") or (str(quarters["scenario"].iloc[0]) if len(quarters) else "run")
    tiers = params.get("vendor", {}).get("tiers", {}).get("names", [])
    texts = {"question": str(meta.get("question") or ""),
             "window": read_said(folder, "report.html", r"<h2>KPIs, (.*?)</h2>")}
    return Results("run", f"{name}: {meta.get('title') or 'a run'}", folder, frames, texts,
                   {"tiers": [str(t) for t in tiers] if isinstance(tiers, list) else []})


def _read_compare(folder: Path) -> Results:
    what = "compare"
    differences = read_csv(folder, "differences.csv", what, DIFFERENCE_COLUMNS, DIFFERENCE_NUMBERS)
    comparison = read_csv(folder, "comparison.csv", what, ("scenario", "kpi"),
                          ("base", "value", "difference", "ci_low", "ci_high"))
    sources = read_csv(folder, "sources.csv", what, ("scenario", "measure", "source"),
                       ("difference", "ci_low", "ci_high"))
    answers = _answers(folder, what, optional=False)
    frames = {"differences": differences, "comparison": comparison, "sources": sources, "answers": answers}
    responders = read_csv(folder, "responders.csv", what, ("scenario", "dimension", "group", "measure"),
                          ("partners", "base", "difference", "ci_low", "ci_high", "relative"), optional=True)
    if responders is not None and not responders.empty:
        responders["group"] = responders["group"].astype(str)
        frames["responders"] = responders
    others = list(dict.fromkeys([*answers["scenario"].astype(str), *differences["scenario"].astype(str)]))
    resolved = sorted(p.name for p in folder.glob("*.resolved.toml"))
    metas = {name.removesuffix(".resolved.toml"): _meta(read_toml(folder, name, what)) for name in resolved}
    bases = [name for name in metas if name not in others]
    base = bases[0] if len(bases) == 1 else "the base"
    kpis = [k for name in others for k in metas.get(name, {}).get("kpis", []) if isinstance(k, str)]
    texts = {"base": base, "ranking": read_said(folder, "report.html", r"<h2>Ranked</h2><p class='answer'>(.*?)</p>"),
             "question": ""}
    return Results(what, f"{', '.join(others)} against {base}", folder, frames, texts, {"kpis": kpis})


def _read_sweep(folder: Path) -> Results:
    from sim import analysis
    from sim.sweep import SweepError

    try:
        info, final, design = analysis.load(folder)
        missing = analysis.describe_missing(analysis.missing_runs(folder, info, final, design))
    except SweepError as error:
        raise ResultsError(str(error)) from None
    parameters = [str(p) for p in info["parameters"]]
    if not parameters:
        raise ResultsError(f"{display(folder / 'experiment.json')}: names no swept parameter; the file is damaged")
    outcomes = [c for c in final.columns if c not in (*SWEEP_IDS, *parameters) and pd.api.types.is_numeric_dtype(
        final[c]) and not pd.api.types.is_bool_dtype(final[c])]
    chosen = [k for k in [*(info.get("kpis") or []), *analysis.DEFAULT_KPIS] if k in outcomes]
    frames = {"final": final, "design": design}
    design_kind = str(info["design"])
    indices = None
    if design_kind in ("sobol", "morris"):
        measures = ("S1", "S1_conf", "ST", "ST_conf") if design_kind == "sobol" else ("mu_star", "mu_star_conf",
                                                                                      "sigma")
        indices = read_csv(folder / "analysis", f"{design_kind}.csv", "sweep", ("kpi", "parameter"), measures,
                           optional=True)
    if indices is not None:
        frames["indices"] = indices
    texts = {"question": str(info.get("question") or ""), "missing": missing}
    record = {"parameters": parameters, "design": design_kind, "outcomes": list(dict.fromkeys([*chosen, *outcomes])),
              "runs": info["runs"], "replicates": info["replicates"]}
    return Results("sweep", str(info.get("title") or info["experiment"]), folder, frames, texts, record)


FIT_NUMBERS = ("quarter", "observed", "model", "low", "high", "low_all", "high_all")
VERDICT_NUMBERS = ("low", "high", "best", "ensemble_low", "ensemble_high", "profile_low", "profile_high")


def _read_calibrate(folder: Path) -> Results:
    what = "calibrate"
    record = read_json(folder, "calibration.json", what)
    spec = record.get("spec") if isinstance(record.get("spec"), dict) else {}
    meta = spec.get("meta") if isinstance(spec.get("meta"), dict) else {}
    setup = spec.get("calibration") if isinstance(spec.get("calibration"), dict) else {}
    fit = read_csv(folder, "fit.csv", what, ("target",), FIT_NUMBERS)
    fit["target"] = fit["target"].astype(str)
    verdicts = read_csv(folder, "verdicts.csv", what, ("parameter", "verdict"), VERDICT_NUMBERS)
    frames = {"fit": fit, "verdicts": verdicts}
    holdout = read_csv(folder, "holdout.csv", what, ("target", "in_band", "better"),
                       ("quarters", "model_error", "naive_error"), optional=True)
    if holdout is not None:
        frames["holdout"] = holdout
    ensemble = read_csv(folder, "ensemble.csv", what, (), ("trial", "mismatch"), optional=True)
    if ensemble is not None:
        frames["ensemble"] = ensemble
    texts = {"question": str(meta.get("question") or ""),
             "goodness": read_said(folder, "fit.html", r"<p class='answer'>(.*?)</p>")}
    held = setup.get("holdout")
    info = {"holdout": held if isinstance(held, list) and held and all(isinstance(q, int) for q in held) else None,
            "replicates": setup.get("replicates"), "check": setup.get("check")}
    title = f"{meta.get('title') or record.get('calibration') or 'A calibration'}: calibration"
    return Results(what, title, folder, frames, texts, info)


READERS: dict[str, Callable[[Path], Results]] = {"run": _read_run, "compare": _read_compare, "sweep": _read_sweep,
                                                 "calibrate": _read_calibrate}


def read_results(folder: Path) -> Results:
    """The results `folder` holds, read from its files alone (nothing run, nothing written). ResultsError, with one
    message naming the folder or file, for a folder that is missing, of none of the four kinds, or damaged."""
    folder = Path(folder)
    shown = display(folder)
    if not folder.exists():
        raise ResultsError(f"{shown}: no such folder")
    if not folder.is_dir():
        raise ResultsError(f"{shown}: a file, not a results folder")
    try:
        names = _names(folder)
    except OSError as error:
        raise ResultsError(f"{shown}: cannot be read ({error.strerror or first_line(error)})") from None
    what = kind_by_names(names) or _marked_kind(folder)
    if what == "analysis":
        raise ResultsError(f"{shown}: a sweep's analysis (channelsim analyze writes it inside the sweep's folder); "
                           f"open the sweep itself, {display(folder.parent)}")
    if what not in KINDS:
        held = "is empty" if not names else f"holds {len(names)} entr{'y' if len(names) == 1 else 'ies'}"
        raise ResultsError(f"{shown}: not a channelsim results folder: it {held}, none of what run "
                           "(scenario.resolved.toml), compare (NAME.resolved.toml and differences.csv), sweep "
                           "(experiment.json) or calibrate (calibration.json) write")
    try:
        return READERS[what](folder)
    except ResultsError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as error:  # damaged unforeseeably
        raise ResultsError(f"{shown}: these {what} results cannot be read ({first_line(error, named=True)}); a "
                           "file is damaged") from None


# --------------------------------------------------------------------------- chart options


def value(x: Any, scale: float = 1.0, figures: int = FIGURES) -> float | None:
    """A number as a chart or table is sent it: divided by `scale`, to `figures` significant figures; None (a gap)
    for none or not finite (JSON has no NaN)."""
    try:
        v = float(x) / scale
    except (TypeError, ValueError):
        return None
    return float(f"{v:.{figures}g}") if math.isfinite(v) else None


def tick(x: Any) -> str:
    """A parameter's or quarter's value as an axis labels it."""
    if isinstance(x, bool | np.bool_):
        return str(x).lower()
    if isinstance(x, int | float | np.number):
        return f"{float(x):g}"
    return str(x)


def chart_option(title: str, categories: list, series: list[dict], y_name: str, x_name: str = "quarter",
                 **extra: Any) -> dict:
    """An ECharts option over a category axis, as the app's charts are laid out: hover for the values at a
    category, a legend whose entries toggle their series."""
    return {
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24, "type": "scroll"},
        "grid": {"top": 70, "left": 70, "right": 20, "bottom": 45},
        "xAxis": {"type": "category", "data": [tick(c) for c in categories], "name": x_name,
                  "nameLocation": "middle", "nameGap": 28},
        "yAxis": {"type": "value", "name": y_name, "scale": True},
        "series": series,
        **extra,
    }


def band_series(name: str, mean: list, low: list, high: list, colour: str, scale: float = 1.0,
                dashed: bool = False) -> list[dict]:
    """A mean line and its band, aligned to the chart's categories: the band's lower edge and its width stacked,
    both named "NAME: 95 % band" (one legend entry, the edges on hover), then the mean named NAME."""
    low = [value(v, scale) for v in low]
    high = [value(v, scale) for v in high]
    edge = {"type": "line", "name": f"{name}: 95 % band", "stack": f"band {name}", "stackStrategy": "all",
            "showSymbol": False, "lineStyle": {"opacity": 0}, "color": colour,
            "encode": {"x": 0, "y": 1, "tooltip": [2]}}
    lower = [[i, lo, lo] if lo is not None and hi is not None else [i, None, None]
             for i, (lo, hi) in enumerate(zip(low, high, strict=True))]
    width = [[i, hi - lo, hi] if lo is not None and hi is not None else [i, None, None]
             for i, (lo, hi) in enumerate(zip(low, high, strict=True))]
    line = {"type": "line", "name": name, "data": [value(v, scale) for v in mean], "showSymbol": False,
            "color": colour, "lineStyle": {"width": 2, **({"type": "dashed"} if dashed else {})}}
    return [{**edge, "data": lower}, {**edge, "data": width, "areaStyle": {"opacity": 0.18}}, line]


def replicate_band(quarters: pd.DataFrame, column: str) -> tuple[list[int], pd.Series, pd.Series, pd.Series]:
    """A quarterly metric's mean across replicates and its 95 % band, quarter by quarter (as report.figures)."""
    by_quarter = quarters.groupby("quarter")[column]
    mean = by_quarter.mean()
    half = half_width(by_quarter.std(ddof=1).fillna(0.0), by_quarter.count())
    return [int(q) for q in mean.index], mean, mean - half, mean + half


def quarterly_chart(quarters: pd.DataFrame, title: str, lines: list[tuple[str, str, str]], y_name: str,
                    scale: float = 1.0) -> dict:
    """Bands across replicates of quarterly metrics: `lines` are (label, scenario, column), each its own colour by
    column and dashed by scenario after the first."""
    names = list(dict.fromkeys(quarters["scenario"]))
    axis = sorted({int(q) for q in quarters["quarter"]})
    columns = list(dict.fromkeys(column for _, _, column in lines))
    series = []
    for label, scenario, column in lines:
        rows = quarters[quarters["scenario"] == scenario]
        if column not in rows or rows.empty:
            continue
        at, mean, low, high = replicate_band(rows, column)
        where = {q: i for i, q in enumerate(at)}
        aligned = [[series_[where[q]] if q in where else np.nan for q in axis] for series_ in
                   (mean.to_numpy(), low.to_numpy(), high.to_numpy())]
        series += band_series(label, *aligned, COLOURS[columns.index(column) % len(COLOURS)], scale,
                              dashed=names.index(scenario) > 0)
    return chart_option(title, axis, series, y_name)


def run_charts(quarters: pd.DataFrame, tiers: list[str]) -> list[dict]:
    """The report's figures (report.figures): revenue, mindshare against each rival, spend by instrument, partners
    by tier, and recruits, exits and terminations; each a line per scenario with its 95 % band across replicates."""
    names = list(dict.fromkeys(quarters["scenario"]))
    several = len(names) > 1
    prefix = (lambda name: f"{name}: ") if several else (lambda name: "")
    columns = set(quarters.columns)
    rivals = [c for c in quarters.columns if c.startswith("mindshare_") and c != "mindshare_services"]
    instruments = [c for c in quarters.columns if c.startswith("spend_") and c not in ("spend_total",
                                                                                      "spend_pct_revenue")]
    tiers = [t for t in tiers if f"partners_{t}" in columns] or [c.removeprefix("partners_") for c in quarters.columns
                                                                 if c.startswith("partners_")]
    flows = [f for f in ("recruits", "exits", "terminations") if f in columns]
    return [
        quarterly_chart(quarters, "Partner-sourced revenue (mean and 95 % band across replicates)",
                        [(name, name, "revenue") for name in names], "$M a quarter", 1e6),
        quarterly_chart(quarters, "Mindshare: capacity-weighted share of partner effort",
                        [(f"{prefix(name)}{label}", name, column) for name in names
                         for label, column in [("focal vendor", "mindshare"),
                                               *[(r.removeprefix("mindshare_"), r) for r in rivals]]],
                        "share of effort"),
        quarterly_chart(quarters, "Spend by instrument", [(c.removeprefix("spend_") + (f" ({name})" if several else ""),
                                                           name, c) for c in instruments for name in names],
                        "$k a quarter", 1e3),
        quarterly_chart(quarters, "Partners by tier", [(t + (f" ({name})" if several else ""), name, f"partners_{t}")
                                                       for t in tiers for name in names], "partners"),
        quarterly_chart(quarters, "Recruits, exits and terminations",
                        [(f + (f" ({name})" if several else ""), name, f) for f in flows for name in names],
                        "partners a quarter"),
    ]


def unit_of(kpi: str) -> tuple[float, str]:
    """How a change of a KPI is charted: shares in points, the rest as they are."""
    return (0.01, "points") if kind(kpi) == "share" else (1.0, "$" if kind(kpi) == "money" else "count")


def difference_chart(differences: pd.DataFrame, kpi: str, base: str, window: tuple[int, int] | None) -> dict:
    """Each compared scenario's paired difference from the base in `kpi`, quarter by quarter, with its 95 % band
    (differences.csv; shares in points); the window the answer reads shaded, zero marked."""
    rows = differences[differences["kpi"] == kpi]
    axis = sorted({int(q) for q in rows["quarter"]})
    scale, unit = unit_of(kpi)
    series = []
    for i, (scenario, part) in enumerate(rows.groupby("scenario", sort=False)):
        part = part.assign(quarter=part["quarter"].astype(int)).set_index("quarter").reindex(axis)
        series += band_series(str(scenario), part["difference"].tolist(), part["ci_low"].tolist(),
                              part["ci_high"].tolist(), COLOURS[i % len(COLOURS)], scale)
    if series:
        zero = {"silent": True, "symbol": "none", "data": [{"yAxis": 0}], "label": {"show": False},
                "lineStyle": {"color": "#888", "type": "solid"}}
        marks: dict[str, Any] = {"markLine": zero}
        if window and window[0] in axis and window[1] in axis:
            marks["markArea"] = {"silent": True, "itemStyle": {"color": "rgba(242, 193, 78, 0.15)"},
                                 "data": [[{"xAxis": axis.index(window[0]), "name": "the window the answer reads"},
                                           {"xAxis": axis.index(window[1])}]]}
        series[2].update(marks)
    return chart_option(f"{kpi}: difference from {base}, quarter by quarter (mean and 95 % band, paired replicates)",
                        axis, series, unit)


def choices_in_order(values: pd.Series) -> list:
    """A parameter's values as an axis orders them: numbers ascending, choices as the design lists them."""
    distinct = list(dict.fromkeys(values.dropna()))
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return sorted(distinct) if numeric else distinct


def bins_for(points: int) -> int:
    """How many bins of equal width a continuous parameter (lhs, sobol, morris) is cut into: about two design points
    a cell of a two-parameter heat map, from 3 to 8 bins."""
    return min(8, max(3, round(math.sqrt(points / 2))))


def binned(values: pd.Series, grid: bool, bins: int = 8) -> tuple[pd.Series, list[str]]:
    """Each run's cell along one parameter and the cells' labels in order: the values themselves in a grid (and for
    choices, or as few values as `bins`), else `bins` bins of equal width, labelled by their middles."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if grid or not numeric or values.nunique() <= bins:
        order = choices_in_order(values)
        where = {v: i for i, v in enumerate(order)}
        return values.map(where), [tick(v) for v in order]
    cut = pd.cut(values, bins)
    labels = [f"{(interval.left + interval.right) / 2:.3g}" for interval in cut.cat.categories]
    return pd.Series(cut.cat.codes, index=values.index), labels


def sweep_cells(final: pd.DataFrame, outcome: str, x: str, y: str | None, grid: bool) -> pd.DataFrame:
    """The outcome's mean over the runs in each cell of one or two parameters (in a two-parameter grid, a design
    point's mean over its replicates), with its 95 % t-interval and the runs counted: x, y, mean, ci_low, ci_high,
    runs (x and y the cells' positions). The labels are in attrs."""
    from sim.report import interval

    rows = final[final[outcome].notna()]
    bins = bins_for(rows["point"].nunique() if "point" in rows else len(rows))
    xs, x_labels = binned(rows[x], grid, bins)
    keys = {"x": xs}
    labels = {"x": x_labels}
    if y is not None:
        keys["y"], labels["y"] = binned(rows[y], grid, bins)
    cells = []
    for key, group in rows.groupby([keys[k] for k in keys], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high, _ = interval(group[outcome].to_numpy(dtype=float))
        cells.append({**dict(zip(keys, map(int, key), strict=True)), "mean": mean, "ci_low": low, "ci_high": high,
                      "runs": len(group)})
    table = pd.DataFrame(cells, columns=[*keys, "mean", "ci_low", "ci_high", "runs"])
    table.attrs.update(labels)
    return table


def heatmap_chart(final: pd.DataFrame, outcome: str, x: str, y: str, grid: bool, others: list[str]) -> dict:
    """The outcome's mean over two parameters as an ECharts heat map, each cell labelled; the runs of the other
    parameters' values averaged in."""
    cells = sweep_cells(final, outcome, x, y, grid)
    data = [{"value": [int(r.x), int(r.y), value(r.mean)], "name": number(r.mean)} for r in cells.itertuples()]
    shown = [d["value"][2] for d in data if d["value"][2] is not None]
    low, high = (min(shown), max(shown)) if shown else (0.0, 1.0)
    averaged = f"; mean over {', '.join(others)} and replicates" if others else "; mean over replicates"
    how = "" if grid else " (binned)"
    option = chart_option(f"{outcome} (final year) over {x} x {y}{how}{averaged}", cells.attrs["x"], [
        {"type": "heatmap", "name": outcome, "data": data, "label": {"show": len(data) <= 64, "formatter": "{b}",
                                                                      "fontSize": 10},
         "emphasis": {"itemStyle": {"borderColor": "#333", "borderWidth": 1}}}], y, x_name=x)
    option["yAxis"] = {"type": "category", "data": cells.attrs["y"], "name": y, "nameLocation": "end"}
    # a heat map's hover names the cell under the pointer; the whole column (trigger "axis") would not say which row
    option["tooltip"] = {"trigger": "item"}
    option["grid"] = {**option["grid"], "bottom": 95, "left": 90}
    option["visualMap"] = {"min": low, "max": high if high > low else low + 1, "calculable": True,
                           "orient": "horizontal", "left": "center", "bottom": 0, "itemHeight": 200,
                           "inRange": {"color": ["#440154", "#3b528b", "#21918c", "#5ec962", "#fde725"]}}
    return option


def response_chart(final: pd.DataFrame, outcome: str, x: str, grid: bool) -> dict:
    """A one-parameter sweep: the outcome's mean at each value (bin) of the parameter, with its 95 % band."""
    cells = sweep_cells(final, outcome, x, None, grid)
    labels = cells.attrs["x"]
    cells = cells.set_index("x").reindex(range(len(labels)))
    series = band_series(outcome, cells["mean"].tolist(), cells["ci_low"].tolist(), cells["ci_high"].tolist(),
                         COLOURS[0])
    return chart_option(f"{outcome} (final year) against {x}: mean and 95 % band across runs", labels, series,
                        outcome, x_name=x)


def short(parameter: str) -> str:
    """A parameter's path shortened as the analysis' figures do: its last two parts."""
    parts = parameter.split(".")
    return ".".join(parts[-2:])


SENSITIVITY = {"sobol": [("S1", "S1_conf", "First-order index S1"), ("ST", "ST_conf", "Total index ST")],
               "morris": [("mu_star", "mu_star_conf", "Morris mu* (mean absolute elementary effect)"),
                          ("sigma", None, "Morris sigma (spread of the elementary effects: interactions)")]}


def sensitivity_charts(indices: pd.DataFrame, design: str, kpi: str) -> list[dict]:
    """One bar chart per index of `design` for `kpi`, a bar per parameter with its 95 % interval as a whisker;
    Sobol's seed noise marked (an index below it cannot be told from noise)."""
    rows = indices[indices["kpi"] == kpi]
    parameters = [str(p) for p in rows["parameter"]]
    charts = []
    for i, (column, conf, title) in enumerate(SENSITIVITY[design]):
        bars = {"type": "bar", "name": column, "data": [value(v) for v in rows[column]],
                "color": COLOURS[i % len(COLOURS)], "barMaxWidth": 48}
        series = [bars]
        if conf is not None:
            whiskers: list = []
            for k, (mid, half) in enumerate(zip(rows[column], rows[conf], strict=True)):
                if math.isfinite(mid) and math.isfinite(half):
                    whiskers += [[k, value(mid - half)], [k, value(mid + half)], "-"]
            series.append({"type": "line", "name": "95 % interval", "data": whiskers, "symbol": "none",
                           "connectNulls": False, "color": "#333333", "lineStyle": {"width": 1.5}})
            title += " with its 95 % interval"
        noise = rows["seed_noise"].iloc[0] if "seed_noise" in rows and len(rows) else np.nan
        if design == "sobol" and np.isfinite(noise):
            bars["markLine"] = {"silent": True, "symbol": "none", "data": [{"yAxis": value(noise)}],
                                "label": {"formatter": "seed noise", "position": "insideEndTop"},
                                "lineStyle": {"color": "#888", "type": "dashed"}}
        charts.append(chart_option(f"{kpi}: {title}", [short(p) for p in parameters], series, column,
                                   x_name="parameter"))
    return charts


def fit_chart(fit: pd.DataFrame, target: str, holdout: list[int] | None) -> dict:
    """One target of a calibration (as fit.png): the observed history beside the calibrated model's mean, its 95 %
    band over seeds at the best values and the wider one over the consistent parameters and seeds; the held-out
    quarters shaded."""
    rows = fit[fit["target"] == target].sort_values("quarter")
    axis = [int(q) for q in rows["quarter"]]
    wide = band_series("parameters and seeds", rows["model"].tolist(), rows["low_all"].tolist(),
                       rows["high_all"].tolist(), COLOURS[2])[:2]
    seeds = band_series("model mean", rows["model"].tolist(), rows["low"].tolist(), rows["high"].tolist(),
                        COLOURS[0])
    seeds[0]["name"] = seeds[1]["name"] = "seeds, at the best values: 95 % band"
    observed = {"type": "line", "name": "observed", "data": [value(v) for v in rows["observed"]], "symbol": "circle",
                "symbolSize": 6, "showSymbol": True, "lineStyle": {"opacity": 0}, "color": COLOURS[1]}
    series = [*wide, *seeds, observed]
    if holdout:
        first, last = holdout[0], holdout[-1]
        if first in axis and last in axis:
            seeds[2]["markArea"] = {"silent": True, "itemStyle": {"color": "rgba(136, 136, 136, 0.12)"},
                                    "data": [[{"xAxis": axis.index(first), "name": "held out"},
                                              {"xAxis": axis.index(last)}]]}
    return chart_option(f"{target}: observed and the calibrated model (mean, 95 % bands)", axis, series, target)


# --------------------------------------------------------------------------- the components


def table_items(frame: pd.DataFrame, columns: list[str]) -> list[dict]:
    """Rows as a data table takes them: numbers as numbers (so that a column sorts by value, not as text), to
    TABLE_FIGURES significant figures; blanks as None."""
    items = []
    for record in frame[columns].to_dict("records"):
        item = {}
        for column, cell in record.items():
            if isinstance(cell, bool | np.bool_):
                item[column] = "yes" if cell else ""
            elif isinstance(cell, int | float | np.number):
                item[column] = value(cell, figures=TABLE_FIGURES)
            else:
                item[column] = "" if cell is None or (isinstance(cell, float) and math.isnan(cell)) else str(cell)
        items.append(item)
    return items


def in_units(frame: pd.DataFrame, values: tuple[str, ...] = ("base", "value", "difference", "ci_low", "ci_high")
             ) -> pd.DataFrame:
    """A table of KPIs as people read them: shares (mindshare, win rate, ...) in percent and their changes in points,
    `relative` in %, and the float residue of an unchanged KPI (a difference below a billionth of its level) as 0;
    a `unit` column says which."""
    frame = frame.copy()
    key = "kpi" if "kpi" in frame else "measure" if "measure" in frame else None
    if key is not None:
        share = frame[key].map(lambda k: kind(str(k)) == "share").to_numpy()
        present = [c for c in values if c in frame]
        frame.loc[share, present] = frame.loc[share, present] * 100.0
        frame.insert(frame.columns.get_loc(key) + 1, "unit", np.where(share, "% (changes in points)", ""))
    scale = frame["base"].abs().clip(lower=1.0) if "base" in frame else 1.0
    for column in ("difference", "ci_low", "ci_high"):
        if column in frame:
            frame[column] = frame[column].where(frame[column].abs() >= 1e-9 * scale, 0.0)
    if "relative" in frame:
        frame["relative"] = (frame["relative"] * 100.0).where(frame["relative"].abs() >= 1e-9, 0.0)
    return frame.rename(columns={"relative": "relative (%)"})


@solara.component
def Table(frame: pd.DataFrame, columns: list[str], headers: dict[str, str] | None = None, per_page: int = 15):
    """A data table that sorts by any column (click its header)."""
    headers = headers or {}
    rv.DataTable(headers=[{"text": headers.get(c, c), "value": c, "sortable": True} for c in columns],
                 items=table_items(frame, columns), items_per_page=per_page, dense=True, multi_sort=False,
                 footer_props={"items-per-page-options": [per_page, 50, -1]})


def Heading(text: str, level: int = 3):
    solara.HTML(tag=f"h{level}", unsafe_innerHTML=html.escape(text), style={"margin": "12px 0 4px"})


def Note(text: str):
    solara.Text(text, style={"color": "#555", "font-size": "0.9em"})


def Chart(option: dict):
    solara.FigureEcharts(option, attributes=CHART_STYLE)


@solara.component
def AnswerCards(answers: pd.DataFrame):
    """Each answer card: the question, the answer in one sentence, the evidence under it."""
    for row in answers.itertuples():
        with solara.Card(str(row.scenario), classes=["answer-card"], style={"margin": "6px 0"}):
            if row.question:
                solara.Text(str(row.question), style={"font-style": "italic", "display": "block"})
            span = (f"quarter {int(row.first_quarter)}" if row.first_quarter == row.last_quarter
                    else f"quarters {int(row.first_quarter)}–{int(row.last_quarter)}")
            solara.Text(str(row.answer), style={"font-weight": "600", "display": "block", "margin": "6px 0"},
                        classes=["answer"])
            for line in str(row.evidence).splitlines():
                if line.strip():
                    solara.Text(f"• {line.strip()}", style={"display": "block"})
            Note(f"Read over {span}.")


@solara.component
def RunView(results: Results):
    frames = results.frames
    quarters, summary = frames["quarters"], frames["summary"]
    if "answers" in frames:
        AnswerCards(frames["answers"])
    every, set_every = solara.use_state(False)
    window = results.texts.get("window")  # as the report says it, e.g. "quarters 5–8"
    Heading(f"KPIs{', ' + window if window else ''}: mean and 95 % interval across replicates")
    solara.Checkbox(label="Every KPI (not only the headline ones)", value=every, on_value=set_every)
    order = {kpi: i for i, kpi in enumerate(HEADLINE)}  # the headline KPIs in the report's order, the rest after
    ranked = summary.iloc[np.argsort([order.get(k, len(order)) for k in summary["kpi"]], kind="stable")]
    shown = ranked if every else ranked[ranked["kpi"].isin(HEADLINE)]
    columns = [c for c in ("scenario", "kpi", "mean", "ci_low", "ci_high", "sd", "replicates") if c in summary]
    if summary["scenario"].nunique() == 1:
        columns.remove("scenario")
    Table(shown, columns, per_page=20)
    Heading("Quarter by quarter")
    for option in run_charts(quarters, results.info.get("tiers", [])):
        Chart(option)
    metrics = [c for c in quarters.columns if c not in ("scenario", *QUARTER_IDS)
               and pd.api.types.is_numeric_dtype(quarters[c])]
    metric, set_metric = solara.use_state("revenue" if "revenue" in metrics else metrics[0])
    solara.Select("Any quarterly metric", value=metric, values=metrics, on_value=set_metric)
    Chart(quarterly_chart(quarters, f"{metric} (mean and 95 % band across replicates)",
                          [(str(n), n, metric) for n in dict.fromkeys(quarters["scenario"])], metric))


@solara.component
def CompareView(results: Results):
    frames, texts = results.frames, results.texts
    differences, answers = frames["differences"], frames["answers"]
    if texts.get("ranking"):
        solara.Text(texts["ranking"], style={"font-weight": "600", "display": "block"}, classes=["ranking"])
    AnswerCards(answers)
    kpis = list(dict.fromkeys(differences["kpi"].astype(str)))
    wanted = [k for k in [*results.info.get("kpis", []), "revenue"] if k in kpis] or kpis
    kpi, set_kpi = solara.use_state(wanted[0])
    moved = frames.get("responders")
    measures = list(dict.fromkeys(moved["measure"].astype(str))) if moved is not None else []
    measure, set_measure = solara.use_state("revenue" if "revenue" in measures else "")
    Heading("Quarter by quarter: the difference from the base")
    solara.Select("KPI", value=kpi, values=kpis, on_value=set_kpi)
    window = ((int(answers["first_quarter"].iloc[0]), int(answers["last_quarter"].iloc[0]))
              if len(answers) and answers[["first_quarter", "last_quarter"]].iloc[0].notna().all() else None)
    Chart(difference_chart(differences, kpi, texts["base"], window))
    Note("Paired difference per quarter (the same seeds in every scenario) with its 95 % band; shares in points. "
         "Shaded: the window the first answer reads. differences.csv holds every KPI.")
    comparison = frames["comparison"]
    Heading(f"Against {texts['base']}: headline KPIs over the window, paired replicates")
    shown = in_units(comparison[comparison["kpi"].isin([*SHOWN, "program_cost"])])
    columns = [c for c in ("scenario", "kpi", "unit", "base", "value", "difference", "ci_low", "ci_high",
                           "relative (%)", "note") if c in shown]
    Table(shown, columns, per_page=20)
    Note("Over the window: money summed over its quarters, shares and rates averaged, stocks (partners) at its last "
         "quarter; program_cost is every programme dollar, partner discounts included.")
    Heading("Who responded: partner groups' paired change over the window")
    if moved is None:
        Note("No partner groups to show (responders.csv is absent or empty): the comparison kept no partner panel "
             "(compare with --partners, or a scenario whose meta.groups names partner groups).")
    else:
        measure = measure if measure in measures else measures[0]
        solara.Select("Measure", value=measure, values=measures, on_value=set_measure)
        Table(in_units(moved[moved["measure"] == measure]), ["scenario", "dimension", "group", "partners", "base",
                                                             "difference", "ci_low", "ci_high", "relative (%)"],
              per_page=20)
    sources = frames["sources"].copy()
    Heading("From where: the change in the focal vendor's mindshare and revenue beside each source's")
    sources["source"] = sources["source"].map(lambda s: SOURCE_NAMES.get(s, s))
    Table(sources, ["scenario", "measure", "source", "difference", "ci_low", "ci_high"], per_page=20)


@solara.component
def SweepView(results: Results):
    info, frames = results.info, results.frames
    final = frames["final"]
    parameters, outcomes = info["parameters"], info["outcomes"]
    grid = info["design"] == "grid"
    Note(f"{info['design']} design over {', '.join(parameters)}; {info['runs']} runs ({info['replicates']} "
         "replicates per point); final-year KPIs of each run (final.parquet).")
    if results.texts.get("missing"):
        Note(results.texts["missing"][0].upper() + results.texts["missing"][1:] + ".")
    outcome, set_outcome = solara.use_state(outcomes[0] if outcomes else "")
    x, set_x = solara.use_state(parameters[0])
    y, set_y = solara.use_state(parameters[1] if len(parameters) > 1 else "")
    indices = frames.get("indices")
    analysed = list(dict.fromkeys(indices["kpi"].astype(str))) if indices is not None else []
    kpi, set_kpi = solara.use_state("")  # the sensitivity's KPI; "" follows the outcome where it was analysed
    if not outcomes:
        Note("final.parquet holds no outcome to chart.")
        return
    with solara.Row(style={"flex-wrap": "wrap", "gap": "12px"}):
        solara.Select("Outcome", value=outcome, values=outcomes, on_value=set_outcome)
        if len(parameters) > 2:
            solara.Select("Across", value=x, values=[p for p in parameters if p != y], on_value=set_x)
            solara.Select("Up", value=y, values=[p for p in parameters if p != x], on_value=set_y)
    if len(parameters) == 1:
        Chart(response_chart(final, outcome, x, grid))
    else:
        others = [p for p in parameters if p not in (x, y)]
        option = heatmap_chart(final, outcome, x, y, grid, others)
        solara.FigureEcharts(option, attributes={"style": "height: 420px; width: 100%;"})
    if info["design"] in SENSITIVITY:
        Heading("Sensitivity")
        if not analysed:
            Note(f"No sensitivity indices yet: `channelsim analyze {display(results.folder)}` computes them "
                 f"(analysis/{info['design']}.csv).")
            return
        shown = kpi if kpi in analysed else outcome if outcome in analysed else analysed[0]
        solara.Select("KPI analysed", value=shown, values=analysed, on_value=set_kpi)
        for option in sensitivity_charts(indices, info["design"], shown):
            Chart(option)
        if info["design"] == "sobol":
            Note("Dashed: the share of the variance between design points that is seed noise; an index below it "
                 "cannot be told from noise.")


@solara.component
def CalibrateView(results: Results):
    frames, texts = results.frames, results.texts
    if texts.get("goodness"):
        solara.Text(texts["goodness"], style={"font-weight": "600", "display": "block"}, classes=["goodness"])
    else:
        Note("fit.html, which says how well the model reproduces the history, is not in the folder.")
    ensemble = frames.get("ensemble")
    if ensemble is not None and len(ensemble):
        best = ensemble.iloc[0]
        Note(f"Best trial {int(best['trial'])}, mismatch {number(best['mismatch'])}; {len(ensemble)} trials as good "
             "as the best form the ensemble (ensemble.csv).")
    Heading("Parameters")
    verdicts = frames["verdicts"]
    columns = [c for c in ("parameter", "verdict", "best", "profile_low", "profile_high", "ensemble_low",
                           "ensemble_high", "low", "high", "at_bound", "profile_effect", "importance") if c in verdicts]
    Table(verdicts, columns, {"profile_low": "as good as the best from", "profile_high": "to",
                              "ensemble_low": "good trials from", "ensemble_high": "to ", "low": "range from",
                              "high": "range to", "at_bound": "at a bound"})
    Heading("Fit")
    fit = frames["fit"]
    for target in dict.fromkeys(fit["target"]):
        Chart(fit_chart(fit, target, results.info.get("holdout")))
    replicates, check = results.info.get("replicates"), results.info.get("check")
    seeds = f" over {replicates + check} replicates" if isinstance(replicates, int) and isinstance(check, int) else ""
    Note(f"The calibrated model's mean, its 95 % band{seeds} at the best values (seeds alone), and the wider 95 % "
         "band over every replicate of the trials consistent with the history (parameters and seeds).")
    held = frames.get("holdout")
    if held is not None and len(held):
        Heading("Held-out quarters")
        Table(held, ["target", "quarters", "model_error", "naive_error", "better", "in_band"],
              {"model_error": "model error", "naive_error": "naive error (last fitted year)",
               "in_band": "in the wider 95 % band"})


VIEWS = {"run": RunView, "compare": CompareView, "sweep": SweepView, "calibrate": CalibrateView}


def _read_or_say(folder: str) -> Results | str:
    try:
        return read_results(Path(folder))
    except ResultsError as error:
        return str(error)


@solara.component
def ResultsView(folder: str):
    """One results folder as charts and tables, by its kind; for a folder that cannot be shown, only why."""
    results = solara.use_memo(lambda: _read_or_say(folder), dependencies=[folder])
    failed, clear = solara.use_exception()  # a view that fails to draw (a bug) is said, not shown as a traceback
    solara.use_effect(clear, [folder])
    if isinstance(results, str):
        solara.Error(results)
        return
    if failed is not None:
        solara.Error(f"{display(results.folder)}: these {results.kind} results were read but could not be shown "
                     f"({first_line(failed, named=True)})")
        return
    with solara.Column(style={"padding": "8px", "gap": "4px"}):
        Heading(results.title, 2)
        if results.texts.get("question"):
            solara.Text(results.texts["question"], style={"font-style": "italic", "display": "block"})
        Note(f"{results.kind} results in {display(results.folder)}")
        VIEWS[results.kind](results).key(f"{results.kind}:{results.folder}")
