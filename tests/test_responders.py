"""Who responded: paired partner-by-partner changes against a base on common seeds, by partner group."""

import numpy as np
import pandas as pd
import pytest

from sim import runner
from sim.params import build_scenario
from sim.responders import figure, responders, top_movers

SMALL = {"partners.count": 200, "quarters": 10}
# $1,000 per healthcare deal on every product line in quarters 6 and 7, once, in place of the yearly software SPIF
HEALTHCARE_SPIF = {"vendor.spif.amount": 1_000.0, "vendor.spif.line": "", "vendor.spif.vertical": "healthcare",
                   "vendor.spif.start": 6, "vendor.spif.length": 2, "vendor.spif.every": 0}
REPLICATES = 4
WINDOW = (3, 10)


@pytest.fixture(scope="module")
def outcomes() -> dict[str, runner.Outcome]:
    base = build_scenario(None, SMALL)  # the defaults: the baseline channel
    spif = build_scenario(None, {**SMALL, **HEALTHCARE_SPIF})
    margin = build_scenario(None, {**SMALL, "vendor.margin.base": 0.30})
    runs = [("baseline", base), ("again", base), ("margin", margin), ("spif", spif)]
    return runner.run(runs, replicates=REPLICATES, seed=1, partners=True, progress=False)


@pytest.fixture(scope="module")
def panel(outcomes) -> pd.DataFrame:
    return pd.concat([outcome.partners for outcome in outcomes.values()], ignore_index=True)


def rows_of(table: pd.DataFrame, scenario: str, measure: str) -> pd.DataFrame:
    return table[(table["scenario"] == scenario) & (table["measure"] == measure)]


def test_a_scenario_against_itself_moves_no_group_by_a_single_bit(panel):
    table = responders(panel, "baseline", ["again"], WINDOW)
    assert set(table["dimension"]) == {"all", "segment", "velocity", "size", "tier", "cohort"}  # no vertical targeted
    assert (table["difference"] == 0.0).all() and (table["relative"].dropna() == 0.0).all()
    sums = table[table["measure"].isin(["revenue", "profit"])]
    assert (sums["ci_low"] == 0.0).all() and (sums["ci_high"] == 0.0).all()
    # a group's mindshare (or retention) in fewer than two replicates has no interval; every other one is exactly 0
    for measure in ("mindshare", "retained"):
        shares = table[table["measure"] == measure]
        assert ((shares["ci_low"] == 0.0) & (shares["ci_high"] == 0.0) | shares["ci_low"].isna()).all()
        assert shares["ci_low"].notna().sum() >= len(shares) - 2


def test_groups_add_up_to_the_channel_and_the_channel_to_the_panel_and_the_quarters(panel, outcomes):
    table = responders(panel, "baseline", ["margin", "spif"], WINDOW)
    start, stop = WINDOW
    inside = panel[panel["quarter"].between(start, stop)]
    for other in ("margin", "spif"):
        for measure in ("revenue", "profit"):
            rows = rows_of(table, other, measure)
            everyone = rows.loc[rows["dimension"] == "all", "difference"].item()
            by_dimension = rows[rows["dimension"] != "all"].groupby("dimension")["difference"].sum()
            assert len(by_dimension) == (6 if other == "spif" else 5)  # alignment: only where a vertical is targeted
            for total in by_dimension:
                assert total == pytest.approx(everyone, rel=1e-12)
            summed = inside.assign(value=inside[measure].astype(np.float64)).groupby("scenario")["value"].sum()
            assert everyone == pytest.approx((summed[other] - summed["baseline"]) / REPLICATES, rel=1e-12)
        # each quarter's panel revenue is the quarters' revenue to the bit; the window's total to rounding
        for name in (other, "baseline"):
            quarters = outcomes[name].quarters.set_index(["replicate", "quarter"])["revenue"]
            rows = panel[panel["scenario"] == name]
            by_quarter = rows.assign(value=rows["revenue"].astype(np.float64)).groupby(["replicate", "quarter"])
            assert (by_quarter["value"].sum() == quarters).all()
        window = {name: outcomes[name].quarters.query("@start <= quarter <= @stop")["revenue"].sum()
                  for name in (other, "baseline")}
        revenue = rows_of(table, other, "revenue")
        assert revenue.loc[revenue["dimension"] == "all", "difference"].item() == pytest.approx(
            (window[other] - window["baseline"]) / REPLICATES, rel=1e-12)


def test_a_richer_front_end_margin_raises_the_channels_revenue(panel):
    revenue = rows_of(responders(panel, "baseline", ["margin"], WINDOW), "margin", "revenue").set_index("dimension")
    assert revenue.loc["all", "difference"] > 0 and revenue.loc["all", "ci_low"] > 0


def test_a_healthcare_spif_draws_the_partners_most_aligned_with_healthcare_most(panel):
    table = responders(panel, "baseline", ["spif"], (6, 7))  # the SPIF's two quarters
    shares = rows_of(table, "spif", "mindshare")
    quartiles = shares[shares["dimension"] == "alignment"].set_index("group")
    assert list(quartiles.index[:4]) == ["Q1", "Q2", "Q3", "Q4"]  # the baseline targets none: read from the SPIF's
    assert quartiles.loc["Q4", "difference"] > quartiles.loc["Q1", "difference"]
    assert quartiles.loc["Q4", "ci_low"] > 0


@pytest.mark.parametrize("window", [WINDOW, (6, 7)])
def test_each_dimension_parts_the_partners_once(panel, window):
    table = responders(panel, "baseline", ["margin", "spif"], window)
    start, stop = window
    inside = panel[panel["quarter"].between(start, stop) & panel["scenario"].isin(["baseline", "spif"])]
    for other in ("margin", "spif"):
        counts = rows_of(table, other, "revenue").groupby("dimension")["partners"].sum()
        assert counts.drop("all").to_numpy() == pytest.approx(counts["all"], rel=1e-12)
    everyone = rows_of(table, "spif", "revenue").set_index("dimension").loc["all", "partners"]
    assert everyone == inside[["replicate", "partner_id"]].drop_duplicates().shape[0] / REPLICATES
    opening = panel[(panel["scenario"] == "baseline") & (panel["quarter"] == start)].groupby("replicate").size()
    size = rows_of(table, "spif", "revenue").set_index("group")["partners"]
    assert size["top 20%"] == np.ceil(0.2 * opening).mean()


def test_a_one_quarter_window_reads_only_that_quarter(panel, outcomes):
    table = responders(panel, "baseline", ["margin"], (5, 5))
    alone = responders(panel[panel["quarter"] == 5], "baseline", ["margin"], (5, 5))
    pd.testing.assert_frame_equal(table, alone, check_exact=True)
    assert not table.equals(responders(panel, "baseline", ["margin"], (5, 6)))
    revenue = {name: outcomes[name].quarters.query("quarter == 5")["revenue"].mean() for name in ("margin", "baseline")}
    everyone = rows_of(table, "margin", "revenue").set_index("dimension").loc["all", "difference"]
    assert everyone == pytest.approx(revenue["margin"] - revenue["baseline"], rel=1e-12)


def test_the_top_movers_put_the_clear_moves_first_and_leave_out_the_channel(panel):
    table = responders(panel, "baseline", ["margin", "spif"], WINDOW)
    movers = top_movers(table, "revenue", n=4)
    assert list(movers["scenario"]) == ["margin"] * 4 + ["spif"] * 4
    assert "all" not in set(movers["dimension"])
    for _, rows in movers.groupby("scenario"):
        clear = ((rows["ci_low"] > 0) | (rows["ci_high"] < 0)).to_numpy()
        assert (np.sort(clear)[::-1] == clear).all()  # clear moves before the others
        first = rows[clear]["relative"].abs().to_numpy()
        assert (np.diff(first) <= 0).all()


def test_the_figure_has_a_panel_per_dimension(panel):
    table = responders(panel, "baseline", ["margin", "spif"], WINDOW)
    fig = figure(table, "mindshare")
    assert len(fig.axes) == table["dimension"].nunique() == 7
    assert [t.get_text() for t in fig.axes[-1].get_yticklabels()] == ["recruit", "incumbent"]


def test_a_groups_mindshare_is_the_mean_over_its_partner_quarters(panel):
    table = responders(panel, "baseline", ["margin"], WINDOW)
    start, stop = WINDOW
    inside = panel[panel["quarter"].between(start, stop)]
    level = {name: inside[inside["scenario"] == name].groupby("replicate")["mindshare"].mean()
             for name in ("baseline", "margin")}
    shares = rows_of(table, "margin", "mindshare").set_index("dimension").loc["all"]
    assert shares["base"] == pytest.approx(level["baseline"].mean(), rel=1e-9)
    assert shares["difference"] == pytest.approx((level["margin"] - level["baseline"]).mean(), rel=1e-9)


def test_retained_is_the_share_of_a_groups_partners_at_the_windows_start_still_in_the_channel_at_its_end(panel):
    table = responders(panel, "baseline", ["margin"], WINDOW)
    start, stop = WINDOW
    base = panel[panel["scenario"] == "baseline"]
    shares = []
    for _, rows in base.groupby("replicate"):
        first = set(rows.loc[rows["quarter"] == start, "partner_id"])
        last = set(rows.loc[rows["quarter"] == stop, "partner_id"])
        shares.append(len(first & last) / len(first))
    (row,) = rows_of(table, "margin", "retained").query("dimension == 'all'").itertuples()
    assert row.base == pytest.approx(np.mean(shares), rel=1e-12) and 0.5 < row.base < 1.0
