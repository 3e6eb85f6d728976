"""Who responded: a scenario's paired change against a base, partner group by partner group.

Scenarios compared on common random numbers keep their partners' ids and random streams, so partner k of
replicate r is the same firm in the base and in the compared scenario. Over a window of quarters start..stop
(inclusive), for each replicate r and group g of partners:

    revenue_g,r   = Σ over g's partners and the window's quarters of `revenue`   (absent from a quarter: 0)
    profit_g,r    = the same with `profit`
    retained_g,r  = of g's partners in that scenario's channel at the window's first quarter, the share still in it
                    at its last (attrition in the group: those that left or were terminated are gone)
    mindshare_g,r = the mean of `mindshare` (a partner's share of selling effort on the focal vendor) over the
                    partner-quarters of g in that scenario's window rows: Σ mindshare / number of partner-quarters
                    (unweighted, unlike the capacity-weighted KPI `mindshare` of the quarters)

and across replicates

    base       = mean_r base_g,r
    difference = mean_r (other_g,r - base_g,r), ci_low..ci_high its 95 % t-interval (`report.interval`)
    relative   = difference / |base|  (NaN where base is 0)
    partners   = mean_r of the partners of g present in the window in either scenario

(a replicate where g has no partner-quarter in one scenario adds 0 to revenue and profit and is left out of
mindshare). A partner's group is read from the base at the first window quarter it is present in there, or,
present only in the compared scenario, from that scenario at its first window quarter in it:

    segment    its main segment                     velocity  velocity_class (high / low)
    tier       its focal tier                       cohort    "recruit" (joined > 0) / "incumbent"
    size       "top 20%": the ceil(20 %) of the base's partners at the window's first quarter with the highest
               trailing_revenue (per replicate); every other partner "rest"
    alignment  Q1 (lowest) .. Q4 (highest): quartiles, per replicate, of alignment, read as above and, where
               that reads NaN (the base targets no vertical), from the compared scenario's first window quarter;
               a partner with no alignment in either is "n/a". Only when some partner has an alignment.

Each partner is in one group per dimension, so per dimension the groups' revenue and profit differences add up
to the `all` group's (to rounding), which is the change in the window's summed panel revenue.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from sim.report import COLOURS, interval  # noqa: E402

KEYS = ["replicate", "partner_id"]
MEASURES = ["mindshare", "revenue", "profit", "retained"]
TOP = 0.2  # the share of the base's partners in the "top 20%" size group
QUARTILES = ["Q1", "Q2", "Q3", "Q4"]
DIMENSIONS = ["all", "segment", "velocity", "size", "tier", "alignment", "cohort"]  # in the table's order
COLUMNS = ["scenario", "dimension", "group", "partners", "measure", "base", "difference", "ci_low", "ci_high",
           "relative"]


def responders(panel: pd.DataFrame, base: str, others: list[str], window: tuple[int, int]) -> pd.DataFrame:
    """Each of `others` against `base` over quarters window[0]..window[1], by partner group (module docstring);
    tidy, COLUMNS, the `all` group first. The table's attrs hold the base and the window."""
    start, stop = window
    rows = panel[panel["quarter"].between(start, stop)]
    base_rows = rows[rows["scenario"] == base]
    if base_rows.empty:
        raise ValueError(f"the panel has no row of {base!r} in quarters {start}..{stop}")
    table = pd.concat([_paired(base_rows, rows[rows["scenario"] == other], other, start, stop) for other in others],
                      ignore_index=True)
    table.attrs.update(base=base, window=(start, stop))
    return table


def groups(base_rows: pd.DataFrame, other_rows: pd.DataFrame, start: int) -> pd.DataFrame:
    """Every partner of a comparison's window, one column per dimension (`all` first) holding its group;
    indexed by replicate and partner_id."""
    first_base = base_rows.sort_values("quarter", kind="stable").drop_duplicates(KEYS).set_index(KEYS)
    first_other = other_rows.sort_values("quarter", kind="stable").drop_duplicates(KEYS).set_index(KEYS)
    first = pd.concat([first_base, first_other[~first_other.index.isin(first_base.index)]])
    labels = pd.DataFrame({"all": "all", "segment": first["segment"].astype(str),
                           "velocity": first["velocity_class"].astype(str), "size": "rest",
                           "tier": first["tier"].astype(str)}, index=first.index)
    opening = base_rows[base_rows["quarter"] == start]
    by_replicate = opening.groupby("replicate")["trailing_revenue"]
    top = by_replicate.rank(method="first", ascending=False) <= np.maximum(1, np.ceil(TOP * by_replicate.transform(
        "size")))
    labels.loc[pd.MultiIndex.from_frame(opening.loc[top, KEYS]), "size"] = "top 20%"
    alignment = first["alignment"].fillna(first_other["alignment"])
    if alignment.notna().any():
        share = alignment.groupby(level="replicate").rank(method="first", pct=True)
        quartile = pd.cut(share, [0.0, 0.25, 0.5, 0.75, 1.0], labels=QUARTILES)
        labels["alignment"] = quartile.cat.add_categories("n/a").fillna("n/a").astype(str)
    labels["cohort"] = np.where(first["joined"] > 0, "recruit", "incumbent")
    return labels


def _order(labels: pd.DataFrame, base_rows: pd.DataFrame) -> dict[tuple[str, str], int]:
    """Where each (dimension, group) goes in the table: dimensions as in `labels`, groups in their natural order."""
    natural = {"all": ["all"], "segment": _categories(base_rows["segment"]), "velocity": ["high", "low"],
               "size": ["top 20%", "rest"], "tier": _categories(base_rows["tier"]),
               "alignment": [*QUARTILES, "n/a"], "cohort": ["recruit", "incumbent"]}
    pairs = [(d, g) for d in labels.columns for g in dict.fromkeys([*natural[d], *sorted(labels[d].unique())])]
    return {pair: i for i, pair in enumerate(pairs)}


def _categories(column: pd.Series) -> list[str]:
    return [str(c) for c in column.cat.categories] if isinstance(column.dtype, pd.CategoricalDtype) else []


def _paired(base_rows: pd.DataFrame, other_rows: pd.DataFrame, other: str, start: int, stop: int) -> pd.DataFrame:
    labels = groups(base_rows, other_rows, start)
    members = labels.rename_axis(columns="dimension").stack().rename("group").reset_index()
    replicates = np.sort(base_rows["replicate"].unique())
    cells = members[["dimension", "group"]].drop_duplicates().merge(pd.DataFrame({"replicate": replicates}),
                                                                    how="cross")
    grid = pd.MultiIndex.from_frame(cells)

    def levels(scenario_rows: pd.DataFrame) -> pd.DataFrame:
        """A scenario's measures per (dimension, group, replicate): sums, and mindshare's mean."""
        summed = [m for m in MEASURES if m != "retained"]
        values = scenario_rows[KEYS].assign(**{m: scenario_rows[m].astype(np.float64) for m in summed}, quarters=1)
        per_partner = values.groupby(KEYS, sort=False).sum().reset_index()
        sums = per_partner.merge(members, on=KEYS).groupby(["dimension", "group", "replicate"])[
            [*summed, "quarters"]].sum().reindex(grid)
        sums[["revenue", "profit"]] = sums[["revenue", "profit"]].fillna(0.0)
        sums["mindshare"] = sums["mindshare"] / sums["quarters"]
        # retained: of the group's partners in the channel at the window's first quarter, the share still in it at
        # its last (those that left, were terminated or moved out of the panel count as gone)
        first = scenario_rows.loc[scenario_rows["quarter"] == start, KEYS].assign(at_start=1.0)
        last = scenario_rows.loc[scenario_rows["quarter"] == stop, KEYS].assign(at_end=1.0)
        stayed = first.merge(last, on=KEYS, how="left").fillna({"at_end": 0.0}).merge(members, on=KEYS)
        kept = stayed.groupby(["dimension", "group", "replicate"])[["at_start", "at_end"]].sum().reindex(grid)
        sums["retained"] = kept["at_end"] / kept["at_start"]
        return sums[MEASURES]

    before, after = levels(base_rows), levels(other_rows)
    long = before.rename_axis(columns="measure").stack().rename("base").to_frame()
    long["difference"] = (after - before).rename_axis(columns="measure").stack()
    summary = long.groupby(["dimension", "group", "measure"]).apply(_summarise).reset_index()
    counts = members.groupby(["dimension", "group", "replicate"]).size().reindex(grid, fill_value=0)
    summary = summary.merge(counts.groupby(["dimension", "group"]).mean().rename("partners").reset_index())
    summary["scenario"] = other
    order = _order(labels, base_rows)
    position = [order[d, g] * len(MEASURES) + MEASURES.index(m)
                for d, g, m in summary[["dimension", "group", "measure"]].itertuples(index=False)]
    return summary.iloc[np.argsort(position, kind="stable")][COLUMNS].reset_index(drop=True)


def _summarise(cell: pd.DataFrame) -> pd.Series:
    """One group's measure: the base's mean level and the paired difference with its interval over the replicates
    that have it (NaN with fewer than two)."""
    difference = cell["difference"].dropna().to_numpy()
    mean, low, high, _ = interval(difference) if difference.size else (np.nan, np.nan, np.nan, np.nan)
    if difference.size < 2:  # one replicate gives no interval, not a certain one
        low = high = np.nan
    base = float(cell["base"].mean())
    return pd.Series({"base": base, "difference": mean, "ci_low": low, "ci_high": high,
                      "relative": mean / abs(base) if base else np.nan})


def top_movers(table: pd.DataFrame, measure: str = "revenue", n: int = 5) -> pd.DataFrame:
    """The `n` groups of each scenario that moved most in `measure` (the `all` rows left out), scenarios in the
    table's order: first the groups whose interval excludes zero, then the others (an interval that straddles or
    touches zero, or none); within each, by |relative| largest first, groups with a zero base (relative NaN) after
    those with one, by |difference|."""
    rows = table[(table["measure"] == measure) & (table["dimension"] != "all")]
    order = {name: i for i, name in enumerate(dict.fromkeys(rows["scenario"]))}
    keys = pd.DataFrame({"scenario": rows["scenario"].map(order),
                         "straddles": ~((rows["ci_low"] > 0) | (rows["ci_high"] < 0)),
                         "no_base": rows["relative"].isna(), "relative": -rows["relative"].abs(),
                         "difference": -rows["difference"].abs()}, index=rows.index)
    ranked = rows.loc[keys.sort_values(list(keys.columns), kind="stable").index]
    return ranked.groupby("scenario", sort=False).head(n).reset_index(drop=True)


UNITS = {"revenue": (1e3, "$k over the window"), "profit": (1e3, "$k over the window"),
         "mindshare": (0.01, "points of effort share"), "retained": (0.01, "points of partners retained")}


def figure(table: pd.DataFrame, measure: str = "revenue") -> plt.Figure:
    """Horizontal bars of each group's paired difference in `measure`, whiskers its 95 % interval, one panel per
    dimension and one colour per compared scenario."""
    rows = table[table["measure"] == measure]
    scale, unit = UNITS.get(measure, (1.0, measure))
    scenarios = list(dict.fromkeys(rows["scenario"]))
    dimensions = [d for d in DIMENSIONS if d in set(rows["dimension"])]
    sizes = [rows.loc[rows["dimension"] == d, "group"].nunique() for d in dimensions]
    fig, axes = plt.subplots(len(dimensions), 1, sharex=True, squeeze=False, gridspec_kw={"height_ratios": sizes},
                             figsize=(8, 1.2 + 0.28 * sum(sizes) * max(1, len(scenarios) * 0.7)))
    height = 0.8 / len(scenarios)
    for ax, dimension in zip(axes[:, 0], dimensions, strict=True):
        part = rows[rows["dimension"] == dimension]
        names = list(dict.fromkeys(part["group"]))
        for i, scenario in enumerate(scenarios):
            cell = part[part["scenario"] == scenario].set_index("group").reindex(names)
            y = np.arange(len(names)) + (i - (len(scenarios) - 1) / 2) * height
            middle = cell["difference"] / scale
            ax.barh(y, middle, height * 0.9, color=COLOURS[i % 8], alpha=0.85, label=scenario)
            ax.errorbar(middle, y, xerr=[middle - cell["ci_low"] / scale, cell["ci_high"] / scale - middle],
                        fmt="none", ecolor="#333333", elinewidth=1, capsize=2)
        ax.set_yticks(np.arange(len(names)), names, fontsize=8)
        ax.set_ylim(len(names) - 0.5, -0.5)
        ax.set_ylabel(dimension, fontsize=9)
        ax.axvline(0.0, color="#333333", lw=0.8)
        ax.grid(alpha=0.3, axis="x")
    base, window = table.attrs.get("base"), table.attrs.get("window")
    against = f" against {base}" if base else ""
    quarters = f", quarters {window[0]}-{window[1]}" if window else ""
    axes[0, 0].set_title(f"Who responded: change in {measure}{against}{quarters} (mean, 95 % interval)",
                         loc="left", fontsize=11)
    axes[-1, 0].set_xlabel(unit)
    if len(scenarios) > 1:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="lower center", ncol=min(4, len(scenarios)),
                   fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.03 if len(scenarios) > 1 else 0, 1, 1))
    return fig
