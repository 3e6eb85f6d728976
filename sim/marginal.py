"""Marginal returns of a CAM hour and an MDF dollar, by partner segment and velocity, measured by paired perturbation.

The quarterly `revenue_per_cam_hour_<segment>` is an average: the revenue of the partners CAMs already cover over
their hours. Where to put the *next* hour is a marginal question. For each lever and each group g of partners
(main segment s = argmax of the segment mix, velocity class v: high when the sales cycle is under half a quarter),
the scenario is run as it is and with the scenario's `probe` on g — a small extra given to each partner of g outside
the digital tier from quarter q0 on, on top of what the programme allocates (`PROBE_SIZE`: CAM hours a quarter, paid
at the CAMs' cost per hour; MDF dollars a quarter, claimed as MDF is claimed) — on the same replicate seeds, so
replicate r of the two runs is the same channel until q0 and differs after only by what the extra caused. Over the
window W (quarters first..last, from q0 on), per replicate r:

    ΔR_r     = sum over W of partner-sourced revenue (`revenue`), probe run - base run
    ΔK_r     = sum over W of `vendor_contribution` (gross profit after every channel cost: the extra's cost included)
    extra_r  = CAM hours: sum over W of Δ `cam_hours_available` (the probe's hours, exactly);
               MDF: sum over W of Δ `mdf_claimed` (what the partners claim of the probe's dollars, with any change
               in what they claim of the plan's allocation as it follows their revenue: the MDF the probe adds to
               spending)

    revenue_per_unit      = mean ΔR / mean extra,        contribution_per_unit = mean ΔK / mean extra

ratios of paired means over the replicates, with Fieller's 95 % interval for a ratio of means
(`sim.responses.ratio_estimate`; open, NaN, where the extra cannot be told from zero). Whatever revenue the extra
takes from other partners in the same cells of demand, from rivals or from direct sales is in ΔR and ΔK: it is the
vendor's return on the unit, not the group's. With W the final quarters of a long run the ratio is one of flows in a
steady state, so it counts the carry-over of earlier units (goodwill, capability, the pipeline) too.

For contrast, the *average* over the group's partners that already get the lever in the base run, over W and every
replicate: sum of their revenue / sum of their CAM hours (or of the MDF they claimed); NaN where none gets it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from sim import runner
from sim.errors import InputError
from sim.params import SEGMENTS, VELOCITIES, Probe, Scenario
from sim.responses import ratio_estimate, totals, window_of

LEVERS = ("cam_hours", "mdf")
# the extra given to each partner of a group, a quarter: small against what a partner gets. Dedicated coverage gives
# a managed partner 500 / 8 = 62.5 CAM hours a quarter and the default MDF budget an eligible partner about $4,000 a
# quarter on average (median about $1,200). 10 hours is a sixth of a managed partner's hours and a quarter of the
# co-selling half-hours (40); $1,000 is a quarter of a mean MDF allocation, about a third of what a partner's
# marketer spends on demand generation a quarter. Measured on the baseline (16 replicates), returns per unit at
# 5 and 10 hours agree within their intervals and fall at 20 (diminishing returns); per MDF dollar they fall already
# from $1,000 to $2,000 (a partner's marketers absorb only so much), so the smaller size
PROBE_SIZE = {"cam_hours": 10.0, "mdf": 1_000.0}
# the quarterly metric whose paired change is the extra given, and what the average divides by in the partner panel
EXTRA = {"cam_hours": "cam_hours_available", "mdf": "mdf_claimed"}
PANEL_UNIT = {"cam_hours": "cam_hours", "mdf": "mdf_claimed"}
UNIT = {"cam_hours": "CAM hour", "mdf": "MDF dollar"}
COLUMNS = ["lever", "segment", "velocity", "partners", "extra", "revenue_per_unit", "revenue_ci_low",
           "revenue_ci_high", "contribution_per_unit", "contribution_ci_low", "contribution_ci_high", "average"]


def plan(params: Scenario, window: tuple[int, int] | None = None) -> tuple[int, tuple[int, int]]:
    """The probe's first quarter q0 and the window W. q0 = quarters // 2 + 1, the quarter after half the horizon, or
    the window's first quarter when that is earlier; W the window given, by default the final 8 quarters of the
    horizon from q0 on. A window well after q0 reads the steady state of a lasting extra; one that starts with it,
    its first quarters. Raises InputError for a window outside the horizon or in the wrong order."""
    quarters = params.quarters
    start = quarters // 2 + 1
    if window is None:
        return start, window_of(quarters, first=start)
    first, last = window
    if not 1 <= first <= last <= quarters:
        raise InputError(f"window {first}-{last}: give quarters first <= last within the horizon 1-{quarters}")
    return min(start, first), (first, last)


def probed(params: Scenario, lever: str, segment: str, velocity: str, start: int, size: float | None = None
           ) -> Scenario:
    """`params` with the probe of `lever` on the group (segment, velocity) from quarter `start` (size: PROBE_SIZE)."""
    amount = PROBE_SIZE[lever] if size is None else size
    return params.with_overrides({"probe": Probe(segment=segment, velocity=velocity, start=start,
                                                 **{lever: amount}).model_dump()})


def group_panel(panel: pd.DataFrame, window: tuple[int, int]) -> pd.DataFrame:
    """The panel's rows in the window, with their group."""
    rows = panel[panel["quarter"].between(*window)]
    return rows.assign(segment=rows["segment"].astype(str), velocity=rows["velocity_class"].astype(str))


def group_sizes(rows: pd.DataFrame, replicates: int, window: tuple[int, int]) -> pd.Series:
    """Mean partners in each group a quarter of the window, over the replicates; groups with none left out."""
    quarters = window[1] - window[0] + 1
    return rows.groupby(["segment", "velocity"]).size() / (replicates * quarters)


def average(rows: pd.DataFrame, lever: str, segment: str, velocity: str) -> float:
    """Revenue per unit of the lever over the group's partner-quarters that got some of it (NaN: none did)."""
    unit = PANEL_UNIT[lever]
    got = rows[(rows["segment"] == segment) & (rows["velocity"] == velocity) & (rows[unit] > 0)]
    given = got[unit].to_numpy(np.float64).sum()
    return float(got["revenue"].to_numpy(np.float64).sum() / given) if given > 0 else math.nan


def by_replicate(quarters: pd.DataFrame) -> list[pd.DataFrame]:
    """A scenario's quarters frame split into one frame per replicate, in replicate order."""
    return [frame for _, frame in quarters.groupby("replicate", sort=True)]


def measure(params: Scenario, replicates: int, seed: int, levers: Sequence[str] = LEVERS,
            window: tuple[int, int] | None = None, workers: int = 1, progress: bool = False) -> pd.DataFrame:
    """The marginal returns of `params` (any probe it states replaced): one row per lever x group with partners in the
    window, in the order of `levers`, SEGMENTS and VELOCITIES, the columns of COLUMNS (see the module's docstring).
    `replicates` replicates on the seeds `channelsim run` gives them under `seed`."""
    unknown = [lever for lever in levers if lever not in LEVERS]
    if unknown or not levers:
        raise InputError(f"levers {', '.join(levers) or '(none)'}: the levers are {', '.join(LEVERS)}")
    start, window = plan(params, window)
    base = params.with_overrides({"probe": Probe().model_dump()})
    outcome = runner.run([("base", base)], replicates, seed, workers=workers, partners=True, progress=progress)["base"]
    rows = group_panel(outcome.partners, window)
    sizes = group_sizes(rows, replicates, window)
    groups = [(s, v) for s in SEGMENTS for v in VELOCITIES if (s, v) in sizes.index]
    runs = {f"{lever}:{s}:{v}": probed(base, lever, s, v, start) for lever in levers for s, v in groups}
    outcomes = runner.run(list(runs.items()), replicates, seed, workers=workers, progress=progress)
    reference = by_replicate(outcome.quarters)
    out = []
    for lever in levers:
        for segment, velocity in groups:
            changed = by_replicate(outcomes[f"{lever}:{segment}:{velocity}"].quarters)
            change = {column: totals(changed, column, window) - totals(reference, column, window)
                      for column in ("revenue", "vendor_contribution", EXTRA[lever])}
            extra = change[EXTRA[lever]]
            revenue = ratio_estimate(change["revenue"], extra)
            contribution = ratio_estimate(change["vendor_contribution"], extra)
            out.append({"lever": lever, "segment": segment, "velocity": velocity,
                        "partners": float(sizes[segment, velocity]), "extra": float(extra.mean()),
                        "revenue_per_unit": revenue.mean, "revenue_ci_low": revenue.low,
                        "revenue_ci_high": revenue.high, "contribution_per_unit": contribution.mean,
                        "contribution_ci_low": contribution.low, "contribution_ci_high": contribution.high,
                        "average": average(rows, lever, segment, velocity)})
    table = pd.DataFrame(out, columns=COLUMNS)
    table.attrs.update(window=window, start=start, replicates=replicates, seed=seed,
                       sizes={lever: PROBE_SIZE[lever] for lever in levers})
    return table


# --------------------------------------------------------------------------- printing


def _money(value: float) -> str:
    if not math.isfinite(value):
        return ""
    sign = "-" if value < 0 else ""
    return f"{sign}${abs(value):,.0f}" if abs(value) >= 100 else f"{sign}${abs(value):,.2f}"


def _signed(value: float) -> str:
    return "" if not math.isfinite(value) else ("+" if value >= 0 else "") + _money(value)


def _interval(mean: float, low: float, high: float, form) -> str:
    if not math.isfinite(mean):
        return ""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{form(mean)} [open]"
    return f"{form(mean)} [{form(low)}, {form(high)}]"


def _group(row) -> str:
    return f"{row['velocity']}-velocity {row['segment']}"


def reading(table: pd.DataFrame, lever: str | None = None) -> str:
    """One sentence on a lever's rows (every lever of the table, one sentence each, when None): the group whose next
    unit brings the most revenue, with its interval, its contribution (after the unit's cost) and the average beside
    it, and the runner-up when the interval reaches down to it; then the groups that come first by contribution and
    by the average, where they are others."""
    if lever is None:
        return " ".join(reading(table, name)[:1].upper() + reading(table, name)[1:] + "."
                        for name in dict.fromkeys(table["lever"]))
    rows = table[(table["lever"] == lever) & np.isfinite(table["revenue_per_unit"])]
    unit = UNIT[lever]
    if rows.empty:
        return f"the next {unit}: no group measured"
    measured = rows[rows["revenue_ci_low"] > 0]  # a return told apart from none
    if measured.empty:
        best = rows.loc[rows["revenue_per_unit"].idxmax()]
        said = _interval(best["revenue_per_unit"], best["revenue_ci_low"], best["revenue_ci_high"], _money)
        return (f"the next {unit}'s revenue cannot be told from none on any group at these replicates (highest: "
                f"{_group(best)}, {said}); run more replicates")
    best = measured.loc[measured["revenue_per_unit"].idxmax()]
    text = (f"the next {unit} returns most on {_group(best)} partners: "
            f"{_interval(best['revenue_per_unit'], best['revenue_ci_low'], best['revenue_ci_high'], _money)} of "
            f"revenue and {_signed(best['contribution_per_unit'])} of contribution per {unit}")
    if math.isfinite(best["average"]):
        text += f" (average over those already given it: {_money(best['average'])})"
    others = rows.drop(index=best.name)
    if not others.empty:
        second = others.loc[others["revenue_per_unit"].idxmax()]
        if not best["revenue_ci_low"] > second["revenue_per_unit"]:  # an open interval (NaN) included
            text += f", not told apart from {_group(second)} ({_money(second['revenue_per_unit'])})"
    earning = rows[np.isfinite(rows["contribution_per_unit"])]
    if not earning.empty:
        first = earning.loc[earning["contribution_per_unit"].idxmax()]
        if first.name != best.name:
            text += f"; by contribution, {_group(first)} ({_signed(first['contribution_per_unit'])})"
        if (earning["contribution_per_unit"] < 0).all():
            text += "; on no group does it pay its cost"
    averaged = rows[np.isfinite(rows["average"])]
    if not averaged.empty:
        first = averaged.loc[averaged["average"].idxmax()]
        if first.name != best.name:
            text += f"; ranked by the average, {_group(first)} would come first"
    return text


def render(table: pd.DataFrame) -> str:
    """The table as plain text for the terminal: per lever, one line per group (marginal returns per unit with their
    95 % intervals, the average beside them), then one reading per lever generated from the numbers."""
    attrs = table.attrs
    lines = ["marginal returns of the next CAM hour and MDF dollar, by partner group"]
    if "window" in attrs:
        first, last = attrs["window"]
        lines.append(f"extra given to each partner of one group at a time from quarter {attrs['start']}, on the "
                     f"same {attrs['replicates']} replicate seeds as the scenario (base seed {attrs['seed']}); "
                     f"returns over quarters {first}-{last}; mean [95 % interval]")
    for lever in dict.fromkeys(table["lever"]):
        rows = table[table["lever"] == lever]
        unit = UNIT[lever]
        amount = (lambda v: f"{v:,.0f}") if lever == "cam_hours" else _money
        size = attrs.get("sizes", {}).get(lever)
        given = ("" if size is None else f", {size:g} hours a quarter a partner" if lever == "cam_hours" else
                 f", {_money(size)} a quarter a partner, per dollar claimed")
        lines += ["", f"{unit}{given}"]
        shown = pd.DataFrame({
            "segment": rows["segment"], "velocity": rows["velocity"],
            "partners": rows["partners"].map(lambda v: f"{v:,.0f}"),
            "hours given" if lever == "cam_hours" else "MDF claimed": rows["extra"].map(amount),
            f"revenue per {unit}": [_interval(r.revenue_per_unit, r.revenue_ci_low, r.revenue_ci_high, _money)
                                    for r in rows.itertuples()],
            f"contribution per {unit}": [_interval(r.contribution_per_unit, r.contribution_ci_low,
                                                   r.contribution_ci_high, _signed) for r in rows.itertuples()],
            "average revenue": rows["average"].map(_money),
        })
        lines += shown.to_string(index=False).splitlines()
    lines += ["", "reading:"] + [f"  {reading(table, lever)}" for lever in dict.fromkeys(table["lever"])]
    lines += ["", "marginal: Δ revenue (or Δ vendor contribution, the extra's cost included) over the window / the "
              "extra given, paired replicates; average: the group's revenue / its CAM hours (MDF claimed) over the "
              "partners already given some in the scenario"]
    return "\n".join(lines)
