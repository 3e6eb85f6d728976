"""The market's equations (MODEL.md 3.3.3), pinned exactly: demand, potential, deal-size tables, shared-demand sizing,
co-selling deal growth, the steady-state pipeline, expected revenue and binomial counts by inversion of the CDF.

Each test recomputes what `sim.market.Market` must return from the documented equation, with tolerances tight enough
that any change of a term, a constant, a bound or a dtype fails (the file is meant for mutation testing).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import ndtri
from scipy.stats import binom

from sim.market import Market
from sim.model import ChannelModel
from sim.quarter import FOCAL

VERTICALS = ["retail", "finance", "energy", "health"]


def small_model(**overrides) -> ChannelModel:
    return ChannelModel(rng=7, quarters=1, partners__count=200, **overrides)


@pytest.fixture(autouse=True)
def fresh_binomial_tables():
    """The binomial CDFs are kept per probability on the class: each test builds its own (a process forked after
    another session, as mutation testing does, must not see tables built by other code)."""
    Market._binomial_cdf.clear()
    yield
    Market._binomial_cdf.clear()


def lognormal_mean(median: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    return median * np.exp(sigma**2 / 2.0)


def demand(segment: np.ndarray, vertical: np.ndarray, growth: float, quarter: int) -> np.ndarray:
    """D_sv(t) = segment_demand_s x vertical_demand_v x (1 + g)^t."""
    return segment[:, None] * vertical[None, :] * (1.0 + growth) ** quarter


# --------------------------------------------------------------------------- construction: the closing delays


def test_the_closing_delays_set_the_pipeline_depth_and_a_float32_cdf_whose_last_step_is_one():
    # P(closing within d quarters) per segment, padded to the longest list; the last column is 1 even where the
    # probabilities sum to 1 only within the validator's 1e-6
    delays = {"smb": [1.0], "midmarket": [0.5, 0.4999995], "enterprise": [0.1, 0.2, 0.7]}
    model = small_model(market__close_delay=delays)
    market = model.market
    assert market.pipeline_quarters == 3
    expected = np.array([[1.0, 1.0, 1.0], [0.5, 0.5 + 0.4999995, 1.0], [0.1, 0.1 + 0.2, 1.0]], np.float32)
    assert market.delay_cdf.dtype == np.float32
    np.testing.assert_array_equal(market.delay_cdf, expected)
    assert expected[1, 1] < 1.0  # the sum short of 1 shows in float32: only the last column is set to 1
    once = small_model(market__close_delay={"smb": [1.0], "midmarket": [1.0], "enterprise": [1.0]}).market
    assert once.pipeline_quarters == 1
    np.testing.assert_array_equal(once.delay_cdf, np.ones((3, 1), np.float32))


def test_a_new_market_has_no_reference_pursuit_until_it_is_sized():
    model = small_model()
    fresh = Market(model.params)
    assert fresh._reference is None
    assert not hasattr(fresh, "_direct") and not hasattr(fresh, "_half")  # nothing derived from a reference yet
    fresh.size(model.partners)
    assert fresh._vendors == 3 and len(fresh._reference) == len(fresh._direct) == len(fresh._half) == 1


# --------------------------------------------------------------------------- demand, deal sizes and potential


@pytest.mark.parametrize(("growth", "quarter"), [(0.04, 3), (0.04, 0), (-0.1, 5), (0.0, 7), (0.3, 1)])
def test_demand_is_segment_times_vertical_demand_grown_each_quarter(growth, quarter):
    # D_sv(t) = segment_demand_s x vertical_demand_v x (1 + g)^t, a vertical not listed at 1, in `verticals` order
    model = small_model(market__verticals=VERTICALS, market__growth=growth,
                        market__segment_demand={"smb": 0.5, "midmarket": 1.2, "enterprise": 2.0},
                        market__vertical_demand={"energy": 3.0, "finance": 0.4})
    index = model.market.demand_index(quarter)
    expected = demand(np.array([0.5, 1.2, 2.0]), np.array([1.0, 0.4, 3.0, 1.0]), growth, quarter)
    assert index.shape == (3, 4)
    np.testing.assert_allclose(index, expected, rtol=1e-14, atol=0)


def test_the_mean_deal_size_is_the_lognormal_mean_of_median_and_spread():
    # E[X_s] = median_s x exp(sigma_s^2 / 2); a spread of 0 leaves the median
    model = small_model(market__deal_size_median={"smb": 9_000.0, "midmarket": 70_000.0, "enterprise": 250_000.0},
                        market__deal_size_sigma={"smb": 0.0, "midmarket": 1.3, "enterprise": 0.45})
    mean = model.market.mean_deal_size()
    np.testing.assert_allclose(mean, [9_000.0, 70_000.0 * np.exp(1.3**2 / 2.0), 250_000.0 * np.exp(0.45**2 / 2.0)],
                               rtol=1e-14, atol=0)
    assert mean[0] == 9_000.0


def fenton_wilkinson(count: np.ndarray, sigma: np.ndarray, mean: np.ndarray, z: np.ndarray) -> np.ndarray:
    """k deals as one lognormal with the sum's mean and variance: s_k^2 = ln(1 + (e^(s^2) - 1) / k), k frozen at 64."""
    k = np.clip(count, 1, 64)
    s2 = np.log(1.0 + (np.exp(sigma**2) - 1.0) / k)
    return count * mean * np.exp(-s2 / 2.0 + np.sqrt(s2) * z)


def test_the_deal_size_tables_hold_every_count_up_to_64_and_freeze_beyond():
    sigma = np.array([0.25, 1.1, 2.2])
    model = small_model(market__deal_size_sigma={"smb": 0.25, "midmarket": 1.1, "enterprise": 2.2})
    market = model.market
    counts = np.tile(np.arange(0, 71), 3)
    segments = np.repeat(np.arange(3), 71)
    z = np.tile(np.linspace(-1.5, 2.5, 71), 3)
    mean = market.mean_deal_size()
    np.testing.assert_allclose(market.deal_values(counts, segments, z),
                               fenton_wilkinson(counts, sigma[segments], mean[segments], z), rtol=1e-12, atol=0)


def test_refresh_derives_the_deal_size_tables_again_from_changed_parameters():
    model = small_model()
    market, m = model.market, model.params.market
    counts, segments, z = np.array([1, 3, 64, 90]), np.array([2, 2, 1, 0]), np.array([0.3, -1.0, 1.2, 0.0])
    before = market.deal_values(counts, segments, z)
    m.deal_size_sigma.enterprise = 1.4
    m.deal_size_median.smb = 20_000.0
    np.testing.assert_array_equal(market.deal_values(counts, segments, z), before)  # kept until refreshed
    market.refresh()
    sigma = m.deal_size_sigma.array()
    expected = fenton_wilkinson(counts, sigma[segments], lognormal_mean(m.deal_size_median.array(), sigma)[segments], z)
    np.testing.assert_allclose(market.deal_values(counts, segments, z), expected, rtol=1e-12, atol=0)


def potential_of(model: ChannelModel, table, quarter: int) -> np.ndarray:
    """capacity_i x sum_s o_s w_s E[X_s] mix_is d_is(t), d_is(t) = sum_v w_iv D_sv(t)."""
    m = model.params.market
    vertical = np.array([m.vertical_demand.get(v, 1.0) for v in m.verticals])
    reach = demand(m.segment_demand.array(), vertical, m.growth, quarter) @ table.verticals.astype(np.float64)
    mean = lognormal_mean(m.deal_size_median.array(), m.deal_size_sigma.array())
    per_fte = m.opportunities_per_fte.array() * m.win_base.array() * mean
    mix = table.segment_mix.astype(np.float64)
    return table.capacity.astype(np.float64) * np.einsum("s,si,si->i", per_fte, mix, reach)


POTENTIAL = dict(market__verticals=VERTICALS, market__growth=0.05,
                 market__segment_demand={"smb": 0.7, "midmarket": 1.3, "enterprise": 1.9},
                 market__vertical_demand={"energy": 2.5, "retail": 0.6},
                 market__opportunities_per_fte={"smb": 6.0, "midmarket": 0.0, "enterprise": 1.1},
                 market__win_base={"smb": 0.4, "midmarket": 0.2, "enterprise": 0.15},
                 market__deal_size_sigma={"smb": 0.5, "midmarket": 0.9, "enterprise": 1.2})


def test_a_partners_potential_is_capacity_times_its_demand_at_full_effort_and_reference_win_rates():
    model = small_model(**POTENTIAL)
    t = model.partners
    potential = model.market.potential(t, 3)
    assert potential.dtype == np.float64 and potential.shape == (t.n,)
    np.testing.assert_allclose(potential, potential_of(model, t, 3), rtol=1e-12, atol=0)


def test_the_potential_is_kept_for_the_quarter_and_table_and_computed_again_for_another():
    model = small_model(**POTENTIAL)
    market, t = model.market, model.partners
    first = market.potential(t, 2)
    t.capacity[:] *= 2.0
    assert market.potential(t, 2) is first  # kept for the quarter: the doubled capacity does not show
    np.testing.assert_allclose(market.potential(t, 3), potential_of(model, t, 3), rtol=1e-12, atol=0)
    t.remove(np.array([0, 5]))  # fewer partners, the same table and quarter
    assert market.potential(t, 3).shape == (t.n,)
    np.testing.assert_allclose(market.potential(t, 3), potential_of(model, t, 3), rtol=1e-12, atol=0)
    other = ChannelModel(rng=8, quarters=1, partners__count=200, **POTENTIAL).partners  # as many partners, elsewhere
    other.remove(np.array([1, 2]))
    assert other.n == t.n
    np.testing.assert_allclose(market.potential(other, 3), potential_of(model, other, 3), rtol=1e-12, atol=0)


def test_refresh_forgets_the_kept_potential_and_derives_direct_sales_and_saturation_again():
    model = small_model(**POTENTIAL)
    market, t, m = model.market, model.partners, model.params.market
    kept = market.potential(t, 2)
    m.growth = 0.2
    m.win_base.smb = 0.6
    assert market.potential(t, 2) is kept
    m.direct_pursuit = 0.4
    m.unserved_share = 0.6
    market.refresh()
    np.testing.assert_allclose(market.potential(t, 2), potential_of(model, t, 2), rtol=1e-12, atol=0)
    reference = market._reference[0]
    np.testing.assert_allclose(market._direct[0], 0.4 * reference, rtol=1e-14, atol=0)
    np.testing.assert_allclose(market._half[0], (3 * reference + 0.4 * reference) * 0.6 / 0.4, rtol=1e-13, atol=0)


# --------------------------------------------------------------------------- shared demand: sizing each lane


def reference_pursuit(model: ChannelModel, sized_for: int | None) -> list[np.ndarray]:
    """Per lane, one line's reference pursuit of each cell: an even split e = 1 / (vendors + 1) at the initial
    capability, e (f + (1 - f) C0) sum_i w_iv flow_is, scaled to `sized_for` partners."""
    m, t = model.params.market, model.partners
    vendors = 1 + model.params.rivals.count
    line = (m.capability_floor + (1.0 - m.capability_floor) * model.params.partners.capability.initial) / (vendors + 1)
    flow = model.market.flow(t).astype(np.float64)
    w = t.verticals.astype(np.float64)
    lanes = []
    for a, b in t.blocks():
        cells = np.einsum("si,vi->sv", flow[:, a:b], w[:, a:b])
        if sized_for is not None and b > a:
            cells = cells * sized_for / (b - a)
        lanes.append(line * cells)
    return lanes


@pytest.mark.parametrize("sized_for", [None, 50])
def test_each_lane_is_sized_from_its_own_partners_at_an_even_split_and_initial_capability(sized_for):
    # D_c = direct_pursuit x one line's reference; K_c makes `unserved_share` of the demand unserved at the reference
    model = ChannelModel(seeds=[11, 12, 13], quarters=1, partners__count=80, rivals__count=3,
                         market__capability_floor=0.2, partners__capability__initial=0.6,
                         market__direct_pursuit=0.7, market__unserved_share=0.45, market__demand_sized_for=sized_for)
    market, t = model.market, model.partners
    market.size(t)
    scale = 1.0 if sized_for is None else sized_for / 80  # sized for 50 partners: each lane's 80 count for 50
    expected = [scale * reference for reference in reference_pursuit(model, None)]
    assert market._vendors == 4 and len(market._reference) == 3
    for lane in range(3):
        reference, direct, half = market._reference[lane], market._direct[lane], market._half[lane]
        assert reference.shape == (3, len(model.params.market.verticals))
        np.testing.assert_allclose(reference, expected[lane], rtol=1e-12, atol=0)
        np.testing.assert_allclose(direct, 0.7 * reference, rtol=1e-14, atol=0)
        np.testing.assert_allclose(half / (4 * reference + direct + half), 0.45, rtol=1e-12)
        np.testing.assert_allclose(half, (4 * reference + direct) * 0.45 / 0.55, rtol=1e-13, atol=0)


def test_a_lane_without_partners_is_sized_to_no_demand():
    model = ChannelModel(seeds=[11, 12, 13], quarters=1, partners__count=40, market__demand_sized_for=30)
    t = model.partners
    a, b = t.blocks()[1]
    t.remove(np.arange(a, b))
    assert t.blocks()[1] == (a, a)
    model.market.size(t)
    np.testing.assert_array_equal(model.market._reference[1], np.zeros((3, 5)))
    expected = reference_pursuit(model, 30)
    for lane in (0, 2):
        np.testing.assert_allclose(model.market._reference[lane], expected[lane], rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- co-selling deal growth


def test_co_selling_grows_deals_by_segment_over_its_half_hours_for_every_vendor_in_float64():
    # 1 + x_s (1 - exp(-hours_ij / half)), flattened vendor x segment x partner
    model = small_model(market__coselling_size={"smb": 0.03, "midmarket": 0.0, "enterprise": 0.25},
                        market__coselling_half_hours=17.0)
    offers = model.plan()
    vendors, n = offers.cam_hours.shape
    offers.cam_hours[:] = np.random.default_rng(4).uniform(0.0, 90.0, (vendors, n)).astype(np.float32)
    offers.cam_hours[:, :3] = 0.0
    hours = offers.cam_hours.astype(np.float64)
    growth = np.array([0.03, 0.0, 0.25])
    expected = 1.0 + growth[None, :, None] * (1.0 - np.exp(-hours[:, None, :] / 17.0))
    size = model.market.coselling_size(offers)
    assert size.dtype == np.float64 and size.shape == (vendors * 3 * n,)
    np.testing.assert_allclose(size.reshape(vendors, 3, n), expected, rtol=1e-14, atol=0)
    at, segment = np.array([0, n + 7, 2 * n + 1, 2 * n + 150]), np.array([2, 0, 2, 1])
    np.testing.assert_allclose(model.market.coselling_size_at(offers, at, segment),
                               expected.transpose(1, 0, 2).reshape(3, -1)[segment, at], rtol=1e-14, atol=0)


def test_co_selling_grows_no_deal_without_growth_or_without_cam_hours():
    flat = small_model(market__coselling_size={"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0})
    offers = flat.plan()
    offers.cam_hours[:] = 30.0
    assert flat.market.coselling_size(offers) is None
    assert flat.market.coselling_size_at(offers, np.array([0, 1]), np.array([2, 2])) is None
    growing = small_model(market__coselling_size={"smb": 0.1, "midmarket": 0.1, "enterprise": 0.1})
    offers = growing.plan()
    offers.cam_hours[:] = 0.0
    assert growing.market.coselling_size(offers) is None
    assert growing.market.coselling_size_at(offers, np.array([0, 1]), np.array([2, 2])) is None
    offers.cam_hours[FOCAL, 1] = 40.0  # one partner's hours: every cell is sized, the others at 1
    size = growing.market.coselling_size_at(offers, np.array([0, 1]), np.array([2, 2]))
    np.testing.assert_allclose(size, [1.0, 1.0 + 0.1 * (1.0 - np.exp(-1.0))], rtol=1e-14, atol=0)


# --------------------------------------------------------------------------- expected revenue


@pytest.mark.parametrize("grows", [True, False])
def test_expected_revenue_is_opportunities_times_win_rate_mean_deal_size_what_is_kept_and_co_selling_growth(grows):
    growth = {"smb": 0.02, "midmarket": 0.1, "enterprise": 0.3} if grows else {"smb": 0.0, "midmarket": 0.0,
                                                                                 "enterprise": 0.0}
    model = small_model(market__coselling_size=growth, market__coselling_half_hours=25.0,
                        market__deal_size_sigma={"smb": 0.4, "midmarket": 0.9, "enterprise": 1.1})
    t, market = model.partners, model.market
    offers = model.plan()
    rng = np.random.default_rng(9)
    offers.kept[:] = rng.uniform(0.4, 1.0, offers.kept.shape).astype(np.float32)
    offers.cam_hours[:] = rng.uniform(0.0, 100.0, offers.cam_hours.shape).astype(np.float32)
    opportunities, win = market.rates(t, offers, 2)
    mean = lognormal_mean(model.params.market.deal_size_median.array(), np.array([0.4, 0.9, 1.1]))
    expected = opportunities * win * mean[None, :, None] * offers.kept[:, None, :].astype(np.float64)
    x = np.array(list(growth.values()))
    expected *= 1.0 + x[None, :, None] * (1.0 - np.exp(-offers.cam_hours[:, None, :].astype(np.float64) / 25.0))
    value = market.expected_revenue(t, offers, 2)
    assert value.dtype == np.float64 and value.shape == opportunities.shape
    np.testing.assert_allclose(value, expected, rtol=1e-12, atol=0)


# --------------------------------------------------------------------------- the steady-state pipeline


def test_the_pipeline_is_filled_with_the_share_of_wins_still_open_each_quarter_ahead():
    # slot of quarter t + 1 + d holds won x P(delay > d) = won x (1 - p_0 - ... - p_d), never below 0; the slot
    # closing this quarter is left alone
    delays = {"smb": [1.0], "midmarket": [0.5000004, 0.5000004, 0.0], "enterprise": [0.2, 0.3, 0.5]}
    model = small_model(market__close_delay=delays)
    t, market = model.partners, model.market
    assert market.pipeline_quarters == 3
    t.pipeline[:] = -7.0
    won = np.random.default_rng(2).uniform(1.0, 1e6, t.pipeline.shape[1:])
    market.fill_pipeline(t, won, 4)  # quarter 4: slot 1 closes now, slot 2 next quarter, slot 0 the one after
    still_open = np.array([[0.0, 0.0], [1.0 - 0.5000004, 0.0], [1.0 - 0.2, 1.0 - (0.2 + 0.3)]])
    assert 0.5000004 + 0.5000004 > 1.0  # the midmarket sum passes 1 by rounding: what is open is taken at 0
    np.testing.assert_array_equal(t.pipeline[1], -7.0)
    np.testing.assert_allclose(t.pipeline[2], won * still_open[None, :, 0, None], rtol=1e-7, atol=0)
    np.testing.assert_allclose(t.pipeline[0], won * still_open[None, :, 1, None], rtol=1e-7, atol=0)


def test_a_one_quarter_pipeline_is_left_empty():
    model = small_model(market__close_delay={"smb": [1.0], "midmarket": [1.0], "enterprise": [1.0]})
    t = model.partners
    t.pipeline[:] = -3.0
    model.market.fill_pipeline(t, np.ones(t.pipeline.shape[1:]), 2)
    np.testing.assert_array_equal(t.pipeline, -3.0)


# --------------------------------------------------------------------------- binomial counts by inversion


def normal_quantile_count(n: np.ndarray, p: float, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Above 128 trials: x = n p + sd z + (1 - 2p)(z^2 - 1) / 6 + 1/2, count floor(x) in [0, n], rest x - floor(x)."""
    n = n.astype(np.float64)
    z = ndtri(u)
    x = n * p + np.sqrt(n * p * (1.0 - p)) * z + (1.0 - 2.0 * p) * (z * z - 1.0) / 6.0 + 0.5
    return np.clip(np.floor(x), 0.0, n).astype(np.int64), np.clip(x - np.floor(x), 1e-12, 1 - 1e-12)


def assert_fresh_uniform(rest: np.ndarray, counts: np.ndarray, n: np.ndarray, p: float, u: np.ndarray) -> None:
    """The rest is where u fell within its count's step of the CDF, rescaled to (0, 1): back on the step it is u (to
    the resolution of CDFs shifted by 2n), and on a step of some size it is the fraction itself."""
    below, step = binom.cdf(counts - 1, n, p), binom.pmf(counts, n, p)
    assert ((rest > 0) & (rest < 1)).all()
    np.testing.assert_allclose(below + rest * step, u, rtol=0, atol=2e-12)
    wide = step > 1e-3
    np.testing.assert_allclose(rest[wide], ((u - below) / step)[wide].clip(1e-12, 1 - 1e-12), rtol=0, atol=1e-9)


@pytest.mark.parametrize("p", [0.05, 0.3, 0.5])
def test_binomial_counts_are_exact_at_128_trials_and_the_corrected_normal_quantile_from_129(p):
    u = np.linspace(1e-6, 1.0 - 1e-6, 20_001)  # the tails included, where the normal quantile is off by one
    at_128, at_129 = np.full(u.size, 128), np.full(u.size, 129)
    counts, rest = Market.binomial_from_uniform(at_128, p, u, rest=True)
    np.testing.assert_array_equal(counts, binom.ppf(u, at_128, p))
    assert_fresh_uniform(rest, counts, at_128, p, u)
    assert (normal_quantile_count(at_128, p, u)[0] != counts).any()  # so the bound is where it shows
    counts, rest = Market.binomial_from_uniform(at_129, p, u, rest=True)
    expected_counts, expected_rest = normal_quantile_count(at_129, p, u)
    np.testing.assert_array_equal(counts, expected_counts)
    np.testing.assert_array_equal(rest, expected_rest)
    assert (binom.ppf(u, at_129, p) != counts).any()


@pytest.mark.parametrize("p", [0.02, 0.25, 0.5, 0.8, 0.999])
def test_binomial_counts_invert_the_cdf_for_every_small_number_of_trials(p):
    # p above 1/2: n minus the failures counted at 1 - u (p^n would underflow at 0.999 and 128 trials)
    rng = np.random.default_rng(8)
    trials = np.tile(np.arange(0, 129), 30)
    u = rng.uniform(0.0, 1.0, trials.size)
    if p == 0.999:
        u[trials > 100] *= 0.1  # where fewer than all trials succeed
    counts, rest = Market.binomial_from_uniform(trials, p, u, rest=True)
    np.testing.assert_array_equal(counts, binom.ppf(u, trials, p))
    assert_fresh_uniform(rest, counts, trials, p, u)
    np.testing.assert_array_equal(Market.binomial_from_uniform(trials, p, u), counts)
    if p == 0.999:
        assert (counts[trials > 110] < trials[trials > 110]).sum() > 200


def test_binomial_counts_with_no_trials_are_zero_and_leave_the_uniform_as_it_was():
    u = np.array([1e-9, 0.2, 0.5, 0.73, 0.999999])
    counts, rest = Market.binomial_from_uniform(np.zeros(5, np.int64), 0.3, u, rest=True)
    np.testing.assert_array_equal(counts, 0)
    np.testing.assert_array_equal(rest, u)
    counts, rest = Market.binomial_from_uniform(np.zeros(5, np.int64), 0.8, u, rest=True)  # through the failures
    np.testing.assert_array_equal(counts, 0)
    np.testing.assert_allclose(rest, u, rtol=0, atol=1e-15)


def test_binomial_rests_at_the_ends_of_a_step_are_kept_inside_the_unit_interval():
    # exact: u at the bottom of the first step (rest 1e-12), at its top (1 - 1e-12), inside (the step's fraction);
    # a first step shifted below float resolution divides by no zero
    trials = np.array([1, 1, 1, 1, 128])
    counts, rest = Market.binomial_from_uniform(trials, 0.25, np.array([0.0, 0.75, 0.5, 0.9, 0.0]), rest=True)
    np.testing.assert_array_equal(counts, [0, 0, 0, 1, 0])
    np.testing.assert_array_equal(rest[[0, 1, 4]], [1e-12, 1 - 1e-12, 1e-12])
    np.testing.assert_allclose(rest[2:4], [0.5 / 0.75, (0.9 - 0.75) / 0.25], rtol=1e-14)
    counts, rest = Market.binomial_from_uniform(np.array([128]), 0.5, np.array([0.0]), rest=True)
    assert counts[0] == 0 and rest[0] == 1e-12
    # normal quantile: x an integer (rest 1e-12), just below one (1 - 1e-12), below 0 (count 0), above n (count n)
    counts, rest = Market.binomial_from_uniform(np.array([129, 129, 129]), 0.5, np.array([0.5, 0.5 - 1e-14, 1e-35]),
                                                rest=True)
    np.testing.assert_array_equal(counts, [65, 64, 0])
    np.testing.assert_array_equal(rest[:2], [1e-12, 1 - 1e-12])
    np.testing.assert_array_equal(rest, normal_quantile_count(np.array([129, 129, 129]), 0.5,
                                                              np.array([0.5, 0.5 - 1e-14, 1e-35]))[1])
    counts, rest = Market.binomial_from_uniform(np.array([129]), 0.005, np.array([1e-300]), rest=True)
    assert counts[0] == 129  # the skewness term at z = -37 puts x far above n
    np.testing.assert_array_equal(rest, normal_quantile_count(np.array([129]), 0.005, np.array([1e-300]))[1])


def test_at_an_even_chance_binomial_counts_are_read_off_the_successes_not_the_failures():
    # p = 1/2 is inverted directly: u = 1/2 at one trial is the top of the step of no success
    counts, rest = Market.binomial_from_uniform(np.array([1, 1]), 0.5, np.array([0.5, 0.5000001]), rest=True)
    np.testing.assert_array_equal(counts, [0, 1])
    assert rest[0] == 1 - 1e-12
    np.testing.assert_allclose(rest[1], 0.0000001 / 0.5, rtol=0, atol=1e-14)


@pytest.mark.parametrize(("p", "everything"), [(0.0, False), (-0.2, False), (1.0, True), (1.3, True)])
def test_binomial_counts_at_a_certain_outcome_take_all_or_nothing_and_leave_the_uniform_untouched(p, everything):
    trials = np.array([0, 3, 128, 129, 500, 500, 2_000], np.int32)
    u = np.array([0.0, 0.3, 0.1, 1e-9, 1e-300, 0.7, 1.0])  # extreme uniforms: no formula is used
    counts, rest = Market.binomial_from_uniform(trials, p, u, rest=True)
    assert counts.dtype == np.int64 and rest.dtype == np.float64
    np.testing.assert_array_equal(counts, trials if everything else 0)
    np.testing.assert_array_equal(rest, u)
    plain = Market.binomial_from_uniform(trials, p, u)
    assert isinstance(plain, np.ndarray) and plain.dtype == np.int64
    np.testing.assert_array_equal(plain, counts)


@pytest.mark.parametrize("p", [0.0, 0.2, 0.7, 1.0])
def test_binomial_counts_are_int64_and_rests_float64_whatever_the_inputs_and_the_inputs_stay_as_they_were(p):
    trials = np.array([0, 2, 17, 128, 129, 900], np.int32)
    u = np.array([0.05, 0.5, 0.9, 0.33, 0.61, 0.02], np.float32)
    trials_before, u_before = trials.copy(), u.copy()
    counts, rest = Market.binomial_from_uniform(trials, p, u, rest=True)
    assert counts.dtype == np.int64 and rest.dtype == np.float64
    wide = Market.binomial_from_uniform(trials.astype(np.int64), p, u.astype(np.float64), rest=True)
    np.testing.assert_array_equal(counts, wide[0])
    np.testing.assert_array_equal(rest, wide[1])
    np.testing.assert_array_equal(trials, trials_before)
    np.testing.assert_array_equal(u, u_before)
    assert Market.binomial_from_uniform(trials, p, u).dtype == np.int64
    assert Market.binomial_from_uniform(list(trials), p, list(u)).dtype == np.int64


@pytest.mark.parametrize("trials", [np.arange(0, 129), np.arange(129, 400), np.array([5, 700, 128, 129, 0])])
def test_binomial_counts_are_exact_or_the_normal_quantile_whether_a_call_holds_small_large_or_both(trials):
    u = np.random.default_rng(3).uniform(0.0, 1.0, trials.size)
    counts, rest = Market.binomial_from_uniform(trials, 0.15, u, rest=True)
    small = trials <= 128
    np.testing.assert_array_equal(counts[small], binom.ppf(u[small], trials[small], 0.15))
    assert_fresh_uniform(rest[small], counts[small], trials[small], 0.15, u[small])
    expected_counts, expected_rest = normal_quantile_count(trials[~small], 0.15, u[~small])
    np.testing.assert_array_equal(counts[~small], expected_counts)
    np.testing.assert_array_equal(rest[~small], expected_rest)
    np.testing.assert_array_equal(Market.binomial_from_uniform(trials, 0.15, u), counts)


def test_the_binomial_cdfs_of_every_number_of_trials_are_kept_end_to_end_for_each_probability():
    # row n: F(0..128) of Binomial(n, p), 1 from k = n on, shifted by 2n; built once for p and kept
    Market.binomial_from_uniform(np.array([3]), 0.35, np.array([0.4]))
    cdf = Market._binomial_cdf[0.35]
    assert cdf.shape == (129 * 130,)
    n = np.arange(129)[:, None]
    k = np.arange(130)[None, :]
    expected = np.where(k >= n, 1.0, binom.cdf(k, n, 0.35))
    np.testing.assert_allclose(cdf.reshape(129, 130) - 2.0 * n, expected, rtol=0, atol=1e-13)
    Market.binomial_from_uniform(np.array([100]), 0.35, np.array([0.9]))
    assert Market._binomial_cdf[0.35] is cdf
    assert list(Market._binomial_cdf) == [0.35]
