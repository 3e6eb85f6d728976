"""Watch and steer a channel in the browser: Mesa's SolaraViz over a ChannelModel, and results folders read there.

`channelsim viz [SCENARIO]` serves this page on 127.0.0.1; `solara run sim/app.py` works too.
Pick a scenario, move its headline levers, press Reset, then Step or Play: the page shows the
quarter's KPIs, the channel's charts and every partner, with the scenario's own run on the same
seed overlaid as a dashed "baseline", so the effect of a lever is visible, not just the level.
"Apply from next quarter" changes the running channel mid-run (a schedule entry), the baseline
going on beside it; the answer since the last change sits beside the KPIs; "Save as scenario"
downloads the run as a file `channelsim run` repeats exactly. The Results view shows a folder of
run, compare, sweep or calibrate (sim.results_view). Each browser session has its own model.

Settings come from the environment (what `channelsim viz` sets): CHANNELSIM_SCENARIO (the file
shown first; its folder is the picker's list), CHANNELSIM_PARTNERS (a partner count for every
scenario), CHANNELSIM_SEED, CHANNELSIM_RESULTS (a results folder opened first).
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import numpy as np
import pandas as pd
import solara
from mesa.visualization.solara_viz import ComponentsView, ModelController, ModelCreator
from mesa.visualization.utils import force_update, update_counter
from solara.components.echarts import EchartsWidget

from sim import answers, report, results_view, scenarios
from sim.metrics import LIFECYCLE, SEGMENTS
from sim.model import ChannelModel
from sim.params import Change, ParameterError, Scenario, build_scenario
from sim.results import resolved_toml
from sim.results_view import CHART_STYLE
from sim.runner import replicate_seed

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = 2_000  # partners drawn in the partner view; more are sampled evenly, and the view says so


def settings() -> tuple[Path, int | None, int]:
    start = Path(os.environ.get("CHANNELSIM_SCENARIO", ROOT / "scenarios" / "baseline.toml"))
    partners = os.environ.get("CHANNELSIM_PARTNERS")
    return start, int(partners) if partners else None, int(os.environ.get("CHANNELSIM_SEED", "1"))


def scenario_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.toml"))


# --------------------------------------------------------------------------- levers


@dataclass(frozen=True)
class Lever:
    """A headline lever: the parameter it sets (its dotted path, also its key in the page's model_params),
    its label and its widget. The widget starts at the scenario's own value.

    A "choice" offers `choices`, or else the names listed at the scenario's path `among`, or else the values
    the parameter tree allows at `path`. `blank` is the choice that stands for the empty value (e.g. "every
    vertical"); `off` is the path of an on/off switch that the choice "off" turns off (any other turns it on).
    """

    path: str
    label: str
    kind: str  # "float", "int", "money" (typed in), "choice"
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    choices: tuple[str, ...] = ()
    among: str = ""
    blank: str = ""
    off: str = ""

    def options(self, params: Scenario) -> list[str]:
        """The choices offered, in order."""
        if self.choices:
            named = list(self.choices)
        elif self.among:
            named = list(params.get(self.among))
        else:
            *parents, leaf = self.path.split(".")
            node: Any = params
            for part in parents:
                node = getattr(node, part)
            annotation = type(node).model_fields[leaf].annotation
            if get_origin(annotation) is not Literal:
                raise TypeError(f"{self.path} is not a choice of the parameter tree: give the lever its choices")
            named = list(get_args(annotation))
        return ["off"] * bool(self.off) + [self.blank] * bool(self.blank) + named

    def shown(self, params: Scenario) -> Any:
        """The widget's value for the scenario's own setting."""
        if self.off and not params.get(self.off):
            return "off"
        value = params.get(self.path)
        if self.kind == "choice":
            return value or self.blank
        if self.kind == "money":
            return f"{value:,.0f}"
        return value

    def widget(self, params: Scenario) -> dict[str, Any]:
        """Its entry in SolaraViz's model_params."""
        value = self.shown(params)
        if self.kind == "money":
            return {"type": "InputText", "value": value, "label": self.label}
        if self.kind == "choice":
            return {"type": "Select", "value": value, "values": self.options(params), "label": self.label}
        kind = "SliderInt" if self.kind == "int" else "SliderFloat"
        low, high = min(self.low, value), max(self.high, value)  # a scenario may sit outside the usual range
        return {"type": kind, "value": value, "min": low, "max": high, "step": self.step, "label": self.label}

    def changes(self, value: Any) -> dict[str, Any]:
        """The parameter paths and values that this widget value sets."""
        if self.off and value == "off":
            return {self.off: False}
        switch = {self.off: True} if self.off else {}
        if self.kind == "choice":
            return {**switch, self.path: "" if self.blank and value == self.blank else value}
        if self.kind == "money":
            text = str(value).replace(",", "").replace("_", "").replace("$", "").strip()
            try:
                return {self.path: float(text)}
            except ValueError:
                raise ParameterError(f"{value!r} is not an amount of dollars, e.g. 150,000") from None
        return {self.path: int(value) if self.kind == "int" else float(value)}


# The page's levers, in the order shown: adding a line here adds the widget, its handling and its parameter
LEVERS = (
    Lever("vendor.margin.base", "Focal margin (base)", "float", 0.0, 0.5, 0.01),
    Lever("vendor.rebate.rate", "Rebate rate", "float", 0.0, 0.10, 0.005),
    Lever("vendor.rebate.threshold", "Rebate threshold ($ a period)", "money"),
    Lever("vendor.mdf.budget", "MDF budget ($ a quarter)", "money"),
    Lever("vendor.mdf.allocation", "MDF allocation rule", "choice"),
    Lever("vendor.spif.vertical", "SPIF vertical", "choice", among="market.verticals", blank="(every vertical)"),
    Lever("vendor.spif.amount", "SPIF amount ($ a deal)", "float", 0.0, 2_000.0, 50.0),
    Lever("vendor.spif.start", "SPIF window: first quarter", "int", 1, 12, 1),
    Lever("vendor.spif.length", "SPIF window: quarters", "int", 1, 4, 1),
    Lever("vendor.spif_campaign.vertical", "SPIF campaign vertical", "choice", among="market.verticals",
          blank="(every vertical)", off="vendor.spif_campaign.enabled"),
    Lever("vendor.spif_campaign.amount", "SPIF campaign amount ($ a deal)", "float", 0.0, 2_000.0, 50.0),
    Lever("vendor.cams.count", "CAMs", "int", 0, 60, 1),
    Lever("vendor.cams.coverage", "CAM coverage model", "choice"),
    Lever("vendor.termination.rule", "Termination rule", "choice", choices=("no_deal", "revenue_floor"),
          off="vendor.termination.enabled"),
    Lever("rivals.program.margin.base", "Rival margin (base)", "float", 0.0, 0.5, 0.01),
)


def load_scenario(name: str, folder: Path, partners: int | None) -> Scenario:
    overrides = {"partners.count": partners} if partners else None
    return scenarios.load(folder / name, overrides).params


# --------------------------------------------------------------------------- the model behind the page


def told(said, separator: str = ", ") -> str:
    """Lever changes as the page tells them: 'Rebate rate 0.03 → 0.06, CAMs 12 → 18'."""
    return separator.join(f"{label} {before} → {after}" for label, before, after in said)


@dataclass(frozen=True)
class Steer:
    """A change applied mid-run: from `quarter` on, `values` (parameter paths and values); `said` is how the page
    tells it, (label, value before, value after) per lever."""

    quarter: int
    said: tuple[tuple[str, Any, Any], ...]
    change: Change  # its entry in the running model's schedule

    @property
    def values(self) -> dict[str, Any]:
        return self.change.set


class ChannelApp(ChannelModel):
    """A ChannelModel built from a scenario file and the page's levers, with its baseline alongside.

    The levers apply from the first quarter; the scenario's own schedule still applies on top. A
    lever value the parameter tree rejects is left out (the other levers still apply) and
    `problems` says why. `baseline` is the scenario as written on the same seed, stepped in lock
    step, when any lever differs from the scenario.

    `levers` are the levers' widget values by path (as SolaraViz passes them), or with "__" for "."
    as a ChannelModel's overrides; a lever left out keeps the scenario's value. `scenario` is Mesa's
    own (empty) scenario object, which SolaraViz passes on Reset; the scenario here is the file.
    """

    def __init__(self, scenario_file: str | None = None, seed: Any = None, scenario: Any = None, **levers: Any):
        given = {path.replace("__", "."): value for path, value in levers.items()}
        unknown = sorted(set(given) - {lever.path for lever in LEVERS})
        if unknown:
            raise TypeError(f"ChannelApp() has no lever {', '.join(unknown)}")
        start, partners, default_seed = settings()
        folder = start.parent
        self.scenario_file = scenario_file or start.name
        self.problems: list[str] = []
        try:
            base = load_scenario(self.scenario_file, folder, partners)
        except scenarios.ScenarioError as error:
            self.problems += error.problems
            base = Scenario() if partners is None else Scenario(partners={"count": partners})
        seed = default_seed if seed is None or seed == "" else seed
        typed = seed
        try:
            seed = int(str(seed).strip())
            if not 0 <= seed < 2**63:
                raise ValueError
        except ValueError:
            self.problems.append(f"Seed: {str(typed).strip()!r} is not a whole number from 0 to 2^63 - 1; using "
                                 f"{default_seed}")
            seed = default_seed
        changes: dict[str, Any] = {}
        self.lever_changes: list[tuple[str, Any, Any]] = []  # (label, scenario's value, this run's)
        params = base
        for lever in LEVERS:  # each lever on top of those before it; a rejected one is left out
            value = given.get(lever.path)
            if value is None or value == lever.shown(base):
                continue
            try:
                wanted = lever.changes(value)
                if all(base.get(path) == v for path, v in wanted.items()):
                    continue
                params = build_scenario(base, {**changes, **wanted})
            except ParameterError as error:
                self.problems += [f"{lever.label} = {value} not applied: {p}" for p in error.problems]
                continue
            changes.update(wanted)
            self.lever_changes.append((lever.label, lever.shown(base), value))
        self.page_seed = seed  # the seed typed in; the model runs replicate 0 of `channelsim run` on it
        super().__init__(params, rng=replicate_seed(seed, 0))
        self.scenario_params = base
        self.start_params = params.model_copy(deep=True)  # as at quarter 0, before any schedule entry applied
        self.steering: list[Steer] = []  # the changes applied mid-run, in the order pressed
        # each lever's widget value this run started from (as the page sent it, or the scenario's): what Apply
        # compares the page's values with, to apply only what was changed since
        self.widgets_at = {lever.path: given.get(lever.path, lever.shown(base)) for lever in LEVERS}
        self.baseline: ChannelModel | None = None
        if params is not base:
            self.baseline = ChannelModel(base, rng=self.seed)

    def step(self) -> None:
        super().step()
        if self.baseline is not None:
            self.baseline.step()

    def steer(self, values: dict[str, Any]) -> list[str]:
        """Apply the levers the page changed since Reset or the last Apply (`values`: every widget's value by path,
        as the page holds them) from the next quarter on, as a `[[schedule]]` entry of the running model; the
        baseline (built now if there was none: the scenario as written, run to this quarter on the same seed) goes
        on unchanged. A lever left as it was is not sent again (the scenario's own schedule may have moved its
        parameter since); one the parameter tree rejects is left out, with why among the problems returned. Applied
        twice in a quarter, the changes make one entry; one that puts a parameter back as the quarter had it
        takes it out."""
        problems: list[str] = []
        seed = values.get("seed")
        if seed is not None and str(seed).strip() != str(self.page_seed):
            problems.append(f"Seed {str(seed).strip()!r}: a seed starts a new run; press Reset to run on it (Apply "
                            "changes levers only)")
        if self.quarter >= self.params.quarters:
            return [f"The run has ended at quarter {self.quarter}: press Reset to start again"]
        quarter = self.quarter + 1
        pending = next((s for s in self.steering if s.quarter == quarter), None)
        now = build_scenario(self.params, pending.values) if pending else self.params  # as the next quarter has it
        wanted, touched = dict(pending.values) if pending else {}, []
        for lever in LEVERS:
            value = values.get(lever.path)
            if value is None or value == self.widgets_at.get(lever.path):
                continue
            try:
                change = lever.changes(value)
                build_scenario(now, {**wanted, **change})
            except ParameterError as error:
                problems += [f"{lever.label} = {value} not applied: {p}" for p in error.problems]
                continue
            touched.append(lever)
            wanted.update(change)
            self.widgets_at[lever.path] = value
        if not touched:
            return problems or ["No lever changed since the last Reset or Apply: nothing to apply"]
        wanted = {path: v for path, v in wanted.items() if self.params.get(path) != v}  # back as it was: no change
        if pending:  # one entry a quarter: this press's changes join the pending ones
            self.steering.remove(pending)
            self.params.schedule.remove(pending.change)
        if not wanted:
            return problems
        if self.baseline is None:
            self.baseline = ChannelModel(self.scenario_params, rng=self.seed)
            self.baseline.run(self.quarter)
        after = build_scenario(self.params, wanted)
        said = tuple((lever.label, lever.shown(self.params), lever.shown(after)) for lever in LEVERS
                     if lever.path in wanted or (lever.off and lever.off in wanted))
        change = Change(quarter=quarter, set=wanted)
        self.params.schedule.append(change)
        self.steering.append(Steer(quarter, said, change))
        return problems

    def changed_at(self) -> list[int]:
        """The quarters from which the run differs from its baseline by a new change: 1 when the levers set at Reset
        differ from the scenario, then each steer's."""
        first = [1] if self.lever_changes else []
        return sorted(set(first + [s.quarter for s in self.steering]))

    def saved_scenario(self) -> str:
        """The run as a scenario file: every parameter as it started, its schedule plus an entry per change applied
        here, on this seed with one replicate: `channelsim run` on it gives this page's numbers."""
        params = self.start_params.model_copy(deep=True)
        params.schedule = [*params.schedule, *(s.change for s in self.steering)]
        params.run.seed = self.page_seed
        params.run.replicates = 1
        title = params.meta.title or self.scenario_file
        params.meta.title = f"{title}, steered in the browser"
        params = build_scenario(params)  # validated as a file would be
        during = "; ".join(f"from quarter {s.quarter}: {told(s.said)}" for s in self.steering) or "none"
        population = "" if params.partners.roster else f", partners.count {params.partners.count}"
        note = (f"Saved from channelsim viz: {self.scenario_file} on seed {self.page_seed}{population}.\n"
                f"Levers at the start: {told(self.lever_changes) or 'as written'}.\n"
                f"Changes during the run: {during}.")
        return resolved_toml(params, "FILE --out DIR", note)

    def model_params(self) -> dict[str, Any]:
        """SolaraViz's model_params: the scenario (fixed here; picked above), the seed and the levers."""
        params: dict[str, Any] = {"scenario_file": self.scenario_file,
                                  "seed": {"type": "InputText", "value": str(self.page_seed), "label": "Seed"}}
        return params | {lever.path: lever.widget(self.scenario_params) for lever in LEVERS}


# --------------------------------------------------------------------------- what the page shows

show_baseline = solara.reactive(True)
colour_by = solara.reactive("segment")
chosen = solara.reactive("")


def rows(model: ChannelModel) -> list[dict[str, float]]:
    return model.lane_kpis[0]


def series(model: ChannelModel, name: str, scale: float = 1.0) -> list[float]:
    return [round(float(r.get(name, np.nan)) * scale, 4) for r in rows(model)]


def chart(model: ChannelApp, title: str, items: list[dict], y_name: str, right_axis: str | None = None):
    """An ECharts figure of quarterly series, quarter 1 to now."""
    y_axis: dict | list[dict] = {"type": "value", "name": y_name}
    if right_axis:
        y_axis = [y_axis, {"type": "value", "name": right_axis, "splitLine": {"show": False}}]
    option = {
        "animation": False,
        "title": {"text": title, "textStyle": {"fontSize": 14}},
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 24, "type": "scroll"},
        "grid": {"top": 70, "left": 60, "right": 20, "bottom": 40},
        "xAxis": {"type": "category", "data": list(range(1, model.quarter + 1)), "name": "quarter",
                  "nameLocation": "middle", "nameGap": 25},
        "yAxis": y_axis,
        "series": marked(model, items),
    }
    return solara.FigureEcharts(option, attributes=CHART_STYLE)


def marked(model: ChannelApp, items: list[dict]) -> list[dict]:
    """`items`, the first carrying a dotted vertical line at each quarter from which a change applies."""
    quarters = [q for q in model.changed_at() if q <= model.quarter]
    if items and quarters:
        items[0] = {**items[0], "markLine": {
            "symbol": "none", "silent": True, "animation": False,
            "lineStyle": {"type": "dotted", "color": "#b00020", "width": 2},
            "label": {"formatter": "change", "position": "insideEndTop", "color": "#b00020"},
            "data": [{"xAxis": str(q), "name": f"change from quarter {q}"} for q in quarters]}}
    return items


def line(name: str, data: list[float], dashed: bool = False, stack: str | None = None, **extra) -> dict:
    item = {"type": "line", "name": name, "data": data, "showSymbol": False, **extra}
    if dashed:
        item["lineStyle"] = {"type": "dashed"}
    if stack:
        item.update(stack=stack, areaStyle={})
    return item


def with_baseline(model: ChannelApp, items: list[dict], name: str, metric: str, scale: float = 1.0) -> list[dict]:
    """`items`, and the baseline's `metric` dashed when there is a baseline and it is shown."""
    if model.baseline is not None and show_baseline.value:
        items.append(line(name, series(model.baseline, metric, scale), dashed=True, color="#444"))
    return items


def kpi_values(r: dict[str, float]) -> dict[str, float]:
    return {"revenue": r["revenue"], "mindshare": r["mindshare"], "spend": r["spend_pct_revenue"],
            "active": r["active_partners"], "attrition": r["attrition"]}


KPI_CARDS = [("revenue", "Revenue (quarter)", lambda v: f"${v / 1e6:,.1f}M"),
             ("mindshare", "Mindshare", lambda v: f"{v:.1%}"),
             ("spend", "Spend, % of revenue", lambda v: f"{v:.1f}%"),
             ("active", "Active partners", lambda v: f"{v:,.0f}"),
             ("attrition", "Attrition (annualised)", lambda v: f"{v:.1%}")]


def delta_text(key: str, now: float, before: float | None) -> str:
    if before is None:
        return "first quarter"
    change = now - before
    if key == "spend":  # already in percent
        return f"{change:+.1f} pts since last quarter"
    if key in ("mindshare", "attrition"):
        return f"{change * 100:+.1f} pts since last quarter"
    if key == "revenue":
        return f"{change / 1e6:+,.1f}M since last quarter"
    return f"{change:+,.0f} since last quarter"


ANSWERED = ("revenue", "vendor_contribution", "mindshare", "program_cost")


def _minus(text: str) -> str:
    return text.replace("-", "−")


def _listed(numbers: list[int]) -> str:
    return ", ".join(map(str, numbers[:-1])) + f" and {numbers[-1]}" if len(numbers) > 1 else str(numbers[0])


def _compared(model: ChannelApp, window: tuple[int, int]) -> pd.DataFrame:
    """The run against its baseline over `window`, as a comparison reads it (paired, one replicate: the seed)."""
    # the columns the answer and its sources read (the comparison's cost grows with them: redrawn every quarter)
    rivals = [v.name for v in model.vendors[1:]]
    wanted = {"quarter", "revenue", "vendor_contribution", "vendor_gross_profit", "vendor_revenue", "direct_revenue",
              "unserved_demand", "discount", "mdf_allocated", "mdf_claimed", "mindshare", "mindshare_services",
              *(f"mindshare_{r}" for r in rivals), *(f"revenue_{r}" for r in rivals)}
    runs = {"baseline": model.baseline.kpi_frame(), "this run": model.kpi_frame()}
    columns = [c for c in runs["baseline"].columns if c in wanted or c.startswith("spend_")]
    quarters = pd.concat([frame[columns].assign(scenario=name) for name, frame in runs.items()],
                         ignore_index=True).assign(replicate=0)
    return report.comparison(report.window_kpis(quarters, window), "baseline", ["this run"])


def _changes(compared: pd.DataFrame, quarters: int) -> str:
    """'Partner-sourced revenue +4.0 % (+$7.20M over the 8 quarters); ...; programme cost (discounts included) ...;
    return on the extra programme cost ...'."""
    rows = compared.set_index("kpi")
    over = f"over the {quarters} quarters" if quarters > 1 else "in the quarter"
    parts = []
    for kpi in ANSWERED:
        diff, base = float(rows.loc[kpi, "difference"]), float(rows.loc[kpi, "base"])
        name = ("programme cost (discounts included)" if kpi == "program_cost"
                else answers.NAMES.get(kpi, kpi.replace("_", " ")))
        if report.kind(kpi) == "share":
            parts.append(f"{name} {_minus(answers._points(diff))} points")
        else:
            dollars = f"{answers._dollars(diff)} {over}"
            parts.append(f"{name} {_minus(f'{100.0 * diff / abs(base):+.1f}')} % ({dollars})" if base
                         else f"{name} {dollars}")
    cost = float(rows.loc["program_cost", "difference"])
    ratio = rows.loc[report.INCENTIVE_ROI, "difference"] if report.INCENTIVE_ROI in rows.index else np.nan
    if cost > 0 and np.isfinite(ratio):
        sign = "+" if ratio >= 0 else "−"
        parts.append(f"each extra programme dollar returned {sign}${abs(ratio):.2f} of vendor contribution "
                     "(incentive ROI)")
    elif cost <= 0:
        parts.append(f"no incentive ROI: the programme cost ${report.number(-cost)} less, so there is no extra cost "
                     "to return on; vendor contribution says what the saving was worth")
    return "; ".join(parts) + "."


def answer(model: ChannelApp) -> tuple[str, list[str]]:
    """The run against its baseline since the last change: a heading and the lines under it (the answer cards'
    paired window difference and where it came from, on the page's one seed; with several changes, also over every
    quarter since the first). Empty before any change."""
    starts = [q for q in model.changed_at() if q <= model.quarter]
    if model.baseline is None or not starts:
        return "", []
    window = (starts[-1], model.quarter)
    span = report.window_label(window)
    compared = _compared(model, window)
    if len(starts) == 1:
        heading = (f"Since the change from quarter {window[0]}" + (f" ({span})" if window[0] < window[1] else "")
                   + f": this run against the baseline, one run on seed {model.page_seed}")
    else:
        heading = (f"Since the latest change, {span}: this run, with the changes from quarters {_listed(starts)} "
                   f"together, against the baseline, one run on seed {model.page_seed}")
    lines = ["One paired draw, not an estimate: a small change can flip sign on another seed. For a range, save "
             "the scenario and run channelsim compare on it.",
             answers._capital(_changes(compared, window[1] - window[0] + 1))]
    if len(starts) > 1:  # what the latest window leaves out: the earlier changes' quarters
        whole = (starts[0], model.quarter)
        lines.append(f"Over every quarter since the first change ({report.window_label(whole)}): "
                     + _changes(_compared(model, whole), whole[1] - whole[0] + 1))
    moved = report.sources(compared)
    for measure, unit in (("mindshare", "points"), ("revenue", "")):
        others = moved[(moved["measure"] == measure) & (moved["source"] != "focal")]
        if others.empty:
            continue
        named = [f"{report.SOURCE_NAMES.get(r.source, r.source)} "
                 + (_minus(answers._points(r.difference)) if unit else answers._dollars(r.difference))
                 for r in others.itertuples()]
        line = f"{measure.capitalize()} of the others in the same quarters: " + ", ".join(named) + (f" {unit}."
                                                                                                    if unit else ".")
        if measure == "revenue":
            line += " (Total demand moves too, so these need not offset the focal change.)"
        lines.append(line)
    return heading, lines


@solara.component
def Answer(model: ChannelApp):
    """The paired difference to the baseline since the last change, redrawn every quarter."""
    update_counter.get()
    heading, lines = answer(model)
    if not heading:
        return
    with solara.Card(heading, classes=["answer-card"], style={"margin": "0 8px"}):
        for text in lines:
            solara.Text(text, style={"display": "block"})


@solara.component
def Overview(model: ChannelApp):
    """The scenario picker, the quarter, problems with the levers, and the KPI cards."""
    update_counter.get()  # redrawn after every Step, as Mesa's own components are
    start, _, _ = settings()
    names = scenario_files(start.parent)
    params = model.params
    with solara.Column(style={"padding": "8px"}):
        solara.Select("Scenario", value=model.scenario_file, values=names,
                      on_value=chosen.set)
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>{html.escape(params.meta.title or model.scenario_file)}</b>"
                    + (f": {html.escape(params.meta.question)}" if params.meta.question else ""))
        for problem in model.problems:
            solara.Error(problem)
        solara.Text("This run: " + " · ".join(f"{lever.label}: {lever.shown(params)}" for lever in LEVERS),
                    classes=["this-run"])
        changed = model.lever_changes
        if changed:
            solara.Text(f"Levers changed from the scenario: {told(changed, '; ')}")
        solara.Checkbox(label="Overlay the baseline (the scenario as written, same seed; dashed)",
                        value=show_baseline)
        quarter = model.quarter
        solara.HTML(tag="h3", unsafe_innerHTML=f"Quarter {quarter} of {params.quarters}"
                    + ("" if quarter else ": press Step or ▶"), classes=["quarter"])
        if not quarter:
            return
        now = kpi_values(rows(model)[-1])
        before = kpi_values(rows(model)[-2]) if quarter > 1 else None
        with solara.Row(style={"flex-wrap": "wrap", "gap": "8px"}):
            for key, title, fmt in KPI_CARDS:
                with solara.Card(title, style={"min-width": "150px", "flex": "1"}, classes=["kpi-card"]):
                    solara.HTML(tag="div", unsafe_innerHTML=fmt(now[key]), style={"font-size": "1.6rem"})
                    solara.Text(delta_text(key, now[key], None if before is None else before[key]))


@solara.component
def RevenueChart(model: ChannelApp):
    update_counter.get()
    lines = [line(segment, series(model, f"revenue_{segment}", 1e-6), stack="segments") for segment in SEGMENTS]
    return chart(model, "Revenue by segment ($M a quarter)",
                 with_baseline(model, lines, "baseline (total)", "revenue", 1e-6), "$M")


@solara.component
def MindshareChart(model: ChannelApp):
    update_counter.get()
    lines = [line(model.focal.name, series(model, "mindshare"), width=3)]
    lines += [line(v.name, series(model, f"mindshare_{v.name}")) for v in model.vendors[1:]]
    return chart(model, "Mindshare: the focal vendor versus each rival",
                 with_baseline(model, lines, f"{model.focal.name} (baseline)", "mindshare"), "share of effort")


@solara.component
def SpendChart(model: ChannelApp):
    update_counter.get()
    names = [k.removeprefix("spend_") for k in (rows(model)[0] if model.quarter else {})
             if k.startswith("spend_") and k not in ("spend_total", "spend_pct_revenue")]
    bars = [{"type": "bar", "stack": "spend", "name": n, "data": series(model, f"spend_{n}", 1e-3)} for n in names]
    return chart(model, "Spend by instrument ($k a quarter)",
                 with_baseline(model, bars, "baseline (total)", "spend_total", 1e-3), "$k")


@solara.component
def TierChart(model: ChannelApp):
    update_counter.get()
    tiers = model.params.vendor.tiers.names
    items = [{"type": "bar", "stack": "tiers", "name": t, "data": series(model, f"partners_{t}")} for t in tiers]
    items += [line(event, series(model, event), yAxisIndex=1) for event in LIFECYCLE[:3]]
    return chart(model, "Partners by tier; recruits, exits and terminations", items, "partners", "a quarter")


PALETTE = ["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4"]


def partner_points(model: ChannelModel, by: str) -> tuple[list[dict], int, int]:
    """One scatter series per segment or tier: x size, y focal mindshare, mark size revenue, a hover text."""
    t = model.partners
    n = t.n
    rows_ = np.arange(n) if n <= SAMPLE else np.linspace(0, n - 1, SAMPLE).astype(np.int64)
    size = t.headcount[rows_].astype(float)
    share = t.effort[0, rows_].astype(float)
    revenue = t.revenue[0, rows_].astype(float)
    segment = t.segment_mix[:, rows_].argmax(axis=0)
    tier = t.tier[0, rows_].astype(np.int64)
    tiers = list(model.params.vendor.tiers.names)
    names = t.name[rows_]  # a roster's names; empty for generated partners
    top = max(float(revenue.max()) if len(revenue) else 0.0, 1.0)
    mark = 4 + 26 * np.sqrt(np.maximum(revenue, 0) / top)
    groups = list(SEGMENTS) if by == "segment" else tiers
    code = segment if by == "segment" else tier
    series_ = []
    for g, group in enumerate(groups):
        picked = np.flatnonzero(code == g)
        # a row a partner (x, y, mark size, hover text), the mark size mapped by the view's visualMap: flat rows
        # rather than an object a point, which the page walks and sends every quarter
        data = [[round(float(size[k]), 1), round(float(share[k]), 4), round(float(mark[k]), 1),
                 f"{names[k] or f'partner {int(t.local_id[rows_[k]])}'}\n{SEGMENTS[segment[k]]}, tier "
                 f"{tiers[tier[k]]}\n{size[k]:.0f} people\nmindshare {share[k]:.1%}\nrevenue ${revenue[k]:,.0f} "
                 "last quarter"] for k in picked]
        series_.append({"type": "scatter", "name": group, "data": data, "encode": {"x": 0, "y": 1, "itemName": 3},
                        "itemStyle": {"opacity": 0.7}, "color": PALETTE[g % len(PALETTE)]})
    return series_, len(rows_), n


@solara.component
def PartnerView(model: ChannelModel):
    update_counter.get()
    with solara.Column(style={"padding": "4px", "gap": "0px"}):
        with solara.Row(style={"align-items": "center"}):
            solara.Text("Colour partners by")
            solara.ToggleButtonsSingle(value=colour_by, values=["segment", "tier"], dense=True)
        if not model.quarter:
            solara.Text("Partners appear after the first quarter.")
            return
        data, shown, total = partner_points(model, colour_by.value)
        note = (f"all {total:,} partners" if shown == total
                else f"{shown:,} of {total:,} partners, sampled evenly")
        option = {
            "animation": False,
            "title": {"text": f"Partners: size vs mindshare ({note}); mark size = revenue",
                      "textStyle": {"fontSize": 14}},
            "tooltip": {"trigger": "item", "formatter": "{b}", "extraCssText": "white-space: pre-line;"},
            "legend": {"top": 24},
            "grid": {"top": 70, "left": 60, "right": 20, "bottom": 45},
            "xAxis": {"type": "log", "name": "partner size (people)", "nameLocation": "middle", "nameGap": 28},
            "yAxis": {"type": "value", "name": "mindshare (effort to focal)", "min": 0, "max": 1,
                      "nameLocation": "middle", "nameGap": 35},
            "series": data,
            # each point's mark size is its row's third value
            "visualMap": {"show": False, "dimension": 2, "min": 4, "max": 30, "inRange": {"symbolSize": [4, 30]}},
        }
        PushedFigure(Opaque(option), {"style": "height: 270px; width: 100%;"})


class Opaque:
    """A value the page's renderer passes on without walking into it (it walks lists and dicts looking for
    components: for a thousand partners, most of a quarter's redraw)."""

    __slots__ = ("value",)

    def __init__(self, value: Any):
        self.value = value


@solara.component
def PushedFigure(option: Opaque, attributes: dict):
    """An ECharts figure whose option is set on its widget directly once drawn, never passed through the renderer
    (which would also set it back at each redraw: the element is given no option at all)."""
    figure = EchartsWidget.element(attributes=attributes)

    def push():
        solara.get_widget(figure).option = option.value

    solara.use_effect(push, [option])
    return figure


# Components (not plain functions) so that Mesa's page keeps them, and their charts, across redraws
COMPONENTS = [MindshareChart, RevenueChart, SpendChart, TierChart, PartnerView]


def widget_values(model_params: dict[str, Any]) -> dict[str, Any]:
    """The values a page's model_params start at: a widget's value, or a fixed parameter as it is."""
    return {name: spec["value"] if isinstance(spec, dict) and "type" in spec else spec
            for name, spec in model_params.items()}


@solara.component
def Steering(model: solara.Reactive[ChannelApp], levers: solara.Reactive[dict]):
    """Apply the levers as they are set from the next quarter on; the changes so far; the run saved as a scenario."""
    update_counter.get()
    problems = solara.use_reactive([])
    solara.use_effect(lambda: problems.set([]), [model.value])  # a new run (Reset) starts with no messages

    def apply():
        problems.set(model.value.steer(levers.value))
        force_update()

    running = model.value
    solara.Button("Apply from next quarter", color="primary", on_click=apply, classes=["apply-button"],
                  style={"margin": "8px 0"})
    for problem in problems.value:
        solara.Error(problem)
    for change in running.steering:
        solara.Text(f"From quarter {change.quarter}: {told(change.said)}", classes=["steer-record"],
                    style={"display": "block"})
    def saved() -> bytes:
        try:
            return running.saved_scenario().encode()
        except ParameterError as error:  # said on the page, never a traceback in place of it
            problems.set([f"Save as scenario: {p}" for p in error.problems])
            return b""

    name = Path(running.scenario_file).stem
    solara.FileDownload(saved, filename=f"{name}-steered-seed{running.page_seed}"
                        f".toml", label="Save as scenario", mime_type="application/toml")


@solara.component
def Viz(model: solara.Reactive[ChannelApp]):
    """Mesa's SolaraViz page (its controller, parameter widgets and draggable charts), composed here so that the
    levers' values are at hand for Apply. Picking a scenario rebuilds the levers, not the charts (ECharts set up
    on a chart just removed fails in the browser)."""
    name = model.value.scenario_file
    # what Reset builds the next model from: every widget's value (the scenario and seed among them) from the start,
    # then each as changed (Mesa's ModelCreator only fills it in once mounted, and not on a remount)
    levers = solara.use_memo(lambda: solara.reactive(widget_values(model.value.model_params())), [name])
    play_interval = solara.use_reactive(100)
    with solara.AppBar():
        solara.AppBarTitle("channelsim")
        solara.lab.ThemeToggle()
    with solara.Sidebar(), solara.Column():
        with solara.Card("Controls"):
            solara.SliderInt(label="Play Interval (ms)", value=play_interval, min=1, max=500, step=10)
            ModelController(model, model_parameters=levers, play_interval=play_interval,
                            render_interval=solara.use_reactive(1), use_threads=solara.use_reactive(False))
        with solara.Card("Levers"):
            LeverCard(model, levers).key(name)  # keyed: another scenario's widgets start at its values
    ComponentsView(list(COMPONENTS), model.value)


@solara.component
def LeverCard(model: solara.Reactive[ChannelApp], levers: solara.Reactive[dict]):
    # (HTML, not Markdown: solara's Markdown fetches KaTeX from a CDN)
    solara.HTML(tag="div", unsafe_innerHTML="Reset starts over with the levers as set; <b>Apply from next "
                "quarter</b> changes the running channel from the next quarter on, the baseline going on "
                "unchanged.", style={"font-size": "0.85rem"})
    ModelCreator(model, model.value.model_params(), model_parameters=levers)
    Steering(model, levers)


def results_settings() -> tuple[Path | None, Path]:
    """The results folder opened first (CHANNELSIM_RESULTS: `channelsim viz --results DIR`; or none) and the folder
    whose results folders the picker lists (that one's parent; else ./out, where the commands write by default)."""
    given = os.environ.get("CHANNELSIM_RESULTS")
    first = Path(given).resolve() if given else None
    return first, (first.parent if first else Path.cwd() / "out")


def listed_folders(root: Path, first: Path | None) -> list[str]:
    folders = [str(f) for f in results_view.result_folders(root)] if root.is_dir() else []
    if first is not None and str(first) not in folders:
        folders.insert(0, str(first))
    return folders


@solara.component
def ResultsPage(picked: solara.Reactive[str]):
    """A picker of results folders (listed once a visit: a parent may hold thousands) and the one picked, read-only,
    from its files; `picked` is kept by the page, so that the Channel view and back finds it still open."""
    first, root = results_settings()
    folders = solara.use_memo(lambda: listed_folders(root, first), [str(root)])
    if not picked.value and folders:
        picked.set(folders[0])
    with solara.Column(style={"padding": "8px"}):
        if not folders:
            solara.Info(f"No results folder in {root}: write one with channelsim run, compare, sweep or calibrate "
                        "(--out DIR), or open one with channelsim viz --results DIR.")
            return
        solara.Select("Results folder", value=picked, values=folders)
        results_view.ResultsView(picked.value)


@solara.component
def Page():
    first, _ = results_settings()
    view = solara.use_reactive("Results" if first else "Channel")
    picked = solara.use_reactive(str(first) if first else "")  # the results folder shown
    start, _, _ = settings()
    name = chosen.value or start.name
    # the model the controller steps and rebuilds on Reset; held here too so the overview follows it (and kept
    # while the results are shown)
    model = solara.use_memo(lambda: solara.reactive(ChannelApp(scenario_file=name)), [name])
    solara.Style(".kpi-card .v-card__title { font-size: 0.85rem; word-break: normal; }")
    solara.ToggleButtonsSingle(value=view, values=["Channel", "Results"], classes=["view-picker"])
    if view.value == "Results":
        ResultsPage(picked)
        return
    Overview(model.value)
    Answer(model.value)
    Viz(model)
