"""The response card: how partner-sourced revenue, mindshare and the vendor's contribution answer each headline
lever, measured on common random numbers.

For each lever, three runs of a scenario on the same replicate seeds: as it is, with the lever at -10 % and at
+10 % (its value and every schedule entry that sets it). Replicate r of the three differs only by what the lever
did: each run is one model with a lane per replicate, and a lane is bit for bit the replicate run alone. Over the
window, the final 8 quarters of the horizon, per replicate:

    R              = partner-sourced revenue (`revenue`) summed over the window
    Δ revenue      = 100 (R₊ / R₀ - 1)                                         % , the +10 % change
    Δ mindshare    = 100 (mean mindshare₊ - mean mindshare₀) over the window    points
    Δ contribution = mean over the window of vendor_contribution₊ - vendor_contribution₀   $ a quarter
    elasticity     = (ln R₊ - ln R₋) / (ln 1.1 - ln 0.9)                        arc elasticity of revenue

each with its mean over the replicates and a 95 % t interval. The incentive return of the +10 % change is a ratio
of paired means over the window,

    incentive ROI  = (mean ΔGP - mean ΔC) / mean ΔC,   GP = vendor_gross_profit,  C = discount + spend_total

(the channel cost: every dollar the programme costs the vendor), with Fieller's 95 % interval for a ratio of
means; blank where mean ΔC <= 0 (a saving, or no cost: a ratio of two falls is not a return), open where ΔC
cannot be told from zero. Then the elasticities of issue 12 point 2, each by a small exogenous perturbation on
the same seeds:

    selling effort       (ln R(s x 1.1) - ln R(s)) / ln 1.1, s = market.focal_effort_scale (the focal vendor's
                         selling effort as the market sees it, partners' choices untouched), R over the window
    demand generation,   market.demand_generation_scale x 1.1 (the partners' demand-generation spending, their own
      short-term         marketing and the MDF they claim) from quarter q0 = quarters // 2 + 1 on (a schedule entry;
                         the run is the base run, bit for bit, until q0): Δ ln R over quarters q0 and q0 + 1, / ln 1.1
    demand generation,   the same change: Δ ln R over the final 8 quarters (from q0 at the earliest), / ln 1.1
      long-term

against the ranges of the meta-analyses (Albers, Mantrala & Sridhar 2010: selling effort 0.34, most 0.2-0.5;
Sethuraman, Tellis & Briesch 2011: advertising ~0.12 short-term, ~0.24 long-term).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from tqdm import tqdm

from sim import runner
from sim.errors import InputError
from sim.outputs import write_atomically
from sim.params import Change, Scenario, applied_order, build_scenario
from sim.tree import ParameterError

STEP = 0.10  # the paired change of each lever, down and up
WINDOW = 8  # quarters: the final two years of the horizon
KIND = "responses"  # the `kind` a card's JSON carries: the file is channelsim's to replace


@dataclass(frozen=True)
class Lever:
    name: str  # as --levers names it
    path: str
    label: str


LEVERS = (
    Lever("margin", "vendor.margin.base", "front-end margin"),
    Lever("rebate", "vendor.rebate.rate", "rebate"),
    Lever("mdf", "vendor.mdf.budget", "MDF"),
    Lever("cams", "vendor.cams.hours_per_quarter", "CAM time"),
    Lever("spif", "vendor.spif.amount", "SPIF"),
    Lever("deal_registration", "vendor.deal_registration.points", "deal registration"),
    Lever("certification", "vendor.certification.budget", "certification funding"),
)
# raised part-way through, it measures demand generation's elasticities (MDF is one part of what it scales)
DEMAND_GENERATION = "market.demand_generation_scale"


@dataclass(frozen=True)
class Target:
    low: float
    high: float
    source: str


# domain.md, "Response magnitudes"
EFFORT_TARGET = Target(0.2, 0.5, "Albers, Mantrala & Sridhar 2010 (mean 0.34)")
DEMAND_GENERATION_SHORT = Target(0.05, 0.2, "Sethuraman, Tellis & Briesch 2011 (~0.12)")
DEMAND_GENERATION_LONG = Target(0.15, 0.35, "Sethuraman, Tellis & Briesch 2011 (~0.24)")


def pick_levers(text: str | None) -> list[Lever]:
    """The levers `--levers` names (comma-separated names or paths), in the card's order; all when None."""
    if text is None:
        return list(LEVERS)
    asked = [part.strip() for part in text.split(",") if part.strip()]
    known = {lever.name: lever for lever in LEVERS} | {lever.path: lever for lever in LEVERS}
    unknown = [name for name in asked if name not in known]
    if unknown or not asked:
        what = f"unknown lever {unknown[0]!r}" if unknown else "no lever named"
        raise InputError(f"--levers {text}: {what}; levers are {', '.join(lever.name for lever in LEVERS)} "
                         "(or their paths, e.g. vendor.rebate.rate)")
    chosen = {known[name].name for name in asked}
    return [lever for lever in LEVERS if lever.name in chosen]


def why_off(params: Scenario, lever: Lever) -> str | None:
    """Why a lever has nothing to move in this scenario (its instrument is off), or None."""
    node = lever.path.rpartition(".")[0]
    table = params.get(node)
    if table.get("enabled") is False:
        return f"{node}.enabled = false"
    if lever.name == "mdf" and table["mode"] == "accrual":
        return 'vendor.mdf.mode = "accrual": the budget is not what is spent'
    if lever.name == "cams" and table["coverage"] == "digital":
        return 'vendor.cams.coverage = "digital": no CAM hours are given'
    if lever.name == "cams" and table["count"] == 0:
        return "vendor.cams.count = 0"
    if params.get(lever.path) == 0 and not any(_settings(c.set, lever.path) for c in params.schedule):
        return f"{lever.path} = 0: 10 % of nothing is no change"
    return None


# --------------------------------------------------------------------------- perturbed scenarios


def _settings(entry: dict[str, Any], path: str) -> list[tuple[dict, str]]:
    """Where a schedule entry's `set` gives `path` a value: (the table holding it, its key); by the path itself
    or inside a table the entry sets whole."""
    found = []
    for key, value in entry.items():
        if key == path:
            found.append((entry, key))
        elif path.startswith(f"{key}."):
            node, *rest = [value, *path[len(key) + 1:].split(".")]
            for part in rest[:-1]:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict) and rest[-1] in node:
                found.append((node, rest[-1]))
    return found


def in_effect(params: Scenario, path: str, quarter: int) -> Any:
    """The value of `path` in quarter `quarter`: its start value, or the last schedule entry up to then that sets it."""
    value = params.get(path)
    for _, change in applied_order(params.schedule):
        if change.quarter <= quarter:
            for table, key in _settings(change.set, path):
                value = table[key]
    return value


def scaled(params: Scenario, path: str, factor: float, from_quarter: int | None = None) -> Scenario:
    """`params` with the parameter at `path` times `factor`: from the start, with every schedule entry that sets it;
    or, with `from_quarter`, from that quarter on (a schedule entry added there, the entries after it scaled).
    Raises ParameterError where the scaled value leaves the parameter's bounds."""
    data = params.model_dump()
    for entry in data["schedule"]:
        if from_quarter is None or entry["quarter"] > from_quarter:
            for table, key in _settings(entry["set"], path):
                table[key] = table[key] * factor
    if from_quarter is None:
        return build_scenario(data, {path: params.get(path) * factor})
    # applied after the entries of the same quarter (the schedule is applied by quarter, then as listed)
    value = in_effect(params, path, from_quarter) * factor
    data["schedule"].append(Change(quarter=from_quarter, set={path: value}).model_dump())
    return build_scenario(data)


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class Estimate:
    """A mean over replicates with its 95 % interval (NaN where there is none)."""

    mean: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float | None]:
        return {key: _finite(getattr(self, key)) for key in ("mean", "low", "high")}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def t_estimate(values: np.ndarray) -> Estimate:
    """Mean and 95 % t interval of per-replicate values (paired differences)."""
    values = np.asarray(values, dtype=np.float64)
    mean = float(values.mean())
    if values.size < 2 or not np.isfinite(values).all():
        return Estimate(mean, math.nan, math.nan)
    half = float(stats.t.ppf(0.975, values.size - 1)) * float(values.std(ddof=1)) / math.sqrt(values.size)
    return Estimate(mean, mean - half, mean + half)


def ratio_estimate(numerator: np.ndarray, denominator: np.ndarray) -> Estimate:
    """mean(numerator) / mean(denominator) over paired replicates with Fieller's 95 % interval: the ratios r with
    (ā - r b̄)² <= t² var(a - r b) / n. Open (NaN bounds) where the denominator's mean cannot be told from zero."""
    a, b = np.asarray(numerator, np.float64), np.asarray(denominator, np.float64)
    n = a.size
    ratio = float(a.mean() / b.mean()) if b.mean() != 0 else math.nan
    if n < 2 or not math.isfinite(ratio):
        return Estimate(ratio, math.nan, math.nan)
    q = float(stats.t.ppf(0.975, n - 1)) ** 2 / n
    covariance = np.cov(a, b, ddof=1)
    square = b.mean() ** 2 - q * covariance[1, 1]
    if square <= 0:
        return Estimate(ratio, math.nan, math.nan)
    middle = a.mean() * b.mean() - q * covariance[0, 1]
    spread = math.sqrt(max(middle ** 2 - square * (a.mean() ** 2 - q * covariance[0, 0]), 0.0))
    return Estimate(ratio, (middle - spread) / square, (middle + spread) / square)


def window_of(quarters: int, first: int = 1) -> tuple[int, int]:
    """The final WINDOW quarters of the horizon (all of it if shorter), from `first` at the earliest."""
    return max(first, quarters - WINDOW + 1, 1), quarters


def totals(frames: Sequence[pd.DataFrame], column: str, window: tuple[int, int]) -> np.ndarray:
    """Per replicate, `column` summed over the window's quarters."""
    first, last = window
    return np.array([frame.loc[frame["quarter"].between(first, last), column].sum() for frame in frames],
                    dtype=np.float64)


def means(frames: Sequence[pd.DataFrame], column: str, window: tuple[int, int]) -> np.ndarray:
    """Per replicate, `column` averaged over the window's quarters."""
    return totals(frames, column, window) / (window[1] - window[0] + 1)


def channel_cost(frames: Sequence[pd.DataFrame], window: tuple[int, int]) -> np.ndarray:
    """What the programme cost the vendor over the window: the front-end discount and every instrument's spend."""
    return totals(frames, "discount", window) + totals(frames, "spend_total", window)


@dataclass
class LeverRow:
    lever: Lever
    base: float
    revenue_pct: Estimate  # Δ partner-sourced revenue, %, +10 %
    mindshare_points: Estimate  # Δ mindshare, points, +10 %
    contribution: Estimate  # Δ vendor_contribution, $ a quarter, +10 %
    elasticity: Estimate  # arc elasticity of revenue over -10 % .. +10 %
    roi: Estimate | None  # incentive ROI of +10 %; None where the channel cost did not rise
    roi_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.lever.name, "path": self.lever.path, "label": self.lever.label, "base": self.base,
                "revenue_pct": self.revenue_pct.to_dict(), "mindshare_points": self.mindshare_points.to_dict(),
                "contribution_per_quarter": self.contribution.to_dict(), "elasticity": self.elasticity.to_dict(),
                "incentive_roi": self.roi.to_dict() if self.roi else None, "roi_note": self.roi_note}


def lever_row(lever: Lever, base_value: float, base: Sequence[pd.DataFrame], minus: Sequence[pd.DataFrame],
              plus: Sequence[pd.DataFrame], window: tuple[int, int], step: float = STEP) -> LeverRow:
    """A lever's row from the paired runs (replicate r of each on the same seed) over the window."""
    r0, r_minus, r_plus = (totals(frames, "revenue", window) for frames in (base, minus, plus))
    with np.errstate(divide="ignore", invalid="ignore"):
        revenue = t_estimate(100.0 * (r_plus / r0 - 1.0))
        elasticity = t_estimate((np.log(r_plus) - np.log(r_minus)) / (math.log1p(step) - math.log1p(-step)))
    mindshare = t_estimate(100.0 * (means(plus, "mindshare", window) - means(base, "mindshare", window)))
    contribution = t_estimate(means(plus, "vendor_contribution", window) - means(base, "vendor_contribution", window))
    gross = totals(plus, "vendor_gross_profit", window) - totals(base, "vendor_gross_profit", window)
    cost = channel_cost(plus, window) - channel_cost(base, window)
    roi, note = None, ""
    if cost.mean() <= 0:
        note = ("the channel cost did not change: no return to measure" if cost.mean() == 0 else
                "the channel cost fell: no return to measure (a ratio of two falls is not a gain)")
    else:
        roi = ratio_estimate(gross - cost, cost)
        if not math.isfinite(roi.low):
            note = "the channel cost rose, but not in enough replicates to bound the return"
    return LeverRow(lever, base_value, revenue, mindshare, contribution, elasticity, roi, note)


@dataclass
class Elasticity:
    name: str
    label: str
    estimate: Estimate | None
    target: Target
    how: str  # the perturbation and the window
    note: str = ""

    @property
    def verdict(self) -> str:
        if self.estimate is None or not math.isfinite(self.estimate.mean):
            return ""
        if self.estimate.mean < self.target.low:
            return "below"
        return "above" if self.estimate.mean > self.target.high else "in range"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label,
                "estimate": self.estimate.to_dict() if self.estimate else None,
                "target": {"low": self.target.low, "high": self.target.high, "source": self.target.source},
                "verdict": self.verdict, "how": self.how, "note": self.note}


def log_response(base: Sequence[pd.DataFrame], changed: Sequence[pd.DataFrame], window: tuple[int, int],
                 factor: float) -> Estimate:
    """Per replicate (ln R_changed - ln R_base) / ln factor, R the revenue summed over the window."""
    with np.errstate(divide="ignore", invalid="ignore"):
        values = (np.log(totals(changed, "revenue", window)) - np.log(totals(base, "revenue", window)))
        return t_estimate(values / math.log(factor))


# --------------------------------------------------------------------------- the card


@dataclass
class Card:
    scenario: str  # the scenario file, as shown
    title: str
    quarters: int
    partners: int
    replicates: int
    seed: int
    seeds: list[int]
    window: tuple[int, int]
    rows: list[LeverRow] = field(default_factory=list)
    skipped: list[tuple[Lever, str]] = field(default_factory=list)
    elasticities: list[Elasticity] = field(default_factory=list)
    runs: int = 0
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from sim import __version__

        return {"written_by": f"channelsim {__version__}", "kind": KIND, "scenario": self.scenario,
                "title": self.title, "quarters": self.quarters, "partners": self.partners,
                "replicates": self.replicates, "seed": self.seed, "seeds": self.seeds, "step": STEP,
                "window": {"first": self.window[0], "last": self.window[1]},
                "levers": [row.to_dict() for row in self.rows],
                "skipped": [{"name": lever.name, "path": lever.path, "reason": why} for lever, why in self.skipped],
                "elasticities": [item.to_dict() for item in self.elasticities],
                "runs": self.runs, "seconds": round(self.seconds, 1)}


def _within_bounds(build: Callable[[], Any], change: str) -> tuple[Any, str]:
    """What `build` makes, or why it cannot: a change that takes a parameter out of its bounds."""
    try:
        return build(), ""
    except ParameterError as error:
        return None, f"{change} leaves its bounds ({'; '.join(error.problems)})"


def measure(params: Scenario, replicates: int, seed: int, levers: Sequence[Lever] = LEVERS, scenario: str = "",
            progress: bool = True, run: Callable[[Scenario, list[int]], list[pd.DataFrame]] | None = None) -> Card:
    """The response card of `params`: `replicates` replicates on the seeds `channelsim run` gives them under `seed`.
    `run` runs one scenario's replicates on the seeds and returns their quarterly frames (default: side by side, as
    the lanes of one model)."""
    run = run or (lambda p, seeds: [r.quarters for r in runner.run_replicates(p, seeds)])
    started = time.perf_counter()
    seeds = [runner.replicate_seed(seed, r) for r in range(replicates)]
    quarters = params.quarters
    window = window_of(quarters)
    card = Card(scenario, params.meta.title, quarters, params.partners.count, replicates, seed, seeds, window)

    planned: list[tuple[Lever, Scenario, Scenario]] = []
    for lever in levers:
        reason = why_off(params, lever)
        if reason is None:
            pair, reason = _within_bounds(lambda path=lever.path: (scaled(params, path, 1.0 - STEP),
                                                                   scaled(params, path, 1.0 + STEP)), f"±{STEP:.0%}")
        if reason:
            card.skipped.append((lever, reason))
        else:
            planned.append((lever, *pair))
    change = quarters // 2 + 1
    generation_changed, generation_reason = _within_bounds(
        lambda: scaled(params, DEMAND_GENERATION, 1.0 + STEP, from_quarter=change), f"+{STEP:.0%}")
    effort = params.market.focal_effort_scale
    effort_changed, effort_reason = _within_bounds(
        lambda: params.with_overrides({"market.focal_effort_scale": effort * (1.0 + STEP)}), f"+{STEP:.0%}")

    total = 1 + 2 * len(planned) + (effort_changed is not None) + (generation_changed is not None)
    with tqdm(total=total, desc="responses", unit="run", disable=not progress, file=sys.stderr, leave=False) as bar:
        def done(p: Scenario) -> list[pd.DataFrame]:
            frames = run(p, seeds)
            bar.update(1)
            card.runs += 1
            return frames

        base = done(params)
        for lever, minus, plus in planned:
            card.rows.append(lever_row(lever, params.get(lever.path), base, done(minus), done(plus), window))
        effort_response = None if effort_changed is None else log_response(base, done(effort_changed), window,
                                                                              1.0 + STEP)
        card.elasticities.append(Elasticity(
            "selling_effort", "revenue to focal selling effort", effort_response, EFFORT_TARGET,
            "" if effort_changed is None else f"market.focal_effort_scale {effort:g} -> {effort * (1.0 + STEP):g} "
                                              f"over the whole run; revenue over quarters {window[0]}-{window[1]}",
            effort_reason))
        if generation_changed is not None:
            generation = done(generation_changed)
            short = (change, min(change + 1, quarters))
            long = window_of(quarters, first=change)
            card.elasticities += [
                Elasticity("demand_generation_short_term", "revenue to demand generation, short-term",
                           log_response(base, generation, short, 1.0 + STEP), DEMAND_GENERATION_SHORT,
                           f"{DEMAND_GENERATION} x 1.1 (partners' own marketing and MDF) from quarter {change}; "
                           f"revenue over quarters {short[0]}-{short[1]} (the first two under the change)"),
                Elasticity("demand_generation_long_term", "revenue to demand generation, long-term",
                           log_response(base, generation, long, 1.0 + STEP),
                           DEMAND_GENERATION_LONG,
                           f"the same change; revenue over quarters {long[0]}-{long[1]} (the final "
                           f"{long[1] - long[0] + 1})")]
        else:
            card.elasticities += [
                Elasticity("demand_generation_short_term", "revenue to demand generation, short-term", None,
                           DEMAND_GENERATION_SHORT, "", generation_reason),
                Elasticity("demand_generation_long_term", "revenue to demand generation, long-term", None,
                           DEMAND_GENERATION_LONG, "", generation_reason)]
    card.seconds = time.perf_counter() - started
    return card


# --------------------------------------------------------------------------- printing


def _signed(value: float, digits: int) -> str:
    return "" if not math.isfinite(value) else f"{value:+.{digits}f}"


def _plain(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() and abs(value) >= 1000 else f"{value:g}"


def _money(value: float) -> str:
    if not math.isfinite(value):
        return ""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(value) >= size:
            return f"{value / size:+.2f}{suffix}"
    return f"{value:+.0f}"


def _shown(estimate: Estimate | None, form: Callable[[float], str]) -> str:
    if estimate is None or not math.isfinite(estimate.mean):
        return ""
    if not (math.isfinite(estimate.low) and math.isfinite(estimate.high)):
        return f"{form(estimate.mean)} [open]"
    return f"{form(estimate.mean)} [{form(estimate.low)}, {form(estimate.high)}]"


def render(card: Card) -> str:
    """The card as text: header, lever table, elasticities, notes."""
    first, last = card.window
    lines = [f"response card: {card.title} ({card.scenario})" if card.scenario else f"response card: {card.title}",
             f"{card.replicates} replicates x {card.quarters} quarters, {card.partners:,} partners; base seed "
             f"{card.seed}, replicate seeds {', '.join(str(s) for s in card.seeds)}",
             f"each lever -10 % and +10 % on the same seeds as the base; window: quarters {first}-{last} "
             f"(revenue summed, mindshare and contribution averaged); mean [95 % interval]", ""]
    if card.rows:
        table = pd.DataFrame([{
            "lever": row.lever.label, "path": row.lever.path, "base": _plain(row.base),
            "Δ revenue % (+10 %)": _shown(row.revenue_pct, lambda v: _signed(v, 1)),
            "Δ mindshare pts": _shown(row.mindshare_points, lambda v: _signed(v, 2)),
            "Δ contribution $/qtr": _shown(row.contribution, _money),
            "elasticity": _shown(row.elasticity, lambda v: f"{v:.2f}"),
            "incentive ROI": _shown(row.roi, lambda v: _signed(v, 2)),
        } for row in card.rows])
        lines += table.to_string(index=False).splitlines()
        lines.append("")
    table = pd.DataFrame([{
        "elasticity": item.label, "measured": _shown(item.estimate, lambda v: f"{v:.3f}"),
        "target": f"{item.target.low:g}-{item.target.high:g}", "": item.verdict, "source": item.target.source,
    } for item in card.elasticities])
    lines += table.to_string(index=False).splitlines()
    notes = [f"{item.label}: {item.how or item.note}" for item in card.elasticities]
    notes += [f"{lever.label} ({lever.path}) not measured: {why}" for lever, why in card.skipped]
    notes += [f"{row.lever.label}: incentive ROI {'blank' if row.roi is None else 'interval'}: {row.roi_note}"
              for row in card.rows if row.roi_note]
    notes += ["elasticity = (ln R(+10 %) - ln R(-10 %)) / (ln 1.1 - ln 0.9), R the revenue over the window",
              "incentive ROI = (Δ vendor_gross_profit - Δ channel cost) / Δ channel cost, channel cost = discount + "
              "spend_total over the window (Fieller interval)"]
    lines += ["", "notes:"] + [f"  {note}" for note in notes]
    lines.append(f"{card.runs} runs in {card.seconds:.0f} s")
    return "\n".join(lines)


# --------------------------------------------------------------------------- the JSON file


def check_json_path(path: Path) -> Path:
    """Refuse a `--json` path channelsim may not write, before any work: a folder, a path under a file, a folder
    this user cannot write in, or an existing file that is not a response card channelsim wrote (a user's file is
    never replaced). Returns it resolved; nothing is created or changed."""
    shown = f"--json {path}"
    try:
        target = Path(path).resolve()
    except (RuntimeError, OSError) as error:  # RuntimeError: Python 3.12's word for a symlink loop
        raise InputError(f"{shown}: cannot be resolved: a symbolic link that loops or a path that cannot be read "
                         f"({error})") from None
    try:
        if target.is_dir():
            raise InputError(f"{shown}: is a folder; give the path of a file, e.g. out/responses.json")
        existing = target.parent
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            raise InputError(f"{shown}: {existing} is a file, so nothing can be written under it")
        if not os.access(existing, os.W_OK | os.X_OK):
            raise InputError(f"{shown}: cannot write in {existing} (permission denied)")
        if target.exists() and not _ours(target):
            raise InputError(f"{shown}: exists and is not a response card channelsim wrote; it would be replaced. "
                             "Move it or choose another path")
    except OSError as error:  # a name too long, a folder that cannot be read, ...
        raise InputError(f"{shown}: cannot be used ({error.strerror or error})") from None
    return target


def _ours(path: Path) -> bool:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return (isinstance(data, dict) and data.get("kind") == KIND
            and str(data.get("written_by", "")).startswith("channelsim"))


def write_json(card: Card, path: Path) -> None:
    """The card as JSON at `path` (checked with `check_json_path`), whole or not at all: written beside it and
    renamed over it in one step; on any failure the previous file is as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(path, (json.dumps(card.to_dict(), indent=2, allow_nan=False) + "\n").encode("utf-8"))
