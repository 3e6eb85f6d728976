"""Recruit cohorts: time to first deal as a survival curve (Kaplan-Meier), censoring who has not dealt yet.

A recruit joins in quarter j (at the review of that quarter) and closes its first focal deal in quarter f, so its
time to first deal is T = f - j quarters (1 at the soonest). A recruit that leaves in quarter l without a deal, or
is still without one when the run ends in quarter e, is *censored* at l - j or e - j: it is known not to have
dealt by then, and nothing after. Dropping those recruits (or taking a median over those that dealt, as the
quarterly `time_to_first_deal` does) would hide exactly the recruits a programme fails; Kaplan-Meier keeps them in
the risk sets for as long as they were seen (scipy.stats.ecdf on right-censored data).

A cohort is the recruits of one year of the run (quarters 1-4 are year 1). Per cohort, per replicate:

    dealt_within_k = 1 - S(k), k = 1, 2, 4     the share that has dealt within k quarters of joining (NaN where no
                                                recruit was followed k quarters)
    median         = min {t : S(t) <= 1/2}      quarters (NaN while fewer than half have dealt)

A comparison takes each measure's paired difference over replicates (same seeds), with its 95 % t interval.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats

from sim.report import COLOURS, interval

WITHIN = (1, 2, 4)  # quarters after joining
MEASURES = [f"dealt_within_{k}" for k in WITHIN] + ["median"]


def durations(log: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Each recruit's time to its first deal or to censoring (quarters), and whether the deal was seen."""
    dealt = log["first_deal"].to_numpy() > 0
    seen_until = np.where(log["left"].to_numpy() >= 0, log["left"].to_numpy(), log["end"].to_numpy())
    time = np.where(dealt, log["first_deal"].to_numpy(), seen_until) - log["joined"].to_numpy()
    return time.astype(float), dealt


def survival(log: pd.DataFrame):
    """The Kaplan-Meier estimate of 'not yet dealt' for a set of recruits (scipy's ECDFResult.sf), or None when
    there are none."""
    time, dealt = durations(log)
    if time.size == 0:
        return None
    return stats.ecdf(stats.CensoredData(uncensored=time[dealt], right=time[~dealt])).sf


def measures(log: pd.DataFrame) -> dict[str, float]:
    """The shares dealt within 1, 2, 4 quarters and the median time to first deal of one set of recruits."""
    sf = survival(log)
    if sf is None:
        return dict.fromkeys(MEASURES, np.nan)
    # beyond the longest a recruit was followed nothing is known, unless every recruit had dealt by then
    seen = durations(log)[0].max()
    known = sf.evaluate(seen) == 0
    out = {f"dealt_within_{k}": float(1.0 - sf.evaluate(k)) if k <= seen or known else np.nan for k in WITHIN}
    reached = sf.quantiles[sf.probabilities <= 0.5]
    out["median"] = float(reached[0]) if reached.size else np.nan
    return out


def cohorts(recruits: pd.DataFrame, by: list[str]):
    """(key, cohort, recruits) for each group of `by` (scenario, replicate, ...): first all its recruits (`all`),
    then each yearly cohort (the recruits of one year of the run: quarters 1-4 are year 1)."""
    tagged = recruits.assign(cohort="year " + ((recruits["joined"] - 1) // 4 + 1).astype(str))
    for key, group in tagged.groupby(by, sort=False):
        yield key, "all", group
        for cohort, part in group.groupby("cohort", sort=True):
            yield key, cohort, part


def table(recruits: pd.DataFrame) -> pd.DataFrame:
    """Per scenario, replicate and cohort (and `all` recruits), the measures and the number of recruits; from the
    recruit logs of a run (columns scenario, replicate, partner_id, joined, first_deal, left, end)."""
    rows = [{"scenario": scenario, "replicate": replicate, "cohort": cohort, "recruits": len(part), **measures(part)}
            for (scenario, replicate), cohort, part in cohorts(recruits, ["scenario", "replicate"])]
    return pd.DataFrame(rows, columns=["scenario", "replicate", "cohort", "recruits", *MEASURES])


def since(recruits: pd.DataFrame, first: int) -> pd.DataFrame:
    """Per scenario and replicate, the measures of the recruits who joined from quarter `first` on, as one cohort
    named `joined from quarter <first>` (a scenario's own recruits: those it recruited after it first differs)."""
    label = f"who joined from quarter {first}"
    table_ = table(recruits[recruits["joined"] >= first])
    return table_[table_["cohort"] == "all"].assign(cohort=label)


def comparison(per_replicate: pd.DataFrame, base: str, others: list[str]) -> pd.DataFrame:
    """Each other scenario's paired difference from the base per cohort and measure: scenario, cohort, measure,
    base, value, difference, ci_low, ci_high, replicates (those where both have a value)."""
    rows = []
    keyed = per_replicate.set_index(["scenario", "cohort", "replicate"]).sort_index()
    for other in others:
        for cohort in dict.fromkeys(per_replicate.loc[per_replicate["scenario"] == other, "cohort"]):
            if (base, cohort) not in keyed.index.droplevel(2):
                continue
            left, right = keyed.loc[(base, cohort)], keyed.loc[(other, cohort)]
            for measure in MEASURES:
                pair = pd.concat([left[measure], right[measure]], axis=1, keys=["base", "value"]).dropna()
                mean, low, high, _ = interval((pair["value"] - pair["base"]).to_numpy()) if len(pair) else (np.nan,) * 4
                rows.append({"scenario": other, "cohort": cohort, "measure": measure,
                             "base": float(pair["base"].mean()), "value": float(pair["value"].mean()),
                             "difference": mean, "ci_low": low, "ci_high": high, "replicates": len(pair)})
    return pd.DataFrame(rows, columns=["scenario", "cohort", "measure", "base", "value", "difference", "ci_low",
                                       "ci_high", "replicates"])


def curves(recruits: pd.DataFrame, horizon: int = 8) -> pd.DataFrame:
    """The share of recruits that has dealt within t = 0..horizon quarters, pooled over replicates, per scenario and
    cohort (and `all`), with its 95 % pointwise interval (Greenwood): scenario, cohort, quarters, dealt, ci_low,
    ci_high, recruits."""
    rows = []
    ts = np.arange(horizon + 1)
    for (scenario,), cohort, part in cohorts(recruits, ["scenario"]):
        sf = survival(part)
        if sf is None:
            continue
        with warnings.catch_warnings():  # the band is undefined (NaN) where no recruit is left at risk
            warnings.simplefilter("ignore", RuntimeWarning)
            band = sf.confidence_interval()
        rows.append(pd.DataFrame({"scenario": scenario, "cohort": cohort, "quarters": ts,
                                  "dealt": 1.0 - sf.evaluate(ts), "ci_low": 1.0 - band.high.evaluate(ts),
                                  "ci_high": 1.0 - band.low.evaluate(ts), "recruits": len(part)}))
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["scenario", "cohort", "quarters", "dealt", "ci_low", "ci_high", "recruits"])


def figure(curve: pd.DataFrame, cohort: str = "all"):
    """Each scenario's Kaplan-Meier curve of the share of recruits that has dealt, for one cohort."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4))
    part = curve[curve["cohort"] == cohort]
    for k, (scenario, lines) in enumerate(part.groupby("scenario", sort=False)):
        colour = COLOURS[k % len(COLOURS)]
        ax.step(lines["quarters"], 100 * lines["dealt"], where="post", color=colour,
                label=f"{scenario} ({int(lines['recruits'].iloc[0])} recruits)")
        ax.fill_between(lines["quarters"], 100 * lines["ci_low"], 100 * lines["ci_high"], step="post", color=colour,
                        alpha=0.15, linewidth=0)
    ax.set_xlabel("quarters since joining")
    ax.set_ylabel("% of recruits with a first deal")
    ax.set_title(f"Time to first deal (Kaplan-Meier; recruits who leave or never deal are censored), {cohort}")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(frameon=False, fontsize=8)
    fig.tight_layout()
    return fig
