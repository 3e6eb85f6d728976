"""What `run` and `compare` write: tidy tables, figures with confidence bands, one HTML page.

Final-year KPIs are per replicate: flows (revenue, spend, deals, recruits, ...) summed over the
last four quarters, levels (mindshare, win rate, ...) averaged over them, and end-of-year
counts (partners, tiers, attrition) taken at the last quarter. Across replicates each KPI gets
its mean and a 95 % t-interval; a comparison uses the paired differences on common seeds.

What the programme costs, final year:

    incentive_spend  = spend of the instruments booked against revenue (rebates, MDF, SPIFs, ...), as each
                       instrument declares (`booked_as`)
    partner_payments = discount + incentive_spend        (every dollar given to partners: revenue - net_revenue)
    program_cost     = discount + spend_total            (partner_payments + operating spend: CAM time,
                                                          recruiting, certification funding)

and a comparison's revenue_per_extra_program_dollar = mean Δrevenue / mean Δprogram_cost over the paired
replicates, with a percentile bootstrap interval.

The vendor's P&L (quarterly metrics, `sim.metrics`): vendor_gross_profit = (revenue + direct_revenue) x the
product lines' blended gross margin; vendor_contribution = vendor_gross_profit - program_cost. A comparison's

    incentive_roi              = (mean Δvendor_gross_profit - mean Δprogram_cost) / mean Δprogram_cost
    incentive_roi_<instrument> = (mean Δvendor_gross_profit - mean Δspend_<instrument>) / mean Δspend_<instrument>

(the second for each instrument whose spend changed; it gives that instrument the whole change in gross profit),
each left blank (NaN, the reason in `note`) where the mean cost change is not positive: when both fall, the
ratio would read as a gain. `sources` lays out where the focal vendor's mindshare and revenue came from.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

from sim.params import SEGMENTS  # noqa: E402
from sim.policies import booked_as  # noqa: E402

ID_COLUMNS = ["scenario", "replicate", "quarter"]
HEADLINE = ["revenue", "net_revenue", "vendor_contribution", "mindshare", "win_rate", "active_ratio", "top20_share",
            "partners", "attrition", "discount", "incentive_spend", "spend_total", "spend_pct_revenue",
            "mdf_utilisation"]
SUMMED_PREFIXES = ("revenue", "net_revenue", "direct_revenue", "discount", "vendor_", "won_deals", "spend_",
                   "mdf_allocated", "mdf_claimed", "recruits", "exits", "terminations", "moved_to_digital",
                   "promotions", "demotions", "technical_hires", "unserved_demand", "partner_certification")
PER_EXTRA_DOLLAR = "revenue_per_extra_program_dollar"  # a comparison's: the change in revenue over that in program_cost
INCENTIVE_ROI = "incentive_roi"  # a comparison's: the return on the change in program_cost, in gross profit
SHOWN = [*HEADLINE, PER_EXTRA_DOLLAR, INCENTIVE_ROI]  # what the command and the report show
LAST_PREFIXES = ("partners", "active_partners", "active_ratio", "attrition", "voluntary_attrition",
                 "time_to_first_deal", "recruits_dealt_share", "top20_share")


# KPIs that are shares (changes in points) and counts (changes as they are); the rest are money (changes in %)
SHARES = ("mindshare", "win_rate", "active_ratio", "top20_share", "channel_share", "mdf_utilisation", "attrition",
          "voluntary_attrition", "recruits_dealt_share", "push_effort_share", "goodwill", "capability",
          "rebate_near_threshold", "retained")
COUNTS = ("partners", "active_partners", "won_deals", "recruits", "exits", "terminations", "moved_to_digital",
          "promotions", "demotions", "technical_hires", "time_to_first_deal", "partner_certifications",
          "cam_hours")


def kind(kpi: str) -> str:
    """How a change of the KPI reads: "share" (in points), "count" (as it is) or "money" (in % of the base)."""
    if kpi.startswith(SHARES):
        return "share"
    if kpi.startswith(COUNTS):
        return "count"
    return "money"


def how(kpi: str) -> str:
    """How a quarterly metric becomes a final-year KPI: sum, last or mean."""
    if kpi in ("revenue_per_cam_hour_" + s for s in SEGMENTS) or kpi == "spend_pct_revenue":
        return "mean"
    if kpi.startswith(LAST_PREFIXES):
        return "last"
    if kpi.startswith(SUMMED_PREFIXES):
        return "sum"
    return "mean"


def final_year(quarters: pd.DataFrame, last: int = 4) -> pd.DataFrame:
    """One row of final-year KPIs per scenario and replicate."""
    end = int(quarters["quarter"].max())
    return window_kpis(quarters, (end - last + 1, end))


def window_label(window: tuple[int, int]) -> str:
    first, last = window
    return f"quarter {first}" if first == last else f"quarters {first}–{last}"


def window_kpis(quarters: pd.DataFrame, window: tuple[int, int]) -> pd.DataFrame:
    """One row of KPIs over the quarters window[0]..window[1] per scenario and replicate: flows summed, shares and
    rates averaged, stocks (partners, attrition, ...) at the window's last quarter (`how`)."""
    tail = quarters[quarters["quarter"].between(*window)]
    metrics = [c for c in quarters.columns if c not in ID_COLUMNS]
    grouped = tail.sort_values(ID_COLUMNS).groupby(["scenario", "replicate"], sort=False)
    parts = {}
    for kind in ("sum", "mean", "last"):
        columns = [m for m in metrics if how(m) == kind]
        if columns:
            parts[kind] = getattr(grouped[columns], kind)()
    out = pd.concat(parts.values(), axis=1)[metrics]
    out["spend_pct_revenue"] = np.where(out["revenue"] > 0, 100.0 * out["spend_total"] / out["revenue"], 0.0)
    out["mdf_utilisation"] = np.where(out["mdf_allocated"] > 0, out["mdf_claimed"] / out["mdf_allocated"], 0.0)
    if "vendor_revenue" in out:  # the year's share of the vendor's revenue that came through partners
        out["channel_share"] = np.where(out["vendor_revenue"] > 0, out["revenue"] / out["vendor_revenue"], 0.0)
    # incentives: what the instruments booked against revenue paid (as each declares); CAM time, recruiting and
    # certifications are the vendor's operating costs, in spend_total only
    spend = [c for c in metrics if c.removeprefix("spend_") in booked_as("contra_revenue")]
    out["incentive_spend"] = out[spend].sum(axis=1)
    out["partner_payments"] = out["incentive_spend"] + out["discount"]  # every dollar given to partners
    out["program_cost"] = out["spend_total"] + out["discount"]  # every dollar the programme costs the vendor
    return out.reset_index()


def interval(values: np.ndarray) -> tuple[float, float, float, float]:
    """Mean, 95 % t-interval and s.d. of a sample."""
    values = np.asarray(values, dtype=float)
    mean = float(values.mean())
    if values.size < 2:
        return mean, mean, mean, 0.0
    sd = float(values.std(ddof=1))
    half = float(stats.t.ppf(0.975, values.size - 1)) * sd / np.sqrt(values.size)
    return mean, mean - half, mean + half, sd


def summary(final: pd.DataFrame) -> pd.DataFrame:
    """Tidy: scenario, kpi, mean, ci_low, ci_high, sd, replicates."""
    rows = []
    for scenario, group in final.groupby("scenario", sort=False):
        for kpi in [c for c in final.columns if c not in ("scenario", "replicate")]:
            mean, low, high, sd = interval(group[kpi].to_numpy())
            rows.append({"scenario": scenario, "kpi": kpi, "mean": mean, "ci_low": low, "ci_high": high, "sd": sd,
                         "replicates": len(group)})
    return pd.DataFrame(rows)


def comparison(final: pd.DataFrame, base: str, others: list[str]) -> pd.DataFrame:
    """Each other scenario against the base on paired replicates (same seeds); the ratios (revenue per extra
    programme dollar, incentive returns) after the KPIs, a blank one saying why in `note`."""
    kpis = [c for c in final.columns if c not in ("scenario", "replicate")]
    base_rows = final[final["scenario"] == base].set_index("replicate").sort_index()
    rows = []
    for other in others:
        other_rows = final[final["scenario"] == other].set_index("replicate").sort_index()
        for kpi in kpis:
            diff = other_rows[kpi] - base_rows[kpi]
            mean, low, high, _ = interval(diff.to_numpy())
            base_mean = float(base_rows[kpi].mean())
            rows.append({"scenario": other, "kpi": kpi, "base": base_mean, "value": float(other_rows[kpi].mean()),
                         "difference": mean, "ci_low": low, "ci_high": high,
                         "relative": mean / abs(base_mean) if base_mean else np.nan, "note": ""})
        change = {kpi: (other_rows[kpi] - base_rows[kpi]).to_numpy() for kpi in kpis}
        ratio, low, high = _bounded(*_ratio_interval(change["revenue"], change["program_cost"], rising=True),
                                    change["program_cost"])
        rows.append(_ratio_row(other, PER_EXTRA_DOLLAR, ratio, low, high,
                               _blank_because("program_cost", change["program_cost"], ratio, low)))
        if "vendor_gross_profit" in change:
            rows.extend(_returns(other, change))
    return pd.DataFrame(rows)


def _ratio_row(scenario: str, kpi: str, ratio: float, low: float, high: float, note: str) -> dict:
    return {"scenario": scenario, "kpi": kpi, "base": np.nan, "value": np.nan, "difference": ratio, "ci_low": low,
            "ci_high": high, "relative": np.nan, "note": note}


def _returns(scenario: str, change: dict[str, np.ndarray]) -> list[dict]:
    """The incentive returns of one scenario from its paired changes: on the whole programme cost, then on each
    instrument whose spend changed (given the whole change in gross profit)."""
    gross = change["vendor_gross_profit"]
    costs = {INCENTIVE_ROI: ("program_cost", change["program_cost"])}
    for kpi, spent in change.items():
        if kpi.startswith("spend_") and kpi not in ("spend_total", "spend_pct_revenue") and spent.any():
            costs[f"{INCENTIVE_ROI}_{kpi.removeprefix('spend_')}"] = (kpi, spent)
    rows = []
    for kpi, (name, cost) in costs.items():
        ratio, low, high = _bounded(*_ratio_interval(gross - cost, cost, rising=True), cost)
        note = _blank_because(name, cost, ratio, low)
        if not note and kpi != INCENTIVE_ROI:
            note = f"the whole change in gross profit given to {name}"
        rows.append(_ratio_row(scenario, kpi, ratio, low, high, note))
    return rows


def _bounded(ratio: float, low: float, high: float, cost: np.ndarray) -> tuple[float, float, float]:
    """A return's interval, left open (NaN) where the cost's own 95 % interval covers zero: a ratio over a cost
    that cannot be told from none is not bounded, whatever the resamples say."""
    _, cost_low, cost_high, _ = interval(cost)
    if np.isfinite(ratio) and cost_low <= 0 <= cost_high:
        return ratio, np.nan, np.nan
    return ratio, low, high


def _blank_because(name: str, cost: np.ndarray, ratio: float, low: float) -> str:
    """Why a return on `cost` (a ratio of paired means) is blank or its interval open; "" when it is neither."""
    mean = float(cost.mean())
    if not np.isfinite(ratio):
        how_it_moved = f"fell by {number(-mean)}" if mean < 0 else "did not rise"
        return f"{name} {how_it_moved}: no extra cost to return on (a ratio of two falls would read as a gain)"
    if not np.isfinite(low):
        return f"{name} rose by {number(mean)} on average, but its interval reaches zero: the return is not bounded"
    return ""


def _ratio_interval(numerator: np.ndarray, denominator: np.ndarray, resamples: int = 2000, rising: bool = False):
    """mean(numerator) / mean(denominator) with a percentile bootstrap interval over paired replicates. `rising`:
    only where the denominator's mean is positive (else NaN), the interval open (NaN) when more than 2.5 % of the
    resamples' denominators are not."""
    mean = denominator.mean()
    if (mean <= 1e-9) if rising else (abs(mean) < 1e-9):
        return np.nan, np.nan, np.nan
    ratio = float(numerator.mean() / mean)
    if numerator.size < 2:
        return ratio, ratio, ratio
    picks = np.random.default_rng(0).integers(0, numerator.size, (resamples, numerator.size))
    below = denominator[picks].mean(axis=1)
    if rising:
        if np.mean(below <= 1e-9) > 0.025:
            return ratio, np.nan, np.nan
        picks = picks[below > 1e-9]
        below = below[below > 1e-9]
    with np.errstate(divide="ignore", invalid="ignore"):
        boot = numerator[picks].mean(axis=1) / below
    boot = boot[np.isfinite(boot)]
    return ratio, float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))


def half_width(sd, count):
    """The half-width of a 95 % t interval of a mean of `count` values with s.d. `sd` (0 for fewer than two),
    element-wise over pandas objects."""
    return (stats.t.ppf(0.975, np.maximum(count - 1, 1)) * sd / np.sqrt(count)).where(count > 1, 0.0)


def differences(quarters: pd.DataFrame, base: str, others: list[str]) -> pd.DataFrame:
    """Each other scenario's paired difference from the base, quarter by quarter, for every metric: tidy scenario,
    quarter, kpi, base (the base's mean), value, difference (mean over replicates of other - base on the same
    seed), ci_low, ci_high (95 % t interval), relative (difference / |base|). An event study: a SPIF's
    pull-forward and dip, a termination's slow replacement."""
    kpis = [c for c in quarters.columns if c not in ID_COLUMNS]
    keyed = quarters.set_index(["scenario", "replicate", "quarter"]).sort_index()
    left = keyed.loc[base]
    frames = []
    for other in others:
        right = keyed.loc[other]
        common = left.index.intersection(right.index)
        change = (right.loc[common, kpis] - left.loc[common, kpis]).groupby(level="quarter")
        mean = change.mean()
        half = half_width(change.std(ddof=1).fillna(0.0), change.count())
        level = left.loc[common, kpis].groupby(level="quarter").mean()
        value = right.loc[common, kpis].groupby(level="quarter").mean()
        long = {name: frame.stack() for name, frame in
                [("base", level), ("value", value), ("difference", mean), ("ci_low", mean - half),
                 ("ci_high", mean + half)]}
        tidy = pd.DataFrame(long).rename_axis(["quarter", "kpi"]).reset_index()
        with np.errstate(divide="ignore", invalid="ignore"):
            tidy["relative"] = np.where(tidy["base"] != 0, tidy["difference"] / tidy["base"].abs(), np.nan)
        tidy.insert(0, "scenario", other)
        frames.append(tidy)
    return pd.concat(frames, ignore_index=True)


def first_difference(diffs: pd.DataFrame, scenario: str) -> int | None:
    """The first quarter in which a scenario differs from the base in any KPI (in any replicate), or None."""
    moved = diffs[["difference", "ci_low", "ci_high"]].fillna(0.0).ne(0.0).any(axis=1)
    rows = diffs[(diffs["scenario"] == scenario) & moved]
    return int(rows["quarter"].min()) if not rows.empty else None


def sources(compared: pd.DataFrame) -> pd.DataFrame:
    """Where each scenario's change in focal mindshare and revenue came from, from a `comparison`: the paired
    change of the focal vendor's, each rival's and own services' mindshare (the sources' changes sum to minus the
    focal one), and of the focal vendor's partner-sourced revenue beside each rival's revenue, the vendor's direct
    sales and the demand left unserved (where the run measures it). Tidy: scenario, measure, source, kpi,
    difference, ci_low, ci_high."""
    kpis = list(dict.fromkeys(compared["kpi"]))
    rivals = [k.removeprefix("mindshare_") for k in kpis if k.startswith("mindshare_") and k != "mindshare_services"]
    layout = ([("mindshare", "focal", "mindshare")] + [("mindshare", r, f"mindshare_{r}") for r in rivals]
              + [("mindshare", "services", "mindshare_services"), ("revenue", "focal", "revenue")]
              + [("revenue", r, f"revenue_{r}") for r in rivals]
              + [("revenue", "direct", "direct_revenue"), ("revenue", "unserved", "unserved_demand")])
    rows = []
    for scenario, group in compared.groupby("scenario", sort=False):
        group = group.set_index("kpi")
        rows.extend({"scenario": scenario, "measure": measure, "source": source, "kpi": kpi,
                     **group.loc[kpi, ["difference", "ci_low", "ci_high"]].to_dict()}
                    for measure, source, kpi in layout if kpi in group.index)
    return pd.DataFrame(rows, columns=["scenario", "measure", "source", "kpi", "difference", "ci_low", "ci_high"])


# --------------------------------------------------------------------------- figures

COLOURS = ["#1f5aa6", "#d1495b", "#2a9d8f", "#e9a03b", "#6d597a", "#5c946e", "#8d6a9f", "#3d405b"]


def _band(ax, quarters: pd.DataFrame, column: str, label: str, colour: str, scale: float = 1.0, style="-"):
    by_quarter = quarters.groupby("quarter")[column]
    mean = by_quarter.mean() / scale
    half = half_width(by_quarter.std(ddof=1).fillna(0.0) / scale, by_quarter.count())
    ax.plot(mean.index, mean, style, color=colour, label=label, lw=1.8)
    ax.fill_between(mean.index, mean - half, mean + half, color=colour, alpha=0.18, lw=0)


def _finish(fig, ax, title: str, ylabel: str):
    ax.set_title(title, loc="left", fontsize=11)
    ax.set_xlabel("quarter")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    fig.tight_layout()


def figures(quarters: pd.DataFrame, tiers: list[str]) -> dict[str, plt.Figure]:
    """The standard figures, one line (with a 95 % band across replicates) per scenario."""
    scenarios = list(dict.fromkeys(quarters["scenario"]))
    several = len(scenarios) > 1
    out = {}

    fig, ax = plt.subplots(figsize=(8, 4.2))
    for i, name in enumerate(scenarios):
        _band(ax, quarters[quarters["scenario"] == name], "revenue", name, COLOURS[i % 8], 1e6)
    _finish(fig, ax, "Partner-sourced revenue (mean and 95 % band across replicates)", "$M a quarter")
    out["revenue"] = fig

    fig, ax = plt.subplots(figsize=(8, 4.2))
    rivals = [c for c in quarters.columns if c.startswith("mindshare_") and c != "mindshare_services"]
    for i, name in enumerate(scenarios):
        frame = quarters[quarters["scenario"] == name]
        prefix = f"{name}: " if several else ""
        _band(ax, frame, "mindshare", f"{prefix}focal vendor", COLOURS[i % 8])
        for rival, style in zip(rivals, ["--", ":", "-."] * 3, strict=False):
            _band(ax, frame, rival, f"{prefix}{rival.removeprefix('mindshare_')}", COLOURS[i % 8], style=style)
    _finish(fig, ax, "Mindshare: capacity-weighted share of partner effort", "share of effort")
    out["mindshare"] = fig

    instruments = [c for c in quarters.columns if c.startswith("spend_") and c not in ("spend_total",
                                                                                      "spend_pct_revenue")]
    fig, ax = plt.subplots(figsize=(8, 4.2))
    styles = ["-", "--", ":", "-."]
    for i, instrument in enumerate(instruments):
        for j, name in enumerate(scenarios):
            frame = quarters[quarters["scenario"] == name]
            label = instrument.removeprefix("spend_") + (f" ({name})" if several else "")
            _band(ax, frame, instrument, label, COLOURS[i % 8], 1e3, style=styles[j % 4])
    _finish(fig, ax, "Spend by instrument", "$k a quarter")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    out["spend"] = fig

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 6.2), sharex=True)
    for j, name in enumerate(scenarios):
        frame = quarters[quarters["scenario"] == name]
        suffix = f" ({name})" if several else ""
        for i, tier in enumerate(tiers):
            _band(top, frame, f"partners_{tier}", tier + suffix, COLOURS[i % 8], style=styles[j % 4])
        for i, flow in enumerate(("recruits", "exits", "terminations")):
            _band(bottom, frame, flow, flow + suffix, COLOURS[(i + 4) % 8], style=styles[j % 4])
    top.set_title("Partners by tier", loc="left", fontsize=11)
    top.set_ylabel("partners")
    top.grid(alpha=0.3)
    top.legend(fontsize=7, frameon=False, ncol=2)
    _finish(fig, bottom, "Recruits, exits and terminations", "partners a quarter")
    out["partners"] = fig
    return out


def difference_figure(diffs: pd.DataFrame, kpis: list[str], window: tuple[int, int]) -> plt.Figure:
    """Quarter by quarter, each compared scenario's paired difference from the base (relative to the base's level
    for money, in points for shares), with its 95 % band; the window the answer reads is shaded."""
    fig, axes = plt.subplots(len(kpis), 1, figsize=(8, 2.4 * len(kpis) + 0.6), sharex=True, squeeze=False)
    for ax, kpi in zip(axes[:, 0], kpis, strict=True):
        rows = diffs[diffs["kpi"] == kpi]
        share = kind(kpi) == "share"
        for i, (scenario, part) in enumerate(rows.groupby("scenario", sort=False)):
            level = 1.0 if share else part["base"].abs().where(part["base"] != 0, np.nan)
            scale = 100.0 / level
            colour = COLOURS[i % 8]
            ax.plot(part["quarter"], part["difference"] * scale, color=colour, lw=1.8, label=scenario)
            ax.fill_between(part["quarter"], part["ci_low"] * scale, part["ci_high"] * scale, color=colour,
                            alpha=0.18, lw=0)
        ax.axhline(0.0, color="#888", lw=0.8)
        ax.axvspan(window[0] - 0.5, window[1] + 0.5, color="#f2c14e", alpha=0.15, lw=0)
        ax.set_ylabel("points" if share else "% of base")
        ax.set_title(f"{kpi}: difference from the base, quarter by quarter", loc="left", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(f"quarter (shaded: {window_label(window)}, the window the answer reads)")
    fig.tight_layout()
    return fig


def save_figures(figs: dict[str, plt.Figure], folder: Path) -> dict[str, bytes]:
    """Write PNGs and return their bytes (the report embeds them)."""
    images = {}
    for name, fig in figs.items():
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=110)
        plt.close(fig)
        images[name] = buffer.getvalue()
        (folder / f"{name}.png").write_bytes(images[name])
    return images


# --------------------------------------------------------------------------- the page

STYLE = """body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:980px;margin:2em auto;
color:#222;padding:0 1em}h1{font-size:1.5em}h2{font-size:1.15em;margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.88em;margin:.5em 0}td,th{padding:.25em .6em;border-bottom:1px solid #eee;
text-align:right}th{background:#f4f6f8}td:first-child,th:first-child{text-align:left}.q{font-style:italic;
color:#444}.card{border:1px solid #d0d7de;border-radius:6px;padding:.2em 1em .6em;margin:1em 0;
background:#fbfcfd}.answer{font-size:1.08em;font-weight:600}.up{color:#1a7f37}.down{color:#b42318}img{max-width:100%}.note{color:#666;font-size:.85em}code{font-size:.9em}"""


def number(value: float) -> str:
    """A value as a table shows it: 1.23M, 45.6k, 789, 0.123 (three figures); "–" for none or not finite."""
    if value is None or not np.isfinite(value):
        return "–"
    magnitude = abs(value)
    if magnitude >= 1e6:
        return f"{value / 1e6:,.2f}M"
    if magnitude >= 1e4:
        return f"{value / 1e3:,.1f}k"
    if magnitude >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def kpi_table(table: pd.DataFrame, column: str, kpis: list[str] = SHOWN) -> pd.DataFrame:
    """Headline KPIs as text, one row per KPI and one column per scenario: '<column> [low, high]', `column`
    being "mean" for a `summary`, "difference" for a `comparison` (which adds the base's level first and, beside
    each scenario, its relative change). A KPI the table lacks is left out (a summary has no revenue per extra
    programme dollar)."""
    rows = table[table["kpi"].isin(kpis)]
    out, index = {}, pd.Index([], name="kpi")
    for scenario, group in rows.groupby("scenario", sort=False):
        group = group.set_index("kpi").loc[[k for k in kpis if k in set(group["kpi"])]]
        if column == "difference" and not out:  # a comparison: the base's level first
            out["base"] = [number(v) for v in group["base"]]
        out[scenario] = [f"{number(v)} [{number(lo)}, {number(hi)}]"
                         for v, lo, hi in zip(group[column], group["ci_low"], group["ci_high"], strict=True)]
        if column == "difference":  # shares in points, the rest relative to the base
            out[f"{scenario} %"] = [f"{100 * d:+.2f} pts" if kind(k) == "share" and np.isfinite(d) else
                                    f"{100 * r:+.1f} %" if np.isfinite(r) else "–"
                                    for k, d, r in zip(group.index, group["difference"], group["relative"],
                                                       strict=True)]
        index = group.index
    return pd.DataFrame(out, index=index)


def html_table(frame: pd.DataFrame, index_name: str = "KPI") -> str:
    """A frame of text as an HTML table, its index the first column (headed `index_name`), every cell escaped."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    body = "".join(
        f"<tr><td>{html.escape(str(i))}</td>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
        for i, row in zip(frame.index, frame.to_numpy(), strict=True))
    return f"<table><tr><th>{html.escape(index_name)}</th>{head}</tr>{body}</table>"


def _listed(booking: str) -> str:
    """The spend columns of the instruments booked so, as the page names them."""
    return ", ".join(f"<code>spend_{html.escape(name)}</code>" for name in sorted(booked_as(booking)))


SOURCE_NAMES = {"focal": "focal vendor", "services": "partners' own services", "direct": "the vendor's direct sales",
                "unserved": "demand left unserved"}


def _with_interval(row: pd.Series) -> str:
    """'value [low, high]'; '–' for a blank value, 'value [open]' for an interval left open."""
    if not np.isfinite(row["difference"]):
        return "–"
    if not (np.isfinite(row["ci_low"]) and np.isfinite(row["ci_high"])):
        return f"{number(row['difference'])} [open]"
    return f"{number(row['difference'])} [{number(row['ci_low'])}, {number(row['ci_high'])}]"


def _returns_section(compared: pd.DataFrame, window: str = "final year") -> list[str]:
    """The incentive returns, in total and for each instrument with a return in some scenario, each scenario a
    column; why a shown return is blank or its interval open."""
    rows = compared[compared["kpi"].str.startswith(INCENTIVE_ROI)]
    if rows.empty:
        return []
    measured = set(rows.loc[np.isfinite(rows["difference"].astype(float)), "kpi"])
    kpis = [k for k in dict.fromkeys(rows["kpi"]) if k == INCENTIVE_ROI or k in measured]
    table, notes = {}, []
    for scenario, group in rows.groupby("scenario", sort=False):
        group = group.set_index("kpi")
        table[scenario] = [_with_interval(group.loc[k]) if k in group.index else "" for k in kpis]
        notes += [f"{scenario}, {k}: {group.loc[k, 'note']}" for k in kpis
                  if k in group.index and not np.isfinite(group.loc[k, "ci_low"])]
    listed = "".join(f"<li>{html.escape(n)}</li>" for n in notes)
    return [f"<h2>Incentive return (gross profit, {window}, paired replicates)</h2>"
            f"<p class='note'><code>{INCENTIVE_ROI}</code> = (Δ <code>vendor_gross_profit</code> − Δ "
            "<code>program_cost</code>) / Δ <code>program_cost</code>: what each extra dollar of channel cost "
            "(discount and every instrument's spend) returned in gross profit beyond itself; above 0 it paid for "
            f"itself. <code>{INCENTIVE_ROI}_&lt;instrument&gt;</code> divides by the change in that instrument's "
            "spend instead and gives it the whole change in gross profit, so it reads right only where the scenario "
            "changes that one instrument. A return is left blank (–) where its cost did not rise: when cost and "
            "gross profit both fall, their ratio would read as a gain. Instruments whose spend rose in no "
            "scenario are left out here; comparison.csv holds every return with its reason.</p>",
            html_table(pd.DataFrame(table, index=pd.Index(kpis, name="kpi"))),
            *([f"<ul class='note'>{listed}</ul>"] if notes else [])]


def _sources_section(table: pd.DataFrame, window: str = "final year") -> list[str]:
    """Where the focal vendor's mindshare and revenue came from, each scenario a column."""
    if table.empty:
        return []
    cells: dict[str, dict[str, str]] = {}
    for scenario, group in table.groupby("scenario", sort=False):
        column = cells.setdefault(scenario, {})
        for measure, part in group.groupby("measure", sort=False):
            for _, row in part.iterrows():
                column[f"{measure}: {SOURCE_NAMES.get(row['source'], row['source'])}"] = _with_interval(row)
            if measure == "mindshare":
                others = float(part.loc[part["source"] != "focal", "difference"].sum())
                column["mindshare: all the others together"] = number(others)
    return [f"<h2>From where ({window}, paired replicates)</h2>"
            "<p class='note'>The change in the focal vendor's mindshare beside the change in each rival's and in "
            "the effort partners keep for their own services: effort shares sum to one, so the others' changes "
            "sum to minus the focal one, and a source's fall is what the focal vendor took from it. The change "
            "in the focal vendor's partner-sourced revenue beside each rival's, the vendor's direct sales and, "
            "where the run measures it, the demand left unserved. sources.csv holds the table.</p>",
            html_table(pd.DataFrame(cells), "change in")]


def extra_sections(tables: dict[str, pd.DataFrame]) -> list[str]:
    """The sections after the KPIs for what a comparison measured beyond them: recruits' time to first deal and
    who responded."""
    parts = []
    cohort = tables.get("cohorts")
    if cohort is not None and "difference" in cohort:
        shown = cohort[cohort["cohort"] == "all"].copy()
        shown["text"] = shown.apply(lambda r: f"{number(r['base'])} → {number(r['value'])} ({_with_interval(r)})",
                                    axis=1)
        parts += ["<h2>Recruits: time to first deal (Kaplan–Meier, paired replicates)</h2>"
                  "<p class='note'>Every partner recruited during the run, from the quarter it joined: the share "
                  "with a first focal deal within 1, 2 and 4 quarters and the median quarters to it, recruits who "
                  "leave or have not dealt yet counted for as long as they were seen (censored), not dropped. Base "
                  "→ scenario (difference [95 % interval]). cohorts.csv holds each year's cohort.</p>",
                  html_table(shown.pivot(index="measure", columns="scenario", values="text"), "measure")]
    moved = tables.get("responders")
    if moved is not None and not moved.empty:
        shown = moved[moved["measure"] == "revenue"].copy()
        shown["text"] = shown.apply(_with_interval, axis=1)
        shown["row"] = shown["dimension"] + ": " + shown["group"].astype(str)
        parts += ["<h2>Who responded (partner-sourced revenue over the window, paired partner by partner)</h2>"
                  "<p class='note'>The change in each group's revenue, its partners paired by id across the "
                  "scenarios (the same firms on the same random streams). responders.csv also holds effort share, "
                  "partner profit and retention.</p>",
                  html_table(shown.pivot_table(index="row", columns="scenario", values="text", aggfunc="first",
                                               sort=False), "group")]
    return parts


def write_page(path: Path, title: str, scenarios: list[dict], summary_frame: pd.DataFrame,
               images: dict[str, bytes], comparison_frame: pd.DataFrame | None = None, note: str = "",
               window: tuple[int, int] | None = None, cards: list[str] | None = None,
               extra: list[str] | None = None) -> None:
    """One self-contained HTML page (figures embedded) a strategist can e-mail: a comparison's answer cards first
    (the first screen can be forwarded alone), then the evidence."""
    span = window_label(window) if window else "final year"
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    if cards:
        parts += ["<section class='answers'>", *cards, "</section>"]
    if "differences" in images:
        encoded = base64.b64encode(images["differences"]).decode()
        parts.append(f"<h2>Quarter by quarter: the difference from the base</h2><img alt='differences' "
                     f"src='data:image/png;base64,{encoded}'><p class='note'>Paired difference per quarter with its "
                     "95 % band (differences.csv holds every KPI); shaded: the window the answer reads.</p>")
    for scenario in scenarios:
        parts.append(f"<h2>{html.escape(scenario['name'])}: {html.escape(scenario['title'])}</h2>")
        if scenario.get("question"):
            parts.append(f"<p class='q'>{html.escape(scenario['question'])}</p>")
        if scenario.get("files"):
            parts.append(f"<p class='note'>Files: <code>{html.escape(scenario['files'])}</code></p>")
        if scenario.get("changes"):
            items = "".join(f"<li><code>{html.escape(k)} = {html.escape(v)}</code></li>"
                            for k, v in scenario["changes"].items())
            parts.append(f"<p class='note'>What it sets, against the model's defaults:</p><ul>{items}</ul>")
    if comparison_frame is not None:
        parts.append(f"<h2>Against the base ({span}, paired replicates)</h2>"
                     "<p class='note'>Difference of each KPI from the base scenario, with its 95 % interval from "
                     "replicates run on the same seeds; revenue per extra programme dollar "
                     f"(<code>{PER_EXTRA_DOLLAR}</code>) is the change in revenue over the change in everything "
                     "the programme costs (<code>program_cost</code>: the front-end discount, the incentives and "
                     "the operating spend); blank where that cost did not rise.</p>")
        parts.append(html_table(kpi_table(comparison_frame, "difference")))
        parts.extend(_returns_section(comparison_frame, span))
        parts.extend(_sources_section(sources(comparison_frame), span))
    parts.append(f"<h2>KPIs, {span}</h2><p class='note'>Mean and 95 % interval across replicates. Revenue, "
                 "spend: sums over the window's quarters; shares and rates: their average; partners, "
                 "attrition: at its end. <code>discount</code> is the front-end margin given on partners' deals "
                 "(margin, tier and loyalty points); <code>incentive_spend</code> what the incentives booked "
                 f"against revenue paid ({_listed('contra_revenue')}), so that net revenue is revenue less both; "
                 f"<code>spend_total</code> adds the vendor's operating spend ({_listed('operating')}). "
                 "<code>vendor_contribution</code> is the vendor's gross profit (partner-sourced and direct revenue "
                 "at the product lines' gross margins before channel costs) less <code>program_cost</code>. "
                 "summary.csv also holds <code>partner_payments</code> (discount + incentive_spend: every dollar "
                 "given to partners) and <code>program_cost</code> (discount + spend_total: every dollar the "
                 "programme costs).</p>")
    parts.append(html_table(kpi_table(summary_frame, "mean")))
    parts.extend(extra or [])
    captions = {"revenue": "Revenue", "mindshare": "Mindshare", "spend": "Spend by instrument",
                "partners": "Partners by tier, recruits and exits", "cohorts": "Recruits' time to first deal",
                "responders": "Who responded"}
    for name, data in images.items():
        if name == "differences":
            continue
        encoded = base64.b64encode(data).decode()
        parts.append(f"<h2>{captions.get(name, name)}</h2><img alt='{name}' src='data:image/png;base64,{encoded}'>")
    if note:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    parts.append("</body></html>")
    path.write_text("".join(parts), encoding="utf-8")
