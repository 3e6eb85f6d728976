"""The vendor's P&L and what a comparison reads from it.

Claims: every quarter, contribution is gross profit less the discount and every instrument's spend, exactly;
gross profit is the vendor's revenue (through partners and direct) at the product lines' blended gross margin,
so raising software's margin raises it as software's share says and changes nothing else; the channel's share
of the vendor's revenue is a share. A comparison's incentive return is the extra gross profit beyond the extra
cost over that cost, blank where the cost did not rise (two falls are not a gain), with the sign of the
gain; its sources of mindshare sum to minus the focal vendor's change.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim import ChannelModel
from sim.params import Margin, ProductLine
from sim.report import INCENTIVE_ROI, PER_EXTRA_DOLLAR, comparison, final_year, sources

SMALL = {"partners__count": 60, "quarters": 6}
# direct sales take a tenth of registered deals, so the vendor sells direct as well as through partners
DIRECT = {"vendor__deal_registration__enabled": True, "vendor__deal_registration__override_rate": 0.1}


def quarters_of(model: ChannelModel) -> pd.DataFrame:
    return model.run()


def test_contribution_is_gross_profit_less_the_discount_and_every_instruments_spend_each_quarter():
    frame = quarters_of(ChannelModel(rng=4, **SMALL, **DIRECT))
    spend = [c for c in frame.columns if c.startswith("spend_") and c not in ("spend_total", "spend_pct_revenue")]
    assert {"spend_rebate", "spend_mdf", "spend_cam", "spend_deal_registration"} <= set(spend)
    np.testing.assert_allclose(frame[spend].sum(axis=1), frame["spend_total"], rtol=1e-12)
    assert (frame["vendor_contribution"]
            == frame["vendor_gross_profit"] - frame["discount"] - frame["spend_total"]).all()
    assert (frame["vendor_revenue"] == frame["revenue"] + frame["direct_revenue"]).all()
    assert (frame["direct_revenue"] > 0).all()  # the override is in the vendor's revenue
    np.testing.assert_allclose(frame["vendor_gross_profit"], 0.65 * frame["vendor_revenue"], rtol=1e-12)
    # what partners keep and what the programme spends, counted once: contribution is net revenue's gross profit
    # less the operating spend, in the same dollars
    operating = frame["spend_total"] - (frame["revenue"] - frame["discount"] - frame["net_revenue"])
    np.testing.assert_allclose(frame["vendor_contribution"],
                               frame["vendor_gross_profit"] - frame["revenue"] + frame["net_revenue"] - operating,
                               rtol=1e-9, atol=1e-6)


def test_the_channels_share_of_the_vendors_revenue_is_a_share_and_below_one_when_the_vendor_sells_direct():
    frame = quarters_of(ChannelModel(rng=5, **SMALL, **DIRECT))
    assert frame["channel_share"].between(0.0, 1.0).all()
    assert (frame["channel_share"] < 1.0).all()
    np.testing.assert_allclose(frame["channel_share"], frame["revenue"] / frame["vendor_revenue"], rtol=1e-12)
    final = final_year(frame.assign(scenario="s", replicate=0))
    assert 0.0 <= final.loc[0, "channel_share"] < 1.0
    assert final.loc[0, "vendor_contribution"] == pytest.approx(frame["vendor_contribution"].tail(4).sum())


def test_gross_profit_follows_the_line_margins_as_the_line_shares_say_and_moves_nothing_else():
    base = quarters_of(ChannelModel(rng=6, **SMALL))
    richer = quarters_of(ChannelModel(rng=6, **SMALL, vendor__margin__lines__software__gross_margin=0.9))
    assert (base["vendor_revenue"] == richer["vendor_revenue"]).all()  # a margin on the vendor's books only
    # software is 0.4 of the deal value: its 10 more points are 4 more on the blend (0.65 -> 0.69)
    np.testing.assert_allclose(richer["vendor_gross_profit"] - base["vendor_gross_profit"],
                               0.04 * base["vendor_revenue"], rtol=1e-9)
    np.testing.assert_allclose(richer["vendor_contribution"] - base["vendor_contribution"],
                               0.04 * base["vendor_revenue"], rtol=1e-9)


def test_a_programme_without_lines_or_a_line_without_its_own_margin_uses_the_programmes_gross_margin():
    assert Margin().blended_gross_margin() == pytest.approx(0.6 * 0.55 + 0.4 * 0.80)
    assert Margin(lines={}, gross_margin=0.5).blended_gross_margin() == 0.5
    mixed = Margin(gross_margin=0.7, lines={"a": ProductLine(share=0.5, gross_margin=0.3), "b": ProductLine(share=0.5)})
    assert mixed.blended_gross_margin() == pytest.approx(0.5 * 0.3 + 0.5 * 0.7)
    frame = quarters_of(ChannelModel(rng=7, **SMALL, vendor__margin__lines={}, vendor__spif__line="",
                                     vendor__margin__gross_margin=0.5))
    np.testing.assert_allclose(frame["vendor_gross_profit"], 0.5 * frame["vendor_revenue"], rtol=1e-12)


# ----------------------------------------------------------------------------- a comparison, on hand-made frames

RIVALS = ("rival_1", "rival_2")


def scenario(name: str, gross: float, discount: float, rebate: float, mdf: float = 4.0, focal: float = 0.30,
             from_rivals: tuple[float, float] = (0.0, 0.0), unserved: float | None = None,
             rebate_by_replicate: tuple[float, ...] | None = None) -> pd.DataFrame:
    """Four quarters of three replicates, the same every quarter: gross profit, the discount, a rebate and MDF a
    quarter, and mindshare: the focal vendor's `focal`, the rest split between the rivals (each 0.2 less what the
    focal vendor took from it) and services."""
    rows = []
    for r in range(3):
        paid = rebate if rebate_by_replicate is None else rebate_by_replicate[r]
        rivals = [0.2 - taken for taken in from_rivals]
        row = {"scenario": name, "replicate": r, "revenue": 10 * gross + r, "net_revenue": 10 * gross - discount,
               "direct_revenue": 5.0, "discount": discount, "vendor_gross_profit": gross + r,
               "vendor_contribution": gross + r - discount - paid - mdf, "spend_rebate": paid, "spend_mdf": mdf,
               "spend_total": paid + mdf, "mdf_allocated": 10.0, "mdf_claimed": mdf,
               "mindshare": focal, **{f"mindshare_{n}": v for n, v in zip(RIVALS, rivals, strict=True)},
               "mindshare_services": 1.0 - focal - sum(rivals),
               **{f"revenue_{n}": 100.0 - 30 * taken for n, taken in zip(RIVALS, from_rivals, strict=True)}}
        if unserved is not None:
            row["unserved_demand"] = unserved
        rows += [{**row, "quarter": q} for q in range(1, 5)]
    return pd.DataFrame(rows)


def compared(*frames: pd.DataFrame) -> pd.DataFrame:
    final = final_year(pd.concat(frames, ignore_index=True))
    names = list(dict.fromkeys(final["scenario"]))
    return comparison(final, names[0], names[1:])


def returns(table: pd.DataFrame, name: str) -> pd.DataFrame:
    return table[(table["scenario"] == name) & table["kpi"].str.startswith(INCENTIVE_ROI)].set_index("kpi")


def test_the_incentive_return_is_the_extra_gross_profit_beyond_the_extra_cost_over_that_cost():
    base = scenario("base", gross=100.0, discount=10.0, rebate=5.0)
    paying = scenario("paying", gross=130.0, discount=12.0, rebate=8.0)
    losing = scenario("losing", gross=90.0, discount=10.0, rebate=8.0)
    table = compared(base, paying, losing)
    # +120 of gross profit a year for +8 of discount and +12 of rebate: 100 beyond the 20, 5 a dollar
    paid = returns(table, "paying")
    assert paid.loc[INCENTIVE_ROI, ["difference", "ci_low", "ci_high"]].tolist() == [5.0] * 3
    assert paid.loc[INCENTIVE_ROI, "note"] == ""
    # the rebate alone, given the whole gain: (120 - 12) / 12; MDF did not move, so it has no return
    assert paid.loc[f"{INCENTIVE_ROI}_rebate", "difference"] == pytest.approx(9.0)
    assert f"{INCENTIVE_ROI}_mdf" not in paid.index
    assert "rebate" in paid.loc[f"{INCENTIVE_ROI}_rebate", "note"]  # says it was given the whole change
    # more cost and less gross profit: a loss of more than the cost
    lost = returns(table, "losing").loc[INCENTIVE_ROI]
    assert lost["difference"] == pytest.approx((-40.0 - 12.0) / 12.0) and lost["ci_high"] < -1.0


def test_a_return_is_blank_where_the_cost_did_not_rise_so_two_falls_never_read_as_a_gain():
    base = scenario("base", gross=100.0, discount=10.0, rebate=5.0)
    cut = scenario("cut", gross=80.0, discount=8.0, rebate=2.0)  # -80 of gross profit for -20 of cost
    same = scenario("same", gross=100.0, discount=10.0, rebate=5.0)
    free = scenario("free", gross=110.0, discount=10.0, rebate=5.0)  # a gain for no extra cost: no ratio either
    table = compared(base, cut, same, free)
    for name in ("cut", "same", "free"):
        row = returns(table, name).loc[INCENTIVE_ROI]
        assert np.isnan(row[["difference", "ci_low", "ci_high"]].astype(float)).all(), name
        assert "program_cost" in row["note"], name
    assert "fell" in returns(table, "cut").loc[INCENTIVE_ROI, "note"]
    cut_rebate = returns(table, "cut").loc[f"{INCENTIVE_ROI}_rebate"]
    assert np.isnan(cut_rebate["difference"]) and "spend_rebate fell" in cut_rebate["note"]
    # so is the revenue per extra programme dollar: revenue and cost both fell, and their ratio would read as a gain
    for name in ("cut", "same"):
        per_dollar = table[(table["scenario"] == name) & (table["kpi"] == PER_EXTRA_DOLLAR)].iloc[0]
        assert np.isnan(per_dollar["difference"]) and "program_cost" in per_dollar["note"], name
    assert "fell" in table[(table["scenario"] == "cut") & (table["kpi"] == PER_EXTRA_DOLLAR)]["note"].item()


def test_a_cost_that_rises_on_average_but_falls_in_a_replicate_leaves_the_returns_interval_open():
    base = scenario("base", gross=100.0, discount=10.0, rebate=5.0)
    mixed = scenario("mixed", gross=110.0, discount=10.0, rebate=5.0, rebate_by_replicate=(8.0, 8.0, 4.0))
    row = returns(compared(base, mixed), "mixed").loc[INCENTIVE_ROI]
    # +40 of gross profit for +(12 + 12 - 4) / 3 of cost on average
    assert row["difference"] == pytest.approx((40.0 - 20.0 / 3) / (20.0 / 3))
    assert np.isnan(row["ci_low"]) and np.isnan(row["ci_high"]) and "not bounded" in row["note"]


def test_the_sources_of_mindshare_sum_to_minus_the_focal_change_and_revenue_stands_beside_rivals_and_unserved():
    base = scenario("base", gross=100.0, discount=10.0, rebate=5.0, unserved=50.0)
    spif = scenario("spif", gross=110.0, discount=10.0, rebate=5.0, focal=0.36, from_rivals=(0.05, 0.02),
                    unserved=40.0)
    table = sources(compared(base, spif))
    mindshare = table[table["measure"] == "mindshare"].set_index("source")["difference"]
    assert list(mindshare.index) == ["focal", *RIVALS, "services"]
    assert mindshare["focal"] == pytest.approx(0.06)
    assert mindshare.drop("focal").sum() == pytest.approx(-mindshare["focal"], abs=1e-12)
    assert mindshare[list(RIVALS)].tolist() == pytest.approx([-0.05, -0.02])  # taken from each rival
    assert mindshare["services"] == pytest.approx(0.01)  # services gave up less than the rivals' loss
    revenue = table[table["measure"] == "revenue"].set_index("source")
    assert list(revenue.index) == ["focal", *RIVALS, "direct", "unserved"]
    assert revenue.loc["unserved", "difference"] == pytest.approx(4 * (40.0 - 50.0))  # summed over the year
    assert revenue.loc["rival_1", "kpi"] == "revenue_rival_1"
    without = sources(compared(scenario("base", 100.0, 10.0, 5.0), scenario("other", 100.0, 10.0, 5.0)))
    assert "unserved" not in set(without["source"])  # only where the run measures it


def test_the_sources_of_a_real_run_sum_to_minus_the_focal_change():
    frames = []
    for name, extra in (("base", {}), ("attack", {"rivals__program__margin__base": 0.26})):
        for replicate in range(2):
            frame = quarters_of(ChannelModel(rng=10 + replicate, **SMALL, **extra))
            frames.append(frame.assign(scenario=name, replicate=replicate))
    table = sources(compared(*frames))
    mindshare = table[table["measure"] == "mindshare"].set_index("source")["difference"]
    assert list(mindshare.index) == ["focal", "rival_1", "rival_2", "services"]
    assert abs(mindshare["focal"]) > 1e-3  # the rivals' margin moved effort, whichever way
    assert mindshare.drop("focal").sum() == pytest.approx(-mindshare["focal"], abs=1e-6)  # float32 effort
