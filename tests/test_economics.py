"""Credible economics: the size of the channel's responses, measured as a marketing scientist would.

Every effect is a paired difference on common random numbers (the same seeds, side by side as lanes), over the
final two years of a 24-quarter run of the default channel, and each range below is asserted for the whole 95 %
interval across the replicates, not only for its mean. The ranges come from ../shared/domain.md, "Response
magnitudes" (MODEL.md cites each).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.model import ChannelModel
from sim.quarter import FOCAL

QUARTERS = 24
SEEDS = list(range(101, 109))
SEEDS16 = list(range(101, 117))  # where an effect sits near its bound, sixteen narrow the interval
WINDOW = 8  # the final two years


def final_years(overrides: dict | None = None, schedule: list | None = None, seeds=SEEDS, **extra) -> pd.DataFrame:
    """One row per replicate: revenue over the window, and the quarter after the middle (short term)."""
    kwargs = {key.replace(".", "__"): value for key, value in (overrides or {}).items()}
    if schedule:
        kwargs["schedule"] = schedule
    model = ChannelModel(seeds=seeds, quarters=QUARTERS, **kwargs, **extra)
    model.run()
    rows = []
    for frame in model.lane_frames():
        window = frame.iloc[-WINDOW:]
        middle = QUARTERS // 2 + 1
        rows.append({"revenue": window.revenue.sum(), "mindshare": window.mindshare.mean(),
                     "contribution": window.vendor_contribution.sum(),
                     "short": frame.revenue.iloc[middle - 1:middle + 1].sum()})
    return pd.DataFrame(rows)


def interval(values: pd.Series) -> tuple[float, float]:
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.fixture(scope="module")
def base() -> pd.DataFrame:
    return final_years()


@pytest.fixture(scope="module")
def base16() -> pd.DataFrame:
    return final_years(seeds=SEEDS16)


def elasticity(changed: pd.DataFrame, base: pd.DataFrame, column: str = "revenue", step: float = 1.1) -> pd.Series:
    return np.log(changed[column] / base[column]) / np.log(step)


def test_revenue_answers_selling_effort_with_an_elasticity_near_a_third(base):
    # Albers, Mantrala & Sridhar 2010: personal selling 0.34 (most 0.1-0.6); the range 0.2-0.5
    low, high = interval(elasticity(final_years({"market.focal_effort_scale": 1.1}), base))
    assert 0.2 <= low and high <= 0.5


def test_demand_generation_pays_less_at_once_than_in_the_long_run(base16):
    # Sethuraman, Tellis & Briesch 2011: ~0.12 short-term, ~0.24 long-term (sixteen seeds: two quarters are noisy)
    change = [{"quarter": QUARTERS // 2 + 1, "set": {"market.demand_generation_scale": 1.1}}]
    perturbed = final_years(schedule=change, seeds=SEEDS16)
    short, long = elasticity(perturbed, base16, "short"), elasticity(perturbed, base16)
    assert 0.05 <= interval(short)[0] and interval(short)[1] <= 0.2
    assert 0.15 <= interval(long)[0] and interval(long)[1] <= 0.35
    assert (long > short).mean() >= 0.75


def test_five_margin_points_move_revenue_by_about_a_tenth_not_by_tens_of_percent(base):
    change = final_years({"vendor.margin.base": 0.25}).revenue / base.revenue - 1
    low, high = interval(change)
    assert 0.03 <= low and high <= 0.2


@pytest.mark.parametrize("instrument", ["rebate", "growth_rebate", "mdf", "spif", "deal_registration",
                                        "certification"])
def test_no_single_incentive_carries_more_than_a_tenth_of_partner_revenue(base16, instrument):
    change = final_years({f"vendor.{instrument}.enabled": False}, seeds=SEEDS16).revenue / base16.revenue - 1
    low, high = interval(change)
    assert -0.10 <= low and high <= 0.02


def test_removing_every_cam_costs_revenue_but_at_most_a_fifth(base16):
    change = final_years({"vendor.cams.count": 0}, seeds=SEEDS16).revenue / base16.revenue - 1
    low, high = interval(change)
    assert -0.20 <= low and high < 0


def test_a_ten_percent_override_rate_is_costly_but_not_a_collapse(base):
    change = final_years({"vendor.deal_registration.override_rate": 0.10}).revenue / base.revenue - 1
    low, high = interval(change)
    assert -0.30 <= low and high < -0.02


@pytest.mark.parametrize(("path", "values", "replicates"), [("vendor.margin.base", [0.05, 0.2, 0.45], 16),
                                                            ("vendor.rebate.rate", [0.0, 0.03, 0.10], 48),
                                                            ("vendor.mdf.budget", [0.0, 5e5, 2e6], 16),
                                                            ("vendor.cams.count", [0, 3, 48], 16)])
def test_contribution_peaks_inside_the_range_of_a_lever(path, values, replicates):
    # the ranges of the issue: margin 0.05-0.45, rebate 0-0.10, MDF and CAMs 0-4x default. Contribution is a small
    # difference of large noisy totals: sixteen replicates, forty-eight for the rebate, whose optimum is flat
    seeds = list(range(101, 101 + replicates))
    low, middle, high = (final_years({path: value}, seeds=seeds).contribution for value in values)
    assert (middle - low).mean() > 0 and (middle - high).mean() > 0
    assert interval(middle - low)[0] > 0 and interval(middle - high)[0] > 0


def test_more_partners_for_the_same_demand_add_far_less_than_their_number():
    one = final_years({"partners.count": 250})
    two = final_years({"partners.count": 500, "market.demand_sized_for": 250})
    ratio = two.revenue / one.revenue
    assert 1.0 < interval(ratio)[0] and interval(ratio)[1] <= 1.5


def test_a_leavers_demand_goes_to_the_remaining_partners_direct_sales_and_nobody():
    model = ChannelModel(rng=3, quarters=4, partners__count=200)
    offers = model.plan()
    before = model.market.expected_revenue(model.partners, offers, 1).sum(axis=1)  # vendors x partners
    direct, unserved = model.market.direct_sales.copy(), model.market.unserved.copy()
    top = int(np.argmax(before[FOCAL]))
    pids = np.delete(model.partners.pid.copy(), top)
    model.remove_partners(np.array([top]))
    after = model.market.expected_revenue(model.partners, model.plan(), 1).sum(axis=1)
    after = after[:, np.argsort(model.partners.pid)][:, np.argsort(np.argsort(pids))]  # rows in the old order
    others = np.delete(before, top, axis=1)
    assert (after[FOCAL] >= others[FOCAL] - 1e-3).all() and after[FOCAL].sum() > others[FOCAL].sum()
    assert after[1:].sum() > others[1:].sum()  # the rivals' lines at the remaining partners
    assert model.market.direct_sales[0] > direct[0] and model.market.unserved[0] > unserved[0]
    regained = after.sum() - others.sum() + model.market.direct_sales[0] - direct[0]
    assert regained < before[:, top].sum()  # part of the leaver's demand goes unserved


def test_many_small_recruits_compete_with_the_partners_already_there():
    kwargs = {"partners__count": 200, "quarters": 12, "record_partners": True}
    recruits = {"vendor__recruitment__per_quarter": 40, "vendor__recruitment__profile__size_max": 5.0}
    founders = []
    for extra in ({"vendor__recruitment__enabled": False}, recruits):
        revenue = []
        for seed in (1, 2, 3, 4):
            model = ChannelModel(rng=seed, **kwargs, **extra)
            model.run()
            panel = model.partner_panel()
            revenue.append(panel[~panel.recruit & (panel.quarter > 8)].revenue.sum())
        founders.append(np.array(revenue))
    assert (founders[1] < founders[0]).all()


def test_cam_time_on_long_deals_and_mdf_on_many_small_ones_beats_the_swap():
    right = final_years({"vendor.cams.allocation": "segment", "vendor.cams.target": "enterprise",
                         "vendor.mdf.allocation": "segment", "vendor.mdf.target": "smb"})
    swapped = final_years({"vendor.cams.allocation": "segment", "vendor.cams.target": "smb",
                           "vendor.mdf.allocation": "segment", "vendor.mdf.target": "enterprise"})
    assert interval(right.revenue / swapped.revenue - 1)[0] > 0


def test_tier_mdf_weights_weigh_the_allocation():
    flat = ChannelModel(rng=5, quarters=2, partners__count=200, vendor__tiers__mdf_weight=[0.0, 1.0, 1.0, 1.0])
    steep = ChannelModel(rng=5, quarters=2, partners__count=200, vendor__tiers__mdf_weight=[0.0, 1.0, 3.0, 6.0])
    offers = [model.plan() for model in (flat, steep)]
    tier = flat.partners.tier[FOCAL]
    platinum = tier == tier.max()
    assert platinum.any() and (tier == 1).any()
    assert offers[1].mdf[FOCAL, platinum].sum() > offers[0].mdf[FOCAL, platinum].sum()
    assert offers[1].mdf[FOCAL, tier == 1].sum() < offers[0].mdf[FOCAL, tier == 1].sum()


def test_mdf_beyond_what_a_partners_marketers_can_use_buys_less_and_less():
    # used = stock / (1 + stock / (absorption x own stock)): with the limit, the second MDF dollar generates less
    # demand than the first, and far less than with no limit
    def boost(absorption: float, multiple: float) -> np.ndarray:
        model = ChannelModel(rng=3, quarters=1, partners__count=100, vendor__mdf__absorption=absorption)
        p = model.params.vendor.mdf
        own = np.maximum(model.partners.marketing, 0.5) * p.reference_dollars / (1.0 - p.carryover)
        model.partners.mdf_stock[FOCAL] = multiple * own
        return np.log(model.plan().generated[FOCAL].astype(np.float64))

    limited = [boost(2.0, m) for m in (0.0, 2.0, 4.0)]
    free = [boost(1_000.0, m) for m in (0.0, 2.0, 4.0)]
    np.testing.assert_allclose(limited[0], free[0], rtol=1e-6)  # no MDF: the limit is nothing
    first, second = limited[1] - limited[0], limited[2] - limited[1]
    assert (first > 0).all() and (second < 0.5 * first).all()
    assert ((limited[2] - limited[0]) < 0.7 * (free[2] - free[0])).all()


def test_goodwill_reference_is_its_own_parameter():
    # the relationship term is neutral at attraction.reference_goodwill, whatever goodwill.initial is
    from sim.partners import attraction_logits

    model = ChannelModel(rng=1, quarters=1, partners__count=50, partners__goodwill__initial=0.8)
    model.partners.goodwill = model.params.partners.attraction.reference_goodwill
    offers = model.plan()
    neutral = model.params.model_copy(deep=True)
    neutral.partners.attraction.relationship = 0.0
    np.testing.assert_allclose(attraction_logits(model.partners, offers, model.params),
                               attraction_logits(model.partners, offers, neutral), rtol=0, atol=1e-6)


def test_cam_time_enables_high_velocity_partners_with_faster_diminishing_returns():
    from sim.partners import update_relationships

    model = ChannelModel(rng=2, quarters=1, partners__count=200)
    t = model.partners
    smb = t.segment_mix[0]
    fast, slow = int(np.argmax(smb)), int(np.argmin(smb))
    assert smb[fast] > 0.7 and smb[slow] < 0.3

    def gain(hours: float) -> np.ndarray:
        offers = model.plan()
        offers.cam_hours[FOCAL] = hours
        before = t.capability.copy(), t.goodwill.copy()
        update_relationships(t, offers, np.zeros_like(offers.mdf), model.params)
        change = t.capability[FOCAL] - before[0][FOCAL]
        t.capability, t.goodwill = before
        return change

    none, few, many = gain(0.0), gain(10.0), gain(80.0)
    first = few - none  # what the first 10 hours do
    rest = many - few  # what 70 more do
    assert first[fast] > 0 and first[slow] > 0
    assert rest[fast] / first[fast] < rest[slow] / first[slow]  # high velocity: most of it in the first hours


def test_channel_revenue_is_as_smooth_as_independent_deals_allow():
    # each won deal closes on its own date: quarter-on-quarter noise is what deals of these sizes and numbers give
    # when every deal is independent (compound Poisson: variance sum_s n_s E[X_s^2]), nothing more. One closing date
    # per partner x segment (the rule before) put it about a quarter above that floor.
    from sim.params import SEGMENTS

    model = ChannelModel(seeds=SEEDS, quarters=QUARTERS, vendor__spif__enabled=False)
    model.run()
    mean = model.market.mean_deal_size()
    second_moment = mean ** 2 * np.exp(model.params.market.deal_size_sigma.array() ** 2)
    ratios = []
    for frame in model.lane_frames():
        steady = frame.iloc[4:]
        deals = np.array([steady[f"revenue_{s}"].mean() for s in SEGMENTS]) / mean
        floor = np.sqrt(2.0 * deals @ second_moment) / steady.revenue.mean()  # s.d. of a change in log revenue
        ratios.append(np.diff(np.log(steady.revenue.to_numpy())).std() / floor)
    assert np.mean(ratios) <= 1.12


def test_cam_co_selling_enlarges_long_deals_and_wins_more_of_them_but_not_smb_ones():
    from sim.params import SEGMENTS

    model = ChannelModel(rng=4, quarters=1, partners__count=200)
    market, t = model.market, model.partners
    per_deal, win_rate = [], []
    for hours in (0.0, 120.0):
        offers = model.plan()
        offers.cam_hours[FOCAL] = hours
        opportunities, win = market.rates(t, offers, 1)
        value = market.expected_revenue(t, offers, 1)
        won = (opportunities[FOCAL] * win[FOCAL] * offers.kept[FOCAL]).sum(axis=1)
        per_deal.append(value[FOCAL].sum(axis=1) / won)
        win_rate.append(win[FOCAL].mean(axis=1))
    smb, enterprise = SEGMENTS.index("smb"), SEGMENTS.index("enterprise")
    assert per_deal[1][enterprise] > 1.05 * per_deal[0][enterprise]
    assert win_rate[1][enterprise] > win_rate[0][enterprise]
    assert per_deal[1][smb] == pytest.approx(per_deal[0][smb]) and win_rate[1][smb] == pytest.approx(win_rate[0][smb])
