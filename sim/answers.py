"""Answer cards: a scenario's question answered in its own terms, in one sentence generated from the numbers.

A scenario declares in `[meta]` the question it answers and what answers it (`kpis`, the first the headline;
`window`; `groups`; `cohorts`; `marginal`). Its card reads a comparison against the base over the window:

    "Partner-sourced revenue +3.1 % [+2.4, +3.8] over quarters 5–8; mindshare +0.90 points [+0.60, +1.2] (rival_1
     -0.50, rival_2 -0.30, partners' own services -0.10 points); programme cost +$300.0k [...]; incentive ROI 0.60
     [0.10, 1.20]."

Changes of money are given relative to the base's level (its 95 % interval divided by the same level), shares in
points, counts as they are; where the mindshare change came from as each other source's change in points (they sum
to minus it). A change whose interval covers zero says so. The incentive return is blank, with the reason, where the
programme cost did not rise, and open where that cost's interval covers zero. Where recruits' time to first deal
answers the question, the recruits since the scenario first differs from the base come first (Kaplan–Meier). The
lines under the sentence are the evidence: the quarters the headline moved most, the partner groups that moved, the
next unit's return.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.report import INCENTIVE_ROI, kind, number, window_label
from sim.responders import top_movers

NAMES = {"revenue": "partner-sourced revenue", "net_revenue": "net revenue", "vendor_contribution":
         "vendor contribution", "mindshare": "mindshare", "win_rate": "win rate", "direct_revenue": "direct revenue",
         "vendor_gross_profit": "vendor gross profit", "active_ratio": "active partners' share",
         "top20_share": "top-20 % share of revenue", "partners": "partners", "time_to_first_deal":
         "median quarters to first deal of recruits that have dealt"}


@dataclass
class Card:
    scenario: str
    question: str
    window: tuple[int, int]
    sentence: str
    evidence: list[str] = field(default_factory=list)

    def text(self) -> str:
        lines = [f"{self.scenario}: {self.question}" if self.question else self.scenario, f"  {self.sentence}"]
        return "\n".join(lines + [f"  - {e}" for e in self.evidence])

    def html(self) -> str:
        items = "".join(f"<li>{html.escape(e)}</li>" for e in self.evidence)
        question = f"<p class='q'>{html.escape(self.question)}</p>" if self.question else ""
        return (f"<div class='card'><h2>{html.escape(self.scenario)}</h2>{question}"
                f"<p class='answer'>{html.escape(self.sentence)}</p>{f'<ul>{items}</ul>' if items else ''}</div>")


SOURCES = {"services": "partners' own services"}


def _covers_zero(low: float, high: float) -> bool:
    return bool(np.isfinite(low) and np.isfinite(high) and low <= 0 <= high)


def _signed(value: float, digits: int = 1) -> str:
    return f"{value:+.{digits}f}"


def change(kpi: str, row, where: str = "") -> str:
    """One KPI's change as the card says it, from a row with difference, ci_low, ci_high and base: money relative to
    the base ('+3.1 % [+2.4, +3.8]', in dollars where the base is 0), shares in points ('+0.90 points [...]'), counts
    as they are ('+12.0 [...]'); `where` before the note that the interval covers zero."""
    diff, low, high, base = row["difference"], row["ci_low"], row["ci_high"], row["base"]
    how = kind(kpi)
    if how == "share":
        text = f"{_points(diff)} points [{_points(low, diff)}, {_points(high, diff)}]"
    elif how == "money" and not (np.isfinite(base) and base != 0):
        text = f"{_dollars(diff)} [{_dollars(low)}, {_dollars(high)}]"
    else:
        scale, unit = (100.0 / abs(base), " %") if how == "money" else (1.0, "")
        text = f"{_signed(diff * scale)}{unit} [{_signed(low * scale)}, {_signed(high * scale)}]"
    return text + where + (" (not told apart from no change)" if _covers_zero(low, high) else "")


def _capital(text: str) -> str:
    return text[0].upper() + text[1:]


def _from_where(sources: pd.DataFrame) -> str:
    """' (rival_2 -0.08, rival_1 -0.07, partners' own services -0.05 points)': where the focal vendor's change in
    mindshare came from, each other source's paired change in points (effort shares sum to one, so they add up to
    minus the focal change), the one it took most from first; nothing when the focal change is not told from none."""
    part = sources[sources["measure"] == "mindshare"].set_index("source")
    if "focal" not in part.index or _covers_zero(part.loc["focal", "ci_low"], part.loc["focal", "ci_high"]):
        return ""
    gain = float(part.loc["focal", "difference"])
    others = part.drop(index="focal")["difference"].sort_values(ascending=gain > 0)
    if others.empty or gain == 0:
        return ""
    named = [f"{SOURCES.get(source, source)} {_points(change)}" for source, change in others.items()]
    return f" ({', '.join(named)} points)"


def _points(share: float, like: float | None = None) -> str:
    """A change of a share in points: two decimals under one point, one above (as `like` has it, when given: an
    interval's bounds as its middle)."""
    value = 100.0 * share
    return f"{value:+.2f}" if abs(100.0 * (share if like is None else like)) < 1 else f"{value:+.1f}"


def _cost(compared: pd.DataFrame) -> str:
    row = compared.set_index("kpi").loc["program_cost"]
    return f"programme cost {_dollars(row['difference'])} [{_dollars(row['ci_low'])}, {_dollars(row['ci_high'])}]"


def _dollars(value: float) -> str:
    return f"{'+' if value >= 0 else '−'}${number(abs(value))}"


def _roi(compared: pd.DataFrame) -> str:
    rows = compared.set_index("kpi")
    if INCENTIVE_ROI not in rows.index:
        return ""
    row = rows.loc[INCENTIVE_ROI]
    if not np.isfinite(row["difference"]):
        return f"incentive ROI blank: {row['note']}"
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return f"incentive ROI {row['difference']:.2f} [open: {row['note']}]"
    return f"incentive ROI {row['difference']:.2f} [{row['ci_low']:.2f}, {row['ci_high']:.2f}]"


def card(scenario: str, meta, window: tuple[int, int], compared: pd.DataFrame, sources: pd.DataFrame,
         evidence: list[str] | None = None, recruits: pd.DataFrame | None = None) -> Card:
    """The answer card of one compared scenario from its rows of a window's `comparison` and `sources`; with
    `meta.cohorts`, the recruits' time to first deal (a `cohorts.comparison`, cohort `joined from ...`) first."""
    compared = compared[compared["scenario"] == scenario]
    sources = sources[sources["scenario"] == scenario]
    rows = compared.set_index("kpi")
    kpis = [k for k in meta.kpis if k in rows.index]
    parts = []
    if meta.cohorts and recruits is not None:
        parts.append(_recruits(recruits, scenario))
    for k, kpi in enumerate(kpis):
        name = NAMES.get(kpi, kpi.replace("_", " "))
        where = f" over {window_label(window)}" if k == 0 else ""
        text = f"{name if parts else _capital(name)} {change(kpi, rows.loc[kpi], where)}"
        if kpi == "mindshare":
            text += _from_where(sources)
        parts.append(text)
    if "program_cost" in rows.index:
        parts.append(_cost(compared))
    roi = _roi(compared)
    if roi:
        parts.append(roi)
    return Card(scenario, meta.question, window, "; ".join(parts) + ".", list(evidence or []))


def _event(diffs: pd.DataFrame, scenario: str, kpi: str, last: int) -> str:
    """The quarters up to `last` (the window's end) where a KPI moved most up and most down, each where its band
    excludes zero."""
    rows = diffs[(diffs["scenario"] == scenario) & (diffs["kpi"] == kpi) & (diffs["quarter"] <= last)]
    rows = rows[(rows["ci_low"] > 0) | (rows["ci_high"] < 0)]
    if rows.empty:
        return ""
    said = []
    for label, pick in (("most up", rows["difference"].idxmax()), ("most down", rows["difference"].idxmin())):
        row = rows.loc[pick]
        if (row["difference"] > 0) == (label == "most up"):
            said.append(f"{label} in quarter {int(row['quarter'])}: {change(kpi, row)}")
    return f"{_capital(NAMES.get(kpi, kpi.replace('_', ' ')))} quarter by quarter, {'; '.join(said)} (differences.csv)"


def _recruits(cohort_changes: pd.DataFrame, scenario: str) -> str:
    """'Recruits who joined from quarter 6 with a first deal within 4 quarters: 59 % -> 71 % (...)', from the first
    cohort of a `cohorts.comparison` (the recruits since the scenario first differs from the base)."""
    rows = cohort_changes[cohort_changes["scenario"] == scenario]
    if rows.empty:
        return ""
    cohort = rows["cohort"].iloc[0]
    rows = rows[rows["cohort"] == cohort].set_index("measure")
    four, median = rows.loc["dealt_within_4"], rows.loc["median"]
    who = "Recruits" if cohort == "all" else f"Recruits {cohort}"
    if not (np.isfinite(four["base"]) and np.isfinite(four["value"])):
        return f"{who}: none followed 4 quarters yet, so no share dealing within them"
    text = (f"{who} with a first deal within 4 quarters: {100 * four['base']:.0f} % → {100 * four['value']:.0f} % "
            f"({change('recruits_dealt_share', four)})")
    if np.isfinite(median["base"]) and np.isfinite(median["value"]):
        text += f", median time to first deal {median['base']:.1f} → {median['value']:.1f} quarters"
    return text + " (Kaplan–Meier: who leaves or has not dealt yet is censored)"


def _groups(moved: pd.DataFrame, scenario: str, dimensions: list[str], measure: str = "revenue") -> list[str]:
    """Per declared dimension, the group whose `measure` (revenue, or mindshare: effort share) moved most,
    relative to its base."""
    out = []
    rows = moved[(moved["scenario"] == scenario) & (moved["measure"] == measure)]
    for dimension in dimensions:
        part = rows[rows["dimension"] == dimension]
        part = part[np.isfinite(part["relative"])]
        if part.empty and dimension == "alignment":
            out.append("By alignment: none, the scenario singles out no vertical (no push and no SPIF vertical)")
        if part.empty:
            continue
        top = part.loc[part["relative"].abs().idxmax()]
        share = kind(measure) == "share"
        others = ", ".join(f"{row['group']} " + (f"{_points(row['difference'])} points" if share
                                                  else f"{100 * row['relative']:+.1f} %")
                           for _, row in part.iterrows() if row["group"] != top["group"])
        name = {"mindshare": "effort share", "retained": "partners retained"}.get(measure, measure)
        out.append(f"By {dimension}: {top['group']} moved most, {name} {change(measure, top)}"
                   + (f" (others: {others})" if others else ""))
    return out


def evidence(scenario: str, meta, diffs: pd.DataFrame, window: tuple[int, int], cohort_changes: pd.DataFrame,
             moved: pd.DataFrame | None, marginal: pd.DataFrame | None) -> list[str]:
    """The lines under a card's sentence: the headline's event study, and what the scenario declares answers its
    question (groups, recruit cohorts, the next unit's return)."""
    lines = [_event(diffs, scenario, kpi, window[1]) for kpi in dict.fromkeys([meta.kpis[0], "revenue"])]
    if moved is not None and meta.groups:
        lines += _groups(moved, scenario, meta.groups, "mindshare" if meta.kpis[0] == "mindshare" else "revenue")
        if {"attrition", "partners"} & set(meta.kpis):  # who stays: attrition by group over the window
            lines += _groups(moved, scenario, meta.groups, "retained")
    elif moved is not None:  # no groups declared: the groups that moved most, whatever their dimension
        top = top_movers(moved[moved["scenario"] == scenario], "revenue", 3)
        said = [f"{row['dimension']} {row['group']} {change('revenue', row)}"
                for _, row in top.iterrows()]
        lines.append(f"Revenue moved most in: {'; '.join(said)}" if said else "")
    if marginal is not None and meta.marginal:
        from sim.marginal import reading

        lines.append(reading(marginal))
    return [line for line in lines if line]


def ranking(compared: pd.DataFrame, others: list[str], kpi: str, window: tuple[int, int]) -> str:
    """With several compared scenarios: them ranked by their change in `kpi` over the window, each with the change
    in programme cost and, where both rose, the cost per unit of the KPI ('$1.5M per point')."""
    rows = compared.set_index(["scenario", "kpi"])
    if len(others) < 2 or any((name, kpi) not in rows.index for name in others):
        return ""
    ranked = sorted(others, key=lambda name: -rows.loc[(name, kpi), "difference"])
    said = []
    for name in ranked:
        row = rows.loc[(name, kpi)]
        text = f"{name} {change(kpi, row)}"
        if (name, "program_cost") in rows.index:
            cost = float(rows.loc[(name, "program_cost"), "difference"])
            text += f", cost {_dollars(cost)}"
            gained = float(row["difference"]) * (100.0 if kind(kpi) == "share" else 1.0)
            if cost > 0 and gained > 0 and kind(kpi) == "share":
                text += f" ({_dollars(cost / gained)} per point)"
            elif cost > 0 and gained > 0 and kind(kpi) == "money":
                text += f" ({number(gained / cost)} of {NAMES.get(kpi, kpi).lower()} per programme dollar)"
        said.append(text)
    name = NAMES.get(kpi, kpi.replace("_", " "))
    return f"Ranked by {name.lower()} over {window_label(window)}: " + "; ".join(said) + "."
