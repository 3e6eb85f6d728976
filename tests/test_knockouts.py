"""Knock-out tests: each mechanism of MODEL.md switched off alone, and what must follow.

A reader finds here the list of the model's mechanisms and the evidence that each one is there and does what
MODEL.md says. Each test switches one mechanism off (a parameter at its neutral value, or a documented switch) and
asserts the consequence that must follow: its direction and, where MODEL.md gives one, its size. Channel-level
effects are paired differences on common random numbers: the knocked-out channel and the intact one run on the same
seeds, side by side as lanes, and every replicate must show the effect (not only their mean). Mechanisms whose
consequence is a formula (partial adjustment, decay, win probability) are checked on the formula itself, exactly.

The section numbers are MODEL.md's. The channel is small (300 partners, 16 quarters) so the file runs in seconds:
it is the suite mutation testing runs (`make mutants`).
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pandas as pd
import pytest

from sim.model import ChannelModel
from sim.partners import Partner, alignment, attraction_logits, choose_effort, softmax, update_relationships
from sim.quarter import FOCAL

SEEDS = list(range(201, 207))
QUARTERS = 16
WINDOW = 4  # the final year
PARTNERS = 300


@functools.cache
def _lanes(key: str, quarters: int) -> tuple[pd.DataFrame, ...]:
    overrides = json.loads(key)
    schedule = overrides.pop("schedule", None)
    kwargs = {name.replace(".", "__"): value for name, value in overrides.items()}
    kwargs.setdefault("partners__count", PARTNERS)
    if schedule:
        kwargs["schedule"] = schedule
    model = ChannelModel(seeds=SEEDS, quarters=quarters, **kwargs)
    model.run()
    return tuple(model.lane_frames())


@pytest.fixture(scope="module", autouse=True)
def fresh_runs():
    """Runs are cached within this module's session only: a process forked after an earlier session (as mutation
    testing does) must not see runs, or tables, of other code."""
    from sim.market import Market

    _lanes.cache_clear()
    Market._binomial_cdf.clear()  # the binomial CDFs kept for each probability
    yield
    _lanes.cache_clear()


def lanes(overrides: dict | None = None, quarters: int = QUARTERS) -> tuple[pd.DataFrame, ...]:
    """One frame per replicate (cached: several tests share a run)."""
    return _lanes(json.dumps(overrides or {}, sort_keys=True), quarters)


def pairs(base: dict | None, changed: dict) -> list[tuple[pd.DataFrame, pd.DataFrame]]:
    """The replicates of two settings side by side: the same seeds, one pair a replicate."""
    return list(zip(lanes(base), lanes(changed), strict=True))


def final(overrides: dict | None, column: str, window: int = WINDOW) -> np.ndarray:
    """Per replicate, the column's mean over the final quarters."""
    return np.array([frame[column].iloc[-window:].mean() for frame in lanes(overrides)])


def total(overrides: dict | None, column: str) -> np.ndarray:
    """Per replicate, the column's sum over the whole run."""
    return np.array([frame[column].sum() for frame in lanes(overrides)])


def effect(change: dict, column: str, under: dict | None = None, relative: bool = False) -> np.ndarray:
    """Per replicate, what `change` does to the column over the final year, under the settings `under` (the knock-out;
    none: the intact model). Paired: both sides run on the same seeds."""
    base = dict(under or {})
    before, after = final(base, column), final({**base, **change}, column)
    return after / before - 1.0 if relative else after - before


def small_model(**overrides) -> ChannelModel:
    return ChannelModel(rng=7, quarters=1, partners__count=200, **overrides)


# --------------------------------------------------------------------------- 3.3.2 how a partner splits its effort

def test_attraction_is_the_product_of_its_terms():
    # ln A_ij = b_p ln(max(margin + registration + incentive, 1e-4) / pi_ref) + b_a A_ij
    #           + b_c ln((C + .05) / (C0 + .05)) + b_g ln((G + .05) / (G_ref + .05)) + taste
    # ln A_i,services = ln(services) + taste
    # A_ij = cos(w_i, p_j) - cos(w_i, 1)
    model = small_model(partners__attraction__services=1.7)
    offers = model.plan()
    t, a = model.partners, model.params.partners.attraction
    vendors, n = offers.margin.shape
    rng = np.random.default_rng(1)
    offers.margin[:] = rng.uniform(0.0, 0.4, (vendors, n))
    offers.registration[:] = rng.uniform(0.0, 0.05, (vendors, n))
    offers.incentive[:] = rng.uniform(0.0, 0.05, (vendors, n))
    offers.margin[:, :5] = -0.2  # a profit rate below zero is taken at 1e-4
    offers.push[:] = rng.uniform(0.1, 3.0, offers.push.shape)
    t.capability[:] = rng.uniform(0.0, 1.0, t.capability.shape)
    t.goodwill[:] = rng.uniform(0.0, 1.0, t.goodwill.shape)
    w = t.verticals.astype(np.float64)
    unit = w / np.linalg.norm(w, axis=0)
    push = offers.push / np.linalg.norm(offers.push, axis=1, keepdims=True)
    fit = push @ unit - (np.ones(w.shape[0]) / np.sqrt(w.shape[0])) @ unit
    np.testing.assert_allclose(alignment(t, offers.push), fit, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alignment(t, offers.push * 1e-170), fit, rtol=1e-5, atol=1e-6)  # squares underflow
    profit = np.maximum(offers.margin + offers.registration + offers.incentive, 1e-4)
    expected = np.empty((vendors + 1, n))
    expected[:vendors] = (a.profit * np.log(profit / a.reference_profit) + a.alignment * fit
                          + a.capability * np.log((t.capability + 0.05) / (model.params.partners.capability.initial
                                                                            + 0.05))
                          + a.relationship * np.log((t.goodwill + 0.05) / (a.reference_goodwill + 0.05)))
    expected[vendors] = np.log(1.7)
    expected += t.taste
    np.testing.assert_allclose(attraction_logits(t, offers, model.params), expected, rtol=1e-5, atol=1e-5)


def test_profit_term_makes_margin_move_mindshare():
    five_points = {"vendor.margin.base": 0.25}
    intact = effect(five_points, "mindshare")
    knocked = effect(five_points, "mindshare", under={"partners.attraction.profit": 0.0})
    # MODEL.md 3.3.2: five margin points raise mindshare by about five points
    assert (intact > 0.02).all() and 0.03 < intact.mean() < 0.08
    assert np.abs(knocked).max() < 0.1 * intact.mean()


def test_alignment_term_makes_a_vertical_push_move_effort_there():
    push = {"vendor.push": {"manufacturing": 3.0}}
    intact = effect(push, "push_effort_share")
    assert (intact > 0.005).all()
    knocked = {"partners.attraction.alignment": 0.0}
    for column in ("push_effort_share", "mindshare", "revenue"):  # with no alignment term the push is nothing
        np.testing.assert_array_equal(final({**knocked, **push}, column), final(knocked, column))


def test_capability_term_draws_effort_to_lines_a_partner_is_certified_on():
    funding = {"vendor.certification.budget": 500_000.0}
    intact = effect(funding, "mindshare")
    knocked = effect(funding, "mindshare", under={"partners.attraction.capability": 0.0})
    assert (intact > 0).all()
    assert knocked.mean() < 0.5 * intact.mean()  # what is left comes through wins and incentives


def test_relationship_term_draws_effort_to_vendors_with_goodwill():
    # the term itself: b_g ln((G + .05) / (G_ref + .05)) on every vendor's line, nothing without it
    for weight in (0.35, 0.0):
        model = small_model(partners__attraction__relationship=weight)
        offers = model.plan()
        t = model.partners
        t.goodwill[:] = 0.2
        cold = attraction_logits(t, offers, model.params)
        t.goodwill[:] = 0.8
        warm = attraction_logits(t, offers, model.params)
        np.testing.assert_allclose(warm[:-1] - cold[:-1], weight * np.log(0.85 / 0.25), rtol=1e-4, atol=1e-6)
        np.testing.assert_array_equal(warm[-1], cold[-1])  # the partner's own services owe the vendor nothing
    # in the channel: warmer relationships draw effort; without the term what is left comes through registration
    # (goodwill registers deals, and registration points are profit) and through partners who stay
    warmer = {"partners.goodwill.baseline": 0.6}
    intact = effect(warmer, "mindshare")
    knocked = effect(warmer, "mindshare", under={"partners.attraction.relationship": 0.0})
    assert (intact > 0).all()
    assert knocked.mean() < 0.5 * intact.mean()


def test_the_services_line_takes_effort_from_every_vendor():
    intact = final(None, "mindshare_services")
    knocked = final({"partners.attraction.services": 0.001}, "mindshare_services")
    assert (intact > 0.1).all() and (knocked < 0.1 * intact).all()
    assert (effect({"partners.attraction.services": 0.001}, "mindshare") > 0.05).all()


def test_taste_makes_partners_differ_in_what_they_sell():
    def spread(idiosyncrasy: float) -> float:
        model = ChannelModel(rng=11, quarters=4, partners__count=300,
                             partners__attraction__idiosyncrasy=idiosyncrasy)
        model.run()
        return float(np.std(model.partners.effort[FOCAL]))

    assert spread(0.0) < 0.6 * spread(0.45)


def test_effort_moves_exactly_theta_of_the_way_to_its_target_in_a_quarter():
    model = small_model(partners__inertia=0.3)
    offers = model.plan()
    offers.margin[FOCAL] += 0.15  # a new offer: the target moves away from where effort is
    before = model.partners.effort.copy()
    target = softmax(attraction_logits(model.partners, offers, model.params))
    choose_effort(model.partners, offers, model.params)
    np.testing.assert_allclose(model.partners.effort, before + 0.3 * (target - before), rtol=0, atol=2e-6)
    assert np.abs(target - before).max() > 0.05  # the target was far enough to tell theta from 0 or 1


def test_inertia_sets_how_much_of_a_change_shows_in_its_first_quarter():
    # margin +5 points from quarter 9: the first quarter's move in mindshare over the move a year on. With theta = 1
    # partners jump to their target at once (what follows later is goodwill, capability and who stays); with the
    # default 0.3 the first quarter shows about a third of it
    def first_over_later(inertia: float) -> float:
        base = {"partners.inertia": inertia}
        change = {**base, "schedule": [{"quarter": 9, "set": {"vendor.margin.base": 0.25}}]}
        moved = np.array([b.mindshare.to_numpy() - a.mindshare.to_numpy() for a, b in pairs(base, change)])
        assert (moved[:, 12] > 0.02).all()
        return moved[:, 8].mean() / moved[:, 12].mean()

    jump, default = first_over_later(1.0), first_over_later(0.3)
    assert jump > 0.75 and 0.15 < default < 0.5


def test_with_no_adjustment_effort_stays_where_it_started():
    model = small_model(partners__inertia=0.0)
    before = model.partners.effort.copy()
    choose_effort(model.partners, model.plan(), model.params)
    np.testing.assert_array_equal(model.partners.effort, before)


# --------------------------------------------------------------------------- 3.3.3 the market

def test_opportunities_flow_from_selling_capacity_and_need_presales_staff_upmarket():
    model = small_model()
    t = model.partners
    flow = model.market.flow(t)
    per_fte = model.params.market.opportunities_per_fte.array()
    # SMB needs no presales staff: capacity x opportunities per FTE x the partner's SMB share, exactly
    np.testing.assert_allclose(flow[0], t.capacity * per_fte[0] * t.segment_mix[0], rtol=1e-5)
    # enterprise needs 0.4 technical staff per seller: a partner short of them finds proportionally less
    short = t.technical < 0.4 * t.sales
    assert short.any()
    full = t.capacity * per_fte[2] * t.segment_mix[2]
    np.testing.assert_allclose(flow[2][short], (full * t.technical / (0.4 * t.sales))[short], rtol=1e-4)
    unlimited = small_model(market__technical_ratio={"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0})
    np.testing.assert_allclose(unlimited.market.flow(unlimited.partners)[2], full, rtol=1e-5)


def test_pursuit_is_a_concave_power_of_effort_around_an_even_split():
    # e (scale x effort / e)^beta x (floor + (1 - floor) C) x demand, times access for the focal vendor, e = 1 / (V + 1)
    model = small_model(market__focal_effort_scale=2.0)
    offers = model.plan()
    t = model.partners
    t.access[:] = np.linspace(0.2, 1.0, t.n)
    offers.demand[:] = np.linspace(0.5, 2.0, t.n)
    vendors = offers.margin.shape[0]
    even = 1.0 / (vendors + 1)
    effort = t.effort[:vendors].astype(np.float64)
    effort[FOCAL] *= 2.0
    expected = even * (effort / even) ** 0.4 * (0.3 + 0.7 * t.capability) * offers.demand
    expected[FOCAL] *= t.access
    np.testing.assert_allclose(model.market.pursuit(t, offers), expected, rtol=2e-5)


def test_win_probability_is_logistic_in_capability_effort_and_co_selling():
    # logistic(logit(w_s) + b_C (C - 0.5) + b_E (effort - 0.25) + co-selling_s (1 - exp(-hours / 40)))
    model = small_model(market__win_effort=0.5)
    offers = model.plan()
    t = model.partners
    vendors = offers.margin.shape[0]
    t.capability[:] = np.linspace(0.0, 1.0, t.n)
    offers.cam_hours[FOCAL] = np.linspace(0.0, 120.0, t.n)
    _, win = model.market.rates(t, offers, 1)
    base = model.params.market.win_base.array()
    coselling = model.params.market.coselling.array()
    edge = (1.5 * (t.capability[:vendors, None, :] - 0.5) + 0.5 * (t.effort[:vendors, None, :] - 0.25)
            + coselling[None, :, None] * (1.0 - np.exp(-offers.cam_hours[:vendors, None, :] / 40.0)))
    expected = 1.0 / (1.0 + (1.0 - base)[None, :, None] / base[None, :, None] * np.exp(-edge))
    np.testing.assert_allclose(win, expected, rtol=2e-5)
    # at the reference (capability 0.5, no effort term, no CAM time) the win probability is the segment's base
    plain = small_model()
    offers = plain.plan()
    offers.cam_hours[:] = 0.0
    plain.partners.capability[:] = 0.5
    _, win = plain.market.rates(plain.partners, offers, 1)
    np.testing.assert_allclose(win, np.broadcast_to(base[None, :, None], win.shape), rtol=1e-5)


def test_win_rates_at_the_bounds_of_win_base_and_opportunity_counts_stay_finite():
    model = small_model(market__win_base={"smb": 0.0, "midmarket": 0.5, "enterprise": 1.0})
    offers = model.plan()
    offers.generated[:] = 1e30  # demand generation far beyond any channel
    opportunities, win = model.market.rates(model.partners, offers, 1)
    assert np.isfinite(win).all() and (win >= 0).all() and (win <= 1).all()
    from sim.streams import COUNT_MAX

    assert np.isfinite(opportunities).all() and opportunities.max() <= COUNT_MAX


def test_a_bundle_of_deals_is_worth_a_fenton_wilkinson_lognormal_draw():
    # k deals: lognormal with the sum's mean and variance, s_k^2 = ln(1 + (e^(s^2) - 1) / k), frozen at k = 64
    model = small_model()
    m = model.params.market
    sigma, mean = m.deal_size_sigma.array(), model.market.mean_deal_size()
    counts = np.array([0, 1, 5, 64, 100, 1_000, 1, 7, 300])
    segments = np.array([0, 0, 1, 2, 2, 1, 2, 0, 0])
    z = np.linspace(-2.0, 2.0, counts.size)
    k = np.clip(counts, 1, 64)
    s2 = np.log1p(np.expm1(sigma[segments] ** 2) / k)
    expected = counts * mean[segments] * np.exp(-0.5 * s2 + np.sqrt(s2) * z)
    np.testing.assert_allclose(model.market.deal_values(counts, segments, z), expected, rtol=1e-9)


def test_selling_effort_has_diminishing_returns():
    more = {"market.focal_effort_scale": 1.1}
    concave = effect(more, "revenue", relative=True)
    linear = effect(more, "revenue", under={"market.effort_exponent": 1.0}, relative=True)
    assert (concave > 0).all()
    assert linear.mean() > 1.8 * concave.mean()  # pursuit goes as effort^0.4: a linear one answers ~2.5x as much


def test_win_probability_rises_with_capability_and_only_through_win_capability():
    for slope, differs in ((1.5, True), (0.0, False)):
        model = small_model(market__win_capability=slope)
        offers = model.plan()
        t = model.partners
        t.capability[FOCAL] = 0.2
        _, low = model.market.rates(t, offers, 1)
        t.capability[FOCAL] = 0.8
        _, high = model.market.rates(t, offers, 1)
        if differs:
            # logistic(logit(w) + 1.5 (C - 0.5)): odds rise by e^(1.5 x 0.6) from C = 0.2 to 0.8
            odds = lambda p: p / (1.0 - p)  # noqa: E731
            np.testing.assert_allclose(odds(high[FOCAL]) / odds(low[FOCAL]), np.exp(0.9), rtol=1e-4)
        else:
            np.testing.assert_array_equal(high[FOCAL], low[FOCAL])


def test_an_uncertified_partner_finds_only_the_capability_floor_of_its_opportunities():
    model = small_model()
    offers = model.plan()
    t = model.partners
    t.capability[FOCAL] = 0.0
    none = model.market.pursuit(t, offers)[FOCAL]
    t.capability[FOCAL] = 1.0
    full = model.market.pursuit(t, offers)[FOCAL]
    np.testing.assert_allclose(none / full, 0.3, rtol=1e-5)  # market.capability_floor
    knocked = small_model(market__capability_floor=1.0)
    offers = knocked.plan()
    knocked.partners.capability[FOCAL] = 0.0
    low = knocked.market.pursuit(knocked.partners, offers)[FOCAL]
    knocked.partners.capability[FOCAL] = 1.0
    np.testing.assert_array_equal(knocked.market.pursuit(knocked.partners, offers)[FOCAL], low)


def test_deal_sizes_vary_and_make_revenue_noisy():
    model = small_model()
    counts, segments = np.array([1, 1, 1, 1]), np.array([2, 2, 2, 2])
    z = np.array([-1.0, 0.0, 1.0, 2.0])
    values = model.market.deal_values(counts, segments, z)
    assert np.all(np.diff(values) > 0)  # a lognormal draw: larger z, larger deal
    fixed = small_model(market__deal_size_sigma={"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0})
    np.testing.assert_allclose(fixed.market.deal_values(counts, segments, z), 300_000.0, rtol=1e-6)

    def noise(overrides: dict | None) -> np.ndarray:
        return np.array([np.diff(np.log(f.revenue.to_numpy()[4:])).std() for f in lanes(overrides)])

    no_spif = {"vendor.spif.enabled": False}
    spreadless = {**no_spif, "market.deal_size_sigma": {"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0}}
    assert noise(spreadless).mean() < 0.8 * noise(no_spif).mean()


@pytest.mark.parametrize("midmarket", [30.0, 0.0])  # without midmarket deals the split starts at enterprise
def test_won_value_closes_over_the_quarters_close_delay_gives_each_segment(midmarket):
    # each won deal closes d quarters later with the segment's probability p_d: over many deals the value booked
    # for each quarter ahead is p_d of the value won (a segment with one delay closes then, with no draw), and all
    # of it is what the win rates make expected
    model = ChannelModel(rng=3, quarters=1, partners__count=3000,
                         market__opportunities_per_fte={"smb": 8.0, "midmarket": midmarket, "enterprise": 20.0})
    t = model.partners
    t.pipeline[:] = 0.0
    offers = model.plan()
    choose_effort(t, offers, model.params)  # as the quarter does before the market answers
    quarter, depth = model.quarter, model.market.pipeline_quarters
    expected = model.market.expected_revenue(t, offers, quarter).sum(axis=(0, 2), dtype=np.float64)
    sales = model.market.realise(t, offers, model.streams, quarter)
    booked = np.array([t.pipeline[(quarter + d) % depth].sum(axis=(0, 2), dtype=np.float64) for d in range(depth)])
    booked[0] = sales.revenue_by_segment.sum(axis=(0, 2), dtype=np.float64)  # what closed at once
    sold = booked.sum(axis=0) > 0
    assert sold[0] and sold[2] and sold[1] == (midmarket > 0)
    np.testing.assert_allclose(booked.sum(axis=0)[sold], expected[sold], rtol=0.05)
    np.testing.assert_allclose((booked[:, sold] / booked.sum(axis=0)[sold]).T,
                               model.params.market.close_delay.matrix()[sold], atol=0.02)


def test_the_deals_of_a_cell_closing_on_different_dates_are_worth_independent_draws():
    # k enterprise deals won in one cell and split over closing dates: each date's deals get their own value draw,
    # so the cell's total varies like k independent deals, CV^2 = (e^(s^2) - 1) / k (pooled over k = 2..5), not
    # like deals whose values move together
    model = ChannelModel(rng=3, quarters=1, partners__count=3000,
                         market__opportunities_per_fte={"smb": 8.0, "midmarket": 30.0, "enterprise": 20.0})
    t = model.partners
    t.pipeline[:] = 0.0
    offers = model.plan()
    offers.cam_hours[:] = 0.0
    offers.kept[:] = 1.0
    choose_effort(t, offers, model.params)
    sales = model.market.realise(t, offers, model.streams, model.quarter)
    total = t.pipeline.sum(axis=0)[:, 2, :].astype(np.float64) + sales.revenue_by_segment[:, 2, :]
    count = sales.won_by_segment[:, 2, :]
    spread = np.expm1(model.params.market.deal_size_sigma.enterprise ** 2)
    deviations = []
    for k in (2, 3, 4, 5):
        x = total[count == k] / (k * model.market.mean_deal_size()[2])
        deviations.append((x - 1.0) ** 2 * k / spread)
    pooled = np.concatenate(deviations)
    assert pooled.size > 400
    assert 0.7 < pooled.mean() < 1.5  # about 1.1 here; values drawn together give 1.8-2.5


def test_the_pipeline_closes_what_earlier_quarters_booked_and_overrides_go_direct():
    model = ChannelModel(rng=4, quarters=1, partners__count=400)
    t, market = model.partners, model.market
    offers = model.plan()
    offers.kept[FOCAL] = np.linspace(0.3, 1.0, t.n)  # the share of its registered deals each partner keeps
    quarter, depth = model.quarter, market.pipeline_quarters
    t.pipeline[:] = 0.0
    empty = t.pipeline.copy()
    first = market.realise(t, offers, model.streams, quarter)
    booked = first.revenue[FOCAL].astype(np.float64) + t.pipeline[:, FOCAL].sum(axis=(0, 1), dtype=np.float64)
    # what the vendor's direct sales took of the partners' registered deals: value won x (1 - kept)
    overridden = float(booked @ ((1.0 - offers.kept[FOCAL]) / offers.kept[FOCAL]))
    np.testing.assert_allclose(first.direct[FOCAL, 0] - market.direct_sales[0], overridden, rtol=1e-5)
    # deals booked by earlier quarters close with this quarter's (the same draws, a pipeline already holding 7 a cell)
    t.pipeline[:] = empty
    t.pipeline[quarter % depth] = 7.0
    again = market.realise(t, offers, model.streams, quarter)
    np.testing.assert_allclose(again.revenue, first.revenue + 7.0 * 3, rtol=1e-6)


def test_a_vendor_no_partner_sells_wins_nothing():
    model = small_model()
    t = model.partners
    offers = model.plan()
    last = offers.margin.shape[0] - 1  # the last rival: no partner gives it any effort
    t.effort[last] = 0.0
    t.effort /= t.effort.sum(axis=0)
    sales = model.market.realise(t, offers, model.streams, model.quarter)
    assert sales.won_deals[last].sum() == 0 and sales.direct[last].sum() == 0
    assert sales.won_deals[FOCAL].sum() > 0


def test_binomial_counts_are_the_inverse_of_the_binomial_cdf_and_leave_a_fresh_uniform():
    # counts: the smallest k with F(k) >= u, exactly up to 128 trials, within one above (normal quantile with
    # corrections); the rest: where u fell within its count's step of the CDF, rescaled to (0, 1)
    from scipy.stats import binom

    from sim.market import Market

    rng = np.random.default_rng(5)
    trials = np.concatenate([rng.integers(0, 129, 3000), rng.integers(129, 2000, 600)])
    u = rng.uniform(0.0, 1.0, trials.size)
    for p in (0.05, 0.3, 0.5, 0.7, 0.95, 0.999):  # near 1: counted through the failures, whose p^n would underflow
        plain = Market.binomial_from_uniform(trials, p, u)
        assert isinstance(plain, np.ndarray)  # without rest: the counts alone
        counts, rest = Market.binomial_from_uniform(trials, p, u, rest=True)
        np.testing.assert_array_equal(plain, counts)
        exact = trials <= 128
        expected = binom.ppf(u, trials, p)
        np.testing.assert_array_equal(counts[exact], expected[exact])
        assert np.abs(counts[~exact] - expected[~exact]).max() <= 1
        assert (counts[~exact] == expected[~exact]).mean() > 0.9
        below = binom.cdf(counts[exact] - 1, trials[exact], p)
        step = binom.pmf(counts[exact], trials[exact], p)
        fresh = (u[exact] - below) / step
        np.testing.assert_allclose(rest[exact], fresh.clip(1e-12, 1 - 1e-12), atol=1e-6)
        assert (rest > 0).all() and (rest < 1).all()
    for p, everything in ((0.0, False), (1.0, True)):
        counts, rest = Market.binomial_from_uniform(trials, p, u, rest=True)
        np.testing.assert_array_equal(counts, trials if everything else 0)
        np.testing.assert_array_equal(rest, u)
        assert counts.dtype == np.int64
        assert isinstance(Market.binomial_from_uniform(trials, p, u), np.ndarray)


def test_each_deal_bucket_reads_a_draw_of_its_own_from_the_partners_split_stream(monkeypatch):
    # the split's draws are the partner's own, a column per vendor x segment x draw: every column handed out lies in
    # the partner's row and is handed out once, and every draw is read once at most (a split's uniform, or one
    # bucket's normal). Each draw is given a value of its own here, so reading one twice shows.
    import sim.market as market

    model = ChannelModel(rng=11, quarters=1, partners__count=400, market__opportunities_per_fte={
        "smb": 8.0, "midmarket": 6.0, "enterprise": 3.0})
    given, normals = {}, []
    draws = model.streams.uniform_at

    def uniform_at(name, quarter, rows, columns, width):
        if name != "deals.split":
            return draws(name, quarter, rows, columns, width)
        given.update(rows=rows.copy(), columns=columns.copy(), width=width)
        return ((np.arange(columns.size) + 0.5) / columns.size).astype(np.float32)

    inverse = market.ndtri
    monkeypatch.setattr(model.streams, "uniform_at", uniform_at)
    monkeypatch.setattr(market, "ndtri", lambda u: normals.append(np.array(u, np.float64, copy=True)) or inverse(u))
    offers = model.plan()
    model.market.realise(model.partners, offers, model.streams, 1)
    rows, columns, n = given["rows"], given["columns"], given["columns"].size
    assert n > 300
    assert (columns >= 0).all() and (columns < given["width"]).all()
    assert len(set(zip(rows.tolist(), columns.tolist(), strict=True))) == n
    grid = ((np.arange(n) + 0.5) / n).astype(np.float32).astype(np.float64)
    read = np.concatenate(normals[1:])  # after the cells' own size draws
    at = np.searchsorted(grid, read)
    hit = (at < n) & (grid[np.minimum(at, n - 1)] == read)
    assert hit.sum() > 20  # buckets' normals read off the draws
    assert np.unique(at[hit]).size == hit.sum()
    # and they are the draws after each cell's first (its split's uniform): the j-th of a cell for its j-th bucket
    _, spread, per_vendor = model.market._delay_plan()
    firsts = np.sort([first for *_, first in spread])
    offset = columns % per_vendor
    j = offset - firsts[np.searchsorted(firsts, offset, side="right") - 1]
    np.testing.assert_array_equal(np.sort(at[hit]), np.flatnonzero(j >= 1))


def test_won_deals_close_later_through_the_pipeline():
    immediate = {"market.close_delay": {"smb": [1.0], "midmarket": [1.0], "enterprise": [1.0]}}
    delayed, at_once = ChannelModel(rng=5, quarters=3, partners__count=200), None
    delayed.run()
    at_once = ChannelModel(rng=5, quarters=3, partners__count=200, market__close_delay=immediate["market.close_delay"])
    at_once.run()
    assert delayed.partners.pipeline.sum() > 0
    assert at_once.partners.pipeline.sum() == 0
    # a margin change reaches enterprise revenue only over the quarters its deals take to close
    change = {"schedule": [{"quarter": 9, "set": {"vendor.margin.base": 0.3}}]}
    untimed = {"vendor.rebate.pull_forward": 0.0, "vendor.spif.enabled": False}  # nothing moves a closing date

    def first_quarter(overrides: dict) -> np.ndarray:
        return np.array([b.revenue_enterprise.iloc[8] / a.revenue_enterprise.iloc[8] - 1.0
                         for a, b in pairs(overrides, {**overrides, **change})])

    np.testing.assert_array_equal(first_quarter(untimed), 0.0)  # no enterprise deal closes in the quarter it is won
    assert first_quarter({**untimed, **immediate}).mean() > 0.02


def shared(model: ChannelModel, scale: float = 1.0) -> tuple[float, float, float, float]:
    """What the partners, direct sales and nobody take of the addressable demand in the first quarter (dollars at
    base win rates), and that demand, with the partners' pursuit scaled."""
    market, t = model.market, model.partners
    offers = model.plan()
    raw = scale * market.pursuit(t, offers)[:, None, :] * market.flow(t)[None, :, :]
    reach = market.share_of_demand(t, raw, 1)
    value = model.params.market.win_base.array() * market.mean_deal_size()
    partners = float(value @ (raw.sum(axis=0).astype(np.float64) * reach).sum(axis=1))
    lane = 0
    cells = market._vendors * market._reference[lane] + market._direct[lane] + market._half[lane]
    addressable = float(value @ (market.demand_index(1) * cells).sum(axis=1))
    return partners, float(market.direct_sales[lane]), float(market.unserved[lane]), addressable


def test_the_addressable_demand_is_split_among_partners_direct_sales_and_nobody():
    model = ChannelModel(rng=2, quarters=1, partners__count=60)
    partners, direct, unserved, addressable = shared(model)
    assert min(partners, direct, unserved) > 0
    np.testing.assert_allclose(partners + direct + unserved, addressable, rtol=1e-5)  # all of it, no more
    # twice the pursuit takes more, but less than twice as much: the rest comes from direct sales and nobody
    more, less_direct, less_unserved, same = shared(model, 2.0)
    np.testing.assert_allclose(more + less_direct + less_unserved, same, rtol=1e-5)
    assert partners < more < 2 * partners and less_direct < direct and less_unserved < unserved
    # a thin channel (pursuit below one opportunity a cell) splits its demand the same way
    thin = ChannelModel(rng=2, quarters=1, partners__count=60,
                        market__opportunities_per_fte={"smb": 0.008, "midmarket": 0.003, "enterprise": 0.0008})
    partners, direct, unserved, addressable = shared(thin)
    np.testing.assert_allclose(partners + direct + unserved, addressable, rtol=1e-5)
    # a segment nobody can sell in (no opportunities) is no demand and no division by zero
    empty = ChannelModel(rng=2, quarters=1, partners__count=60,
                         market__opportunities_per_fte={"smb": 8.0, "midmarket": 3.0, "enterprise": 0.0})
    partners, direct, unserved, addressable = shared(empty)
    np.testing.assert_allclose(partners + direct + unserved, addressable, rtol=1e-5)
    offers = empty.plan()
    raw = empty.market.pursuit(empty.partners, offers)[:, None, :] * empty.market.flow(empty.partners)[None]
    reach = empty.market.share_of_demand(empty.partners, raw, 1)
    assert np.isfinite(reach).all() and (reach[2] == 0).all()


def test_demand_is_shared_so_more_partners_add_less_than_their_number():
    def gain(without: dict | None) -> float:
        few = final({**(without or {}), "partners.count": 150, "market.demand_sized_for": 150}, "revenue")
        many = final({**(without or {}), "partners.count": 300, "market.demand_sized_for": 150}, "revenue")
        return float((many / few).mean())

    intact = gain(None)
    assert intact < 1.5  # issue 12: at most +50 %
    # with nearly all demand unserved the partners hardly compete for it (what is left: the new partners are not
    # the size of the old ones)
    assert gain({"market.unserved_share": 0.99}) > intact + 0.25


def test_the_vendors_direct_sales_take_part_of_the_shared_demand():
    intact, knocked = final(None, "direct_revenue"), final({"market.direct_pursuit": 0.0}, "direct_revenue")
    assert (intact > 3 * knocked).all() and (knocked > 0).all()  # what is left: the deals the vendor overrides


def test_co_selling_enlarges_deals_by_its_segment_growth_at_full_cam_time():
    # deal size x (1 + x_s (1 - exp(-hours / 40))), for each vendor, segment and partner; the same at single wins
    model = small_model(market__coselling_size={"smb": 0.0, "midmarket": 0.05, "enterprise": 0.1})
    offers = model.plan()
    offers.cam_hours[:] = 0.0
    offers.cam_hours[FOCAL] = np.linspace(0.0, 160.0, model.partners.n)
    vendors, n = offers.cam_hours.shape
    size = model.market.coselling_size(offers).reshape(vendors, 3, n)
    growth = np.array([0.0, 0.05, 0.1])
    expected = 1.0 + growth[None, :, None] * (1.0 - np.exp(-offers.cam_hours[:, None, :] / 40.0))
    np.testing.assert_allclose(size, expected, rtol=1e-6)
    at = np.array([0, 5, n - 1, n + 3])  # vendor x partners + partner
    segment = np.array([2, 1, 2, 2])
    np.testing.assert_allclose(model.market.coselling_size_at(offers, at, segment),
                               expected.transpose(1, 0, 2).reshape(3, -1)[segment, at], rtol=1e-6)


def test_cam_co_selling_is_what_cam_time_does_for_enterprise_wins():
    no_cams = {"vendor.cams.count": 0}
    knocked = {"market.coselling": {"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0},
               "market.coselling_size": {"smb": 0.0, "midmarket": 0.0, "enterprise": 0.0}}
    intact = effect(no_cams, "revenue_enterprise", relative=True)
    without = effect(no_cams, "revenue_enterprise", under=knocked, relative=True)
    assert (intact < 0).all()
    assert without.mean() > 0.7 * intact.mean()  # removing CAMs costs enterprise revenue less without co-selling


# --------------------------------------------------------------------------- 3.3.4-3.3.6, 3.3.10 instruments

@pytest.mark.parametrize(("switch", "spend"), [
    ({"vendor.rebate.enabled": False}, "spend_rebate"),
    ({"vendor.growth_rebate.enabled": False}, "spend_growth_rebate"),
    ({"vendor.mdf.enabled": False}, "spend_mdf"),
    ({"vendor.spif.enabled": False}, "spend_spif"),
    ({"vendor.deal_registration.enabled": False}, "spend_deal_registration"),
    ({"vendor.certification.enabled": False}, "spend_certification"),
    ({"vendor.cams.count": 0}, "spend_cam"),
])
def test_each_instrument_costs_what_it_pays_and_moves_partner_effort(switch, spend):
    assert (total(None, spend) > 0).all() and (total(switch, spend) == 0).all()
    moved = effect(switch, "mindshare")
    assert moved.mean() < 0  # switching an instrument off takes mindshare (paired, on average over replicates)


def test_the_front_end_margin_is_the_discount_partners_keep():
    richer = effect({"vendor.margin.base": 0.25}, "discount")
    assert (richer > 0).all()
    frames = lanes({"vendor.margin.base": 0.25, "vendor.tiers.margin_points": [0.0, 0.0, 0.0, 0.0]})
    for frame in frames:  # margin points by line average to the base: the discount is a quarter of revenue
        np.testing.assert_allclose(frame.discount / frame.revenue, 0.25 + 0.6 * -0.12 + 0.4 * 0.10, rtol=0.02)


def test_a_retroactive_rebate_pulls_deals_over_its_threshold():
    def crossings(pull: float) -> float:
        return float(np.mean([f.rebate_near_threshold.iloc[4:].mean()
                              for f in lanes({"vendor.rebate.pull_forward": pull})]))

    assert crossings(0.9) < crossings(0.0)  # partners pull deals in: fewer are left just short


def policy(model: ChannelModel, name: str, vendor: int = FOCAL):
    """Vendor `vendor`'s policy of class `name`."""
    return next(p for p in model.vendors[vendor].policies if type(p).__name__ == name)


LADDER = {"threshold": 0.0, "rate": 0.01, "period": "year",  # rungs 0 / 100k / 200k at 1 / 3 / 5 %
          "ladder": [{"threshold": 100_000.0, "rate": 0.03}, {"threshold": 200_000.0, "rate": 0.05}]}


@pytest.mark.parametrize(("retroactive", "expected"), [(True, [4_000.0, 4_000.0, 0.0, 1_300.0, 0.0]),
                                                       (False, [0.0, 0.0, 0.0, 0.0, 0.0])])
def test_holding_deals_over_a_period_end_forfeits_the_rebate_they_would_have_earned(retroactive, expected):
    # payout(R) - payout(R - h) - h x rate(R - h), at least 0: a retroactive ladder loses its rate on the whole
    # period when holding drops a partner below a threshold (kept exactly at one keeps its rate); the held deals
    # earn the kept rate next period; a graduated ladder loses only the held dollars' own rate, which they earn back
    from types import SimpleNamespace

    rebate = policy(small_model(**{f"vendor__rebate__{k}": v for k, v in LADDER.items()},
                                vendor__rebate__retroactive=retroactive), "VolumeRebate")
    progress = np.array([150e3, 150e3, 250e3, 90e3, 50e3], np.float32)  # period revenue 200k, 200k, 250k, 110k, 60k
    sales = SimpleNamespace(revenue=np.array([[50e3, 50e3, 0.0, 20e3, 10e3]], np.float32))
    held = np.array([10e3, 100e3, 20e3, 200e3, 0.0])
    at = SimpleNamespace(partners=SimpleNamespace(rebate_progress=progress[None]), quarter=8)
    np.testing.assert_allclose(rebate.forfeit(at, sales, held), expected, rtol=1e-12, atol=1e-9)
    at.quarter = 7  # within a period the held deals still close in it
    assert not rebate.forfeit(at, sales, held).any()
    rebate.params.enabled = False  # no rebate, nothing to forfeit
    at.quarter = 8
    assert not rebate.forfeit(at, sales, held).any()


def test_a_ladder_pays_the_highest_rate_reached_on_everything_or_each_rate_on_the_dollars_above_its_rung():
    from sim.policies.rebates import payout

    thresholds, rates = [0.0, 100_000.0, 200_000.0], [0.01, 0.03, 0.05]
    revenue = np.array([60e3, 99_999.0, 100e3, 190e3, 200e3, 250e3], np.float32)
    np.testing.assert_allclose(payout(revenue, thresholds, rates, retroactive=True),
                               [600.0, 999.99, 3_000.0, 5_700.0, 10_000.0, 12_500.0], rtol=1e-12)
    np.testing.assert_allclose(payout(revenue, thresholds, rates, retroactive=False),
                               [600.0, 999.99, 1_000.0, 3_700.0, 4_000.0, 6_500.0], rtol=1e-12)


def test_the_normal_cdf_is_pages_approximation():
    from scipy.special import ndtr

    from sim.policies.rebates import normal_cdf

    z = np.linspace(-6.0, 6.0, 241).astype(np.float32)
    np.testing.assert_allclose(normal_cdf(z.copy()), ndtr(z.astype(np.float64)), rtol=0, atol=2e-4)


@pytest.mark.parametrize("retroactive", [True, False])
def test_the_rebate_on_one_more_dollar_is_the_ladders_expected_marginal_payout(retroactive):
    # sum_k (r_k - r_k-1) (Phi(z_k) + [retroactive] phi(z_k) / cv), z_k = ln(R^ / T_k) / cv: a first rung at 0 (a
    # number) pays its rate from the first dollar; thresholds and projections below 1 count as 1
    from scipy.special import ndtr

    from sim.policies.rebates import marginal_rate

    cv = 0.25
    projected = np.array([0.5, 1.0, 50e3, 90e3, 100e3, 115e3, 180e3, 260e3, 1e6], np.float32)
    per_partner = np.array([0.0, 0.5, 60e3, 100e3, 100e3, 80e3, 150e3, 300e3, 2e5], np.float32)  # a growth ladder's
    thresholds, rates = [0.0, per_partner, 200_000.0], [0.01, 0.03, 0.05]
    expected = np.full(projected.size, 0.01)
    for threshold, step in ((per_partner, 0.02), (200_000.0, 0.02)):
        z = (np.log(np.maximum(projected.astype(np.float64), 1.0)) - np.log(np.maximum(threshold, 1.0))) / cv
        expected += step * (ndtr(z) + retroactive * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) / cv)
    got = marginal_rate(projected, thresholds, rates, retroactive, cv)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=2 * 0.02 * 2e-4)
    # a rung at the rate of the one below adds nothing and the rungs above it still count
    flat = marginal_rate(projected, [0.0, per_partner, 150_000.0, 200_000.0], [0.01, 0.03, 0.03, 0.05], retroactive,
                         cv)
    np.testing.assert_allclose(flat, got, rtol=1e-6)
    # a threshold of a dollar is a threshold (only one at 0 pays from the first dollar)
    z = np.log(np.maximum(projected.astype(np.float64), 1.0)) / cv
    dollar = 0.02 * (ndtr(z) + retroactive * np.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) / cv)
    np.testing.assert_allclose(marginal_rate(projected, [1.0], [0.02], retroactive, cv), dollar, rtol=1e-5,
                               atol=0.02 * 2e-4)


def test_partners_within_a_tenth_below_a_threshold_are_counted_near_it():
    from sim.policies.rebates import near_threshold

    model = small_model()
    revenue = np.zeros(model.partners.n)
    revenue[:6] = [89_999.0, 90e3, 99_999.0, 100e3, 185e3, 199e3]  # thresholds 100k and 200k: 90k-100k, 180k-200k
    assert near_threshold(model.partners, revenue, [100e3, 200e3]).tolist() == [4]


def pipeline_model(revenue, waiting, quarter: int = 4, depth: int = 4):
    """A model's pipeline and a quarter's sales, as the timing functions read them: one vendor, the partners'
    `revenue` this quarter and `waiting` due the next, each split 1:3 over two segments."""
    from types import SimpleNamespace

    split = np.array([[0.25], [0.75]])
    ring = np.zeros((depth, 1, 2, len(waiting)))
    ring[(quarter + 1) % depth, 0] = split * np.asarray(waiting, float)
    sales = SimpleNamespace(revenue_by_segment=(split * np.asarray(revenue, float))[None],
                            revenue=np.asarray(revenue, float)[None].copy())
    return SimpleNamespace(partners=SimpleNamespace(pipeline=ring), quarter=quarter), sales


def test_a_partner_just_short_of_its_next_threshold_closes_early_just_enough_to_cross_it():
    from sim.policies.rebates import pull_to_threshold

    revenue, waiting = [95e3, 95e3, 195e3, 250e3, 0.25, 0.9], [20e3, 8e3, 100e3, 50e3, 10.0, 0.5]
    model, sales = pipeline_model(revenue, waiting)
    pull_to_threshold(model, 0, sales, np.array(revenue, np.float32), [200e3, 100e3, 1.0, 0.0], share=0.5)
    # short by 5k each: enough waiting (half of 20k, of 100k) or not (half of 8k); above every threshold: nothing;
    # a dollar threshold counts too (one at 0 does not), and so do cents waiting
    moved = np.array([5_005.0, 0.0, 5_005.0, 0.0, 0.75075, 0.1001])
    np.testing.assert_allclose(sales.revenue[0], np.add(revenue, moved), rtol=1e-6)
    np.testing.assert_allclose(sales.revenue_by_segment[0].sum(axis=0), sales.revenue[0], rtol=1e-12)
    np.testing.assert_allclose(model.partners.pipeline[1, 0].sum(axis=0), np.subtract(waiting, moved), rtol=1e-6)
    np.testing.assert_allclose(model.partners.pipeline[1, 0, 0] / model.partners.pipeline[1, 0, 1], 1 / 3)
    model, sales = pipeline_model(revenue, waiting)
    pull_to_threshold(model, 0, sales, np.array(revenue, np.float32), [200e3, 100e3], share=0.0)
    np.testing.assert_array_equal(sales.revenue[0], revenue)  # no pull
    model, sales = pipeline_model(revenue, waiting, quarter=3, depth=2)  # a two-quarter pipeline, all of it pulled
    pull_to_threshold(model, 0, sales, np.array(revenue, np.float32), [200e3, 100e3], share=1.0)
    np.testing.assert_allclose(sales.revenue[0], np.add(revenue, [5_005.0, 5_005.0, 5_005.0, 0.0, 0.0, 0.0]),
                               rtol=1e-6)


@pytest.mark.parametrize(("quarter", "retroactive", "enabled", "pulls"),
                         [(8, True, True, True), (8, False, True, False), (8, True, False, False),
                          (7, True, True, False)])
def test_only_a_retroactive_rebate_pulls_deals_to_its_threshold_and_only_at_its_periods_end(quarter, retroactive,
                                                                                           enabled, pulls):
    from types import SimpleNamespace

    model = small_model(**{f"vendor__rebate__{k}": v for k, v in LADDER.items()}, vendor__rebate__pull_forward=1.0,
                        vendor__rebate__retroactive=retroactive, vendor__rebate__enabled=enabled)
    n = model.partners.n
    depth = model.partners.pipeline.shape[0]
    model.partners.pipeline[(quarter + 1) % depth, FOCAL] = 1e3  # 3k due next quarter
    model.partners.rebate_progress[FOCAL] = np.linspace(96e3, 100e3, n)  # up to 4k short of 100k
    model.quarter = quarter
    revenue = np.zeros((model.n_vendors, n))
    sales = SimpleNamespace(revenue=revenue.copy(), revenue_by_segment=np.zeros((model.n_vendors, 3, n)))
    policy(model, "VolumeRebate").time_deals(model, sales)
    short = 100e3 - model.partners.rebate_progress[FOCAL].astype(np.float64)
    expected = np.where(short * 1.001 <= 3e3, short * 1.001, 0.0) * pulls
    assert not pulls or (expected.any() and not expected.all())  # some partners close enough to pull, some not
    np.testing.assert_allclose(sales.revenue[FOCAL], expected, rtol=1e-4, atol=1e-3)


def test_deals_held_over_close_next_quarter_and_a_one_quarter_pipeline_moves_nothing():
    from sim.policies.timing import close_early, hold_over

    revenue, waiting = [40e3, 80e3], [10e3, 20e3]
    model, sales = pipeline_model(revenue, waiting)
    hold_over(model, 0, sales, np.array([0.5, 0.0]))
    np.testing.assert_allclose(sales.revenue[0], [20e3, 80e3])
    np.testing.assert_allclose(sales.revenue_by_segment[0], [[5e3, 20e3], [15e3, 60e3]])
    np.testing.assert_allclose(model.partners.pipeline[1, 0], [[7.5e3, 5e3], [22.5e3, 15e3]])
    for move in (hold_over, close_early):
        model, sales = pipeline_model(revenue, [0.0, 0.0], quarter=1, depth=1)
        move(model, 0, sales, np.array([0.5, 0.5]))
        np.testing.assert_array_equal(sales.revenue[0], revenue)
    model, sales = pipeline_model(revenue, waiting, quarter=3, depth=2)  # two quarters are enough to move deals
    hold_over(model, 0, sales, np.array([0.5, 0.5]))
    close_early(model, 0, sales, np.array([0.0, 1.0]))
    np.testing.assert_allclose(sales.revenue[0], [20e3, 80e3 + 20e3])
    np.testing.assert_allclose(model.partners.pipeline[0, 0].sum(axis=0), [30e3, 0.0])


@pytest.mark.parametrize(("quarter", "left"), [(5, 4), (6, 3), (8, 1)])
def test_a_volume_rebate_offers_its_marginal_rate_at_the_revenue_projected_to_the_period_end(quarter, left):
    from sim.policies.rebates import marginal_rate
    from sim.quarter import Offers

    model = small_model(**{f"vendor__rebate__{k}": v for k, v in LADDER.items()}, vendor__rebate__forecast_cv=0.3)
    t = model.partners
    t.rebate_progress[FOCAL] = np.linspace(0.0, 150e3, t.n)
    model.quarter = quarter
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    offers.incentive[FOCAL] = 0.01  # what the instruments before it offered: the rebate adds to it
    policy(model, "VolumeRebate").plan(model, offers)
    projected = t.rebate_progress[FOCAL] + left * t.revenue_trend[FOCAL]
    expected = marginal_rate(projected, [0.0, 100e3, 200e3], [0.01, 0.03, 0.05], True, 0.3)
    np.testing.assert_allclose(offers.incentive[FOCAL], 0.01 + expected, rtol=1e-6)


@pytest.mark.parametrize(("quarter", "period"), [(6, "year"), (8, "year"), (7, "quarter")])
def test_a_volume_rebate_pays_its_ladder_at_the_period_end_within_its_budget(quarter, period):
    from types import SimpleNamespace

    from sim.policies.rebates import near_threshold, payout
    from sim.quarter import Ledger

    model = small_model(**{**{f"vendor__rebate__{k}": v for k, v in LADDER.items()}, "vendor__rebate__budget": 2e5,
                           "vendor__rebate__period": period})
    t = model.partners
    start = np.linspace(0.0, 250e3, t.n).astype(np.float32)
    t.rebate_progress[FOCAL] = start
    revenue = np.full(t.n, 20e3, np.float32)
    model.quarter = quarter
    ledger = Ledger(t, model.n_vendors)
    policy(model, "VolumeRebate").settle(model, None, SimpleNamespace(revenue=revenue[None]), ledger)
    progress = start + revenue
    assert ledger.budget[FOCAL]["rebate"] == 2e5
    if quarter == 6:  # mid-period: progress carried, no payout; near-threshold on the pace for the period
        np.testing.assert_allclose(t.rebate_progress[FOCAL], progress)
        assert not ledger.cash[FOCAL].any()
        pace = progress * 4 / 2
        assert ledger.usage[FOCAL]["rebate_near_threshold"].tolist() == near_threshold(t, pace, [0, 1e5, 2e5]).tolist()
        return
    owed = payout(progress, [0.0, 100e3, 200e3], [0.01, 0.03, 0.05], True)
    assert owed.sum() > 2e5  # the budget binds: pro rata
    np.testing.assert_allclose(ledger.cash[FOCAL], owed * 2e5 / owed.sum(), rtol=1e-5)
    assert not t.rebate_progress[FOCAL].any()  # a new period starts
    assert ledger.usage[FOCAL]["rebate_near_threshold"].tolist() == near_threshold(t, progress, [0, 1e5, 2e5]).tolist()


@pytest.mark.parametrize("retroactive", [False, True])
def test_a_growth_rebate_is_a_ladder_on_growth_over_the_trailing_quarterly_average(retroactive):
    from types import SimpleNamespace

    from sim.policies.rebates import marginal_rate, payout
    from sim.quarter import Ledger, Offers

    rungs = [{"growth": 0.1, "rate": 0.02}, {"growth": 0.3, "rate": 0.04}]
    model = small_model(vendor__growth_rebate__rungs=rungs, vendor__growth_rebate__retroactive=retroactive)
    t = model.partners
    growth = policy(model, "GrowthRebate")
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    growth.plan(model, offers)
    baseline = t.revenue_4q[FOCAL] * 0.25
    np.testing.assert_allclose(t.growth_baseline[FOCAL], baseline)
    thresholds = [baseline * 1.1, baseline * 1.3]
    params = model.params.vendor.growth_rebate
    expected = marginal_rate(t.revenue_trend[FOCAL], thresholds, [0.02, 0.04], params.retroactive, params.forecast_cv)
    np.testing.assert_allclose(offers.incentive[FOCAL], expected, rtol=1e-6)
    revenue = baseline * np.linspace(0.8, 1.6, t.n).astype(np.float32)
    ledger = Ledger(t, model.n_vendors)
    growth.settle(model, offers, SimpleNamespace(revenue=revenue[None]), ledger)
    np.testing.assert_allclose(ledger.cash[FOCAL], payout(revenue, thresholds, [0.02, 0.04], params.retroactive),
                               rtol=1e-6)
    assert ledger.cash[FOCAL].any()


def test_a_spif_pulls_deals_into_its_window_and_the_next_quarter_dips():
    def around(pull: float, hold: float) -> np.ndarray:
        """Revenue in the SPIF's one quarter (10) and the quarter after, over the same channel without it."""
        spif = {"vendor.spif.amount": 5_000.0, "vendor.spif.pull_forward": pull, "vendor.spif.hold_back": hold,
                "vendor.spif.every": 0, "vendor.spif.start": 10}
        return np.mean([b.revenue.to_numpy()[9:11] / a.revenue.to_numpy()[9:11]
                        for a, b in pairs({**spif, "vendor.spif.enabled": False}, spif)], axis=0)

    timed, untimed = around(0.3, 0.1), around(0.0, 0.0)
    assert timed[0] > untimed[0] + 0.005  # deals pulled into the window
    assert timed[1] < untimed[1]  # and missing from the quarter after


@pytest.mark.parametrize(("line", "vertical"), [("software", ""), ("", "healthcare"), ("hardware", "finance"),
                                               ("", "")])
def test_a_spif_pays_on_its_lines_and_verticals_share_of_deals(line, vertical):
    model = small_model(vendor__spif__line=line, vendor__spif__vertical=vertical)
    expected = np.full(model.partners.n, {"software": 0.4, "hardware": 0.6, "": 1.0}[line])
    if vertical:
        expected *= model.partners.verticals[model.params.market.verticals.index(vertical)]
    np.testing.assert_allclose(policy(model, "Spif").eligible_share(model), expected, rtol=1e-6)


def test_a_spif_moves_a_share_of_deals_that_grows_with_its_value_to_the_partner():
    # most x eligible x (1 - 2^(-v / half_value)), v = amount / (margin x mean deal size of the segment); a margin
    # under 0.001 counts as 0.001
    model = small_model(vendor__spif__amount=800.0, vendor__spif__half_value=0.3)
    spif = policy(model, "Spif")
    spif.margin = np.linspace(0.0, 0.4, model.partners.n).astype(np.float32)
    value = 800.0 / (model.market.mean_deal_size()[:, None] * np.maximum(spif.margin.astype(np.float64), 1e-3))
    expected = 0.7 * (1.0 - 2.0 ** (-value / 0.3)) * 0.4
    moved = spif.moved_share(model, 0.7)
    assert moved.shape == (3, model.partners.n) and moved.dtype == np.float32
    np.testing.assert_allclose(moved, expected, rtol=1e-5)


def spif_quarter(quarter: int, **overrides):
    """A small model at `quarter` with this quarter's sales (SPIF window: quarter 4, every 4; amount $900)."""
    model = small_model(**{"vendor__spif__amount": 900.0, "vendor__spif__start": 4, "vendor__spif__every": 4,
                           **overrides})
    model.quarter = quarter
    offers = model.plan()
    sales = model.market.realise(model.partners, offers, model.streams, quarter)
    return model, offers, sales


@pytest.mark.parametrize(("quarter", "enabled", "open_", "budget"), [(8, True, True, 5e4), (8, True, True, np.inf),
                                                                     (7, True, False, 5e4), (8, False, False, 5e4)])
def test_a_spif_is_an_incentive_per_dollar_and_pays_per_deal_only_in_its_window(quarter, enabled, open_, budget):
    from sim.quarter import Ledger, Offers

    model, _, sales = spif_quarter(quarter, vendor__spif__enabled=enabled, vendor__spif__budget=budget)
    spif, t = policy(model, "Spif"), model.partners
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    offers.incentive[FOCAL] = 0.01  # what the instruments before it offered: the SPIF adds to it
    spif.plan(model, offers)
    eligible = 0.4 * np.ones(t.n)
    np.testing.assert_allclose(offers.incentive[FOCAL], 0.01 + open_ * 900.0 * eligible * t.deals_per_dollar,
                               rtol=1e-6)
    ledger = Ledger(t, model.n_vendors)
    spif.settle(model, offers, sales, ledger)
    assert ledger.budget[FOCAL]["spif"] == budget
    deals = (sales.revenue_by_segment[FOCAL] / model.market.mean_deal_size()[:, None]).sum(axis=0)
    owed = 900.0 * eligible * deals
    expected = owed * min(1.0, budget / owed.sum()) * open_  # pro rata into the budget
    np.testing.assert_allclose(ledger.cash[FOCAL], expected, rtol=1e-5)
    assert ledger.spend[FOCAL]["spif"][0] == pytest.approx(expected.sum(), rel=1e-5)


def test_a_spif_holds_deals_for_its_window_only_where_they_earn_more_than_the_rebate_they_forfeit():
    # the quarter before a window (8, a year's end: window 9, every 4) each partner holds hold_back x its moved share
    # of its deals over, all or none: where the SPIF on them is worth more than the retroactive rebate it forfeits
    model, offers, sales = spif_quarter(8, vendor__spif__start=5, vendor__spif__hold_back=0.6,
                                        vendor__spif__half_value=0.05, vendor__rebate__period="year",
                                        vendor__rebate__threshold=150e3, vendor__rebate__rate=0.05)
    t, spif, rebate = model.partners, policy(model, "Spif"), policy(model, "VolumeRebate")
    spif.margin = offers.margin[FOCAL]
    before = sales.revenue_by_segment[FOCAL].astype(np.float64).copy()
    waiting = t.pipeline[9 % t.pipeline.shape[0], FOCAL].astype(np.float64).copy()
    moved = spif.moved_share(model, 0.6)
    # the year's revenue above the threshold by 0 to 2x what each partner would hold: half drop below it by holding
    t.rebate_progress[FOCAL] = 150e3 + np.linspace(0.0, 2.0, t.n) * (before * moved).sum(axis=0) - sales.revenue[0]
    gained = 900.0 * (before * moved / model.market.mean_deal_size()[:, None]).sum(axis=0)
    forfeit = rebate.forfeit(model, sales, (before * moved).sum(axis=0))
    holds = gained > forfeit
    assert holds.sum() > 10 and (~holds & (forfeit > 1.0)).sum() > 10  # both kinds of partner are there
    spif.time_deals(model, sales)
    held = before * moved * holds
    np.testing.assert_allclose(sales.revenue_by_segment[FOCAL], before - held, rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(sales.revenue[FOCAL], (before - held).sum(axis=0), rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(t.pipeline[9 % t.pipeline.shape[0], FOCAL], waiting + held, rtol=1e-5, atol=1e-2)


def test_in_a_windows_last_quarter_a_spif_closes_part_of_next_quarters_deals_early():
    model, offers, sales = spif_quarter(8, vendor__spif__pull_forward=0.5, vendor__spif__half_value=0.05)
    t, spif = model.partners, policy(model, "Spif")
    spif.margin = offers.margin[FOCAL]
    before = sales.revenue_by_segment[FOCAL].astype(np.float64).copy()
    waiting = t.pipeline[9 % t.pipeline.shape[0], FOCAL].astype(np.float64).copy()
    early = waiting * spif.moved_share(model, 0.5)
    assert early.sum() > 0.01 * before.sum()
    spif.time_deals(model, sales)
    np.testing.assert_allclose(sales.revenue_by_segment[FOCAL], before + early, rtol=1e-5, atol=1e-2)
    np.testing.assert_allclose(t.pipeline[9 % t.pipeline.shape[0], FOCAL], waiting - early, rtol=1e-5, atol=1e-2)
    for quarter in (6, 8):  # neither before a window nor at its end (8: the first of a window of two quarters)
        model, offers, sales = spif_quarter(quarter, vendor__spif__length=1 if quarter == 6 else 2,
                                            vendor__spif__pull_forward=0.5, vendor__spif__hold_back=0.5)
        policy(model, "Spif").margin = offers.margin[FOCAL]
        before = sales.revenue.copy()
        policy(model, "Spif").time_deals(model, sales)
        np.testing.assert_array_equal(sales.revenue, before)


def test_mdf_works_mostly_through_demand_generation():
    off = {"vendor.mdf.enabled": False}
    intact = effect(off, "revenue", relative=True)
    knocked = effect(off, "revenue", under={"vendor.mdf.elasticity": 0.0}, relative=True)
    assert (intact < 0).all()
    assert knocked.mean() > 0.5 * intact.mean()  # without demand generation MDF is worth less than half as much


def test_mdf_beyond_what_marketers_can_use_pays_less():
    # absorption: four times the MDF budget adds less revenue with the limit than without it
    four_times = {"vendor.mdf.budget": 2_000_000.0}
    limited = effect(four_times, "revenue", relative=True)
    unlimited = effect(four_times, "revenue", under={"vendor.mdf.absorption": 1_000.0}, relative=True)
    assert (limited > 0).all()
    assert limited.mean() < 0.7 * unlimited.mean()


def test_mdf_claims_demand_generation_and_perceived_value_follow_their_equations():
    # claim = claim_max (1 - exp(-marketers / claim_half)); own stock g' = lambda g + (1 - lambda) scale;
    # generated = ((g own + used) / own)^e_i, used = stock / (1 + stock / (absorption own)),
    # own = max(marketers, 0.5) x reference_dollars / (1 - lambda), e_i = elasticity x segment_weight . mix_i;
    # incentive += min(perceived_value x usable / max(revenue trend, 1,000), 0.2)
    from sim.policies.mdf import MarketDevelopmentFunds

    assert next(p for p in small_model().vendors[FOCAL].policies
                if isinstance(p, MarketDevelopmentFunds)).own_stock == 1.0  # settled at a scale of 1
    model = small_model(market__demand_generation_scale=1.5)
    policy = next(p for p in model.vendors[FOCAL].policies if isinstance(p, MarketDevelopmentFunds))
    t = model.partners
    t.mdf_stock[FOCAL] = np.linspace(0.0, 40_000.0, t.n)
    t.revenue_trend[FOCAL] = np.linspace(0.0, 60_000.0, t.n)
    p = model.params.vendor.mdf
    np.testing.assert_allclose(policy.claim_rate(model), 0.9 * (1.0 - np.exp(-t.marketing / 2.0)), rtol=1e-5)
    own_stock = 0.4 * policy.own_stock + 0.6 * 1.5
    offers = model.plan()
    assert policy.own_stock == pytest.approx(own_stock, rel=1e-12)
    own = np.maximum(t.marketing, 0.5) * 3_000.0 / 0.6
    stock = t.mdf_stock[FOCAL].astype(np.float64)
    used = stock / (1.0 + stock / (2.0 * own))
    e = 0.22 * (np.array([1.5, 1.0, 0.5]) @ t.segment_mix)
    np.testing.assert_allclose(offers.generated[FOCAL], ((own_stock * own + used) / own) ** e, rtol=1e-5)

    # with no MDF at all, the partners' own demand generation still answers the scale
    plain = small_model(market__demand_generation_scale=1.5, vendor__mdf__enabled=False)
    alone = next(p for p in plain.vendors[FOCAL].policies if isinstance(p, MarketDevelopmentFunds))
    scaled = 0.4 * alone.own_stock + 0.6 * 1.5
    mix = 0.22 * (np.array([1.5, 1.0, 0.5]) @ plain.partners.segment_mix)
    np.testing.assert_allclose(plain.plan().generated[FOCAL], scaled ** mix, rtol=1e-5)

    offers.incentive[:] = 0.0  # what the MDF policy alone adds to it
    policy.plan(model, offers)
    usable = offers.mdf[FOCAL] * policy.claim_rate(model)
    value = np.minimum(p.perceived_value * usable / np.maximum(t.revenue_trend[FOCAL], 1_000.0), 0.2)
    assert (value == 0.2).any() and (value[t.revenue_trend[FOCAL] < 1_000.0] > 0).any()
    np.testing.assert_allclose(offers.incentive[FOCAL], value, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize(("mode", "top_share", "top_group", "rule"), [
    ("accrual", None, "top20", "trailing_revenue"), ("budget", None, "top20", "trailing_revenue"),
    ("budget", 0.6, "top20", "trailing_revenue"), ("budget", 0.7, "top_tier", "trailing_revenue"),
    ("budget", 0.6, "top20", "segment")])
def test_mdf_is_accrued_on_revenue_or_shared_out_by_its_rule_with_a_share_reserved_for_the_top(mode, top_share,
                                                                                               top_group, rule):
    from sim.policies import allocation

    model = small_model(vendor__mdf__mode=mode, vendor__mdf__top_share=top_share, vendor__mdf__top_group=top_group,
                        vendor__mdf__budget=3e5, vendor__mdf__accrual_rate=0.03, vendor__mdf__allocation=rule,
                        vendor__mdf__target="smb" if rule == "segment" else "",
                        vendor__tiers__mdf_weight=[0.0, 1.0, 2.0, 4.0])
    t = model.partners
    t.tier[FOCAL] = np.arange(t.n) % 4
    t.digital[FOCAL] = np.arange(t.n) % 7 == 0
    t.revenue[FOCAL] = np.linspace(1e3, 5e5, t.n)
    t.revenue_4q[FOCAL] = np.linspace(4e5, 4e3, t.n)  # the first rows have sold most this year
    mdf = policy(model, "MarketDevelopmentFunds")
    eligible = np.array([0.0, 1.0, 2.0, 4.0])[np.arange(t.n) % 4] * (np.arange(t.n) % 7 != 0)
    np.testing.assert_allclose(mdf.eligible(model), eligible)
    got = mdf.allocate(model)
    assert got.dtype == np.float32
    by = t.revenue_4q[FOCAL] if rule == "trailing_revenue" else t.segment_mix[0]  # smb
    score = by.astype(np.float64) * eligible
    if mode == "accrual":
        expected = 0.03 * t.revenue[FOCAL].astype(np.float64) * (eligible > 0)
    elif top_share is None:
        expected = allocation.share_out(3e5, score / score.sum())
    else:
        top = np.arange(t.n) < 40 if top_group == "top20" else np.arange(t.n) % 4 == 3  # 20 % of 200; tier 3
        expected = (allocation.share_out(3e5 * top_share, score * top / (score * top).sum())
                    + allocation.share_out(3e5 * (1 - top_share), score * ~top / (score * ~top).sum()))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got.sum(dtype=np.float64) <= (np.inf if mode == "accrual" else 3e5)


@pytest.mark.parametrize(("vendor", "enabled", "mode"), [(FOCAL, True, "budget"), (FOCAL, True, "accrual"),
                                                         (FOCAL, False, "budget"), (1, True, "budget")])
def test_mdf_claimed_is_spent_on_demand_generation_and_builds_the_stock(vendor, enabled, mode):
    # claimed = allocated x claim share; the vendor pays what is claimed; stock' = lambda stock + claimed x scale
    # (the scale on demand generation is the focal vendor's only)
    from sim.quarter import Ledger

    model = small_model(vendor__mdf__enabled=enabled, vendor__mdf__mode=mode, vendor__mdf__budget=3e5,
                        market__demand_generation_scale=1.5, rivals__program__mdf__enabled=enabled,
                        rivals__program__mdf__mode=mode, rivals__program__mdf__budget=3e5)
    t = model.partners
    offers = model.plan()
    mdf = policy(model, "MarketDevelopmentFunds", vendor)
    allocated = offers.mdf[vendor].astype(np.float64)
    assert allocated.any() == enabled
    before = t.mdf_stock[vendor].astype(np.float64).copy()
    ledger = Ledger(t, model.n_vendors)
    mdf.settle(model, offers, None, ledger)
    claimed = allocated * mdf.claim_rate(model) * enabled
    np.testing.assert_allclose(ledger.mdf_spent[vendor], claimed, rtol=1e-6)
    assert ledger.usage[vendor]["mdf_allocated"][0] == pytest.approx(allocated.sum(), rel=1e-6)
    assert ledger.usage[vendor]["mdf_claimed"][0] == pytest.approx(claimed.sum(), rel=1e-6)
    assert ledger.spend[vendor]["mdf"][0] == pytest.approx(claimed.sum(), rel=1e-6)
    budget = (allocated.sum() if mode == "accrual" else 3e5) if enabled else 0.0
    assert np.ravel(ledger.budget[vendor]["mdf"])[0] == pytest.approx(budget, rel=1e-9)
    scale = 1.5 if vendor == FOCAL else 1.0
    np.testing.assert_allclose(t.mdf_stock[vendor], 0.4 * before + claimed * scale, rtol=1e-5)


def test_partners_claim_part_of_their_mdf_and_nothing_is_spent_when_none_is_claimed():
    claimed = final(None, "mdf_utilisation")
    assert (claimed > 0.3).all() and (claimed < 0.9).all()
    assert (final({"vendor.mdf.claim_max": 0.0}, "spend_mdf") == 0).all()


def test_deal_registration_points_attract_effort_and_overrides_cost_goodwill():
    assert (effect({"vendor.deal_registration.points": 0.0}, "mindshare") < 0).all()
    many_overrides = {"vendor.deal_registration.override_rate": 0.2}
    intact = effect(many_overrides, "goodwill")
    knocked = effect(many_overrides, "goodwill", under={"vendor.deal_registration.conflict_effect": 0.0})
    assert (intact < 0).all()
    assert np.abs(knocked).mean() < 0.3 * np.abs(intact).mean()
    assert (effect(many_overrides, "direct_revenue") > 0).all()  # an overridden deal is the vendor's own


@pytest.mark.parametrize("enabled", [True, False])
def test_deal_registration_keeps_registered_deals_points_and_conflict_as_its_equations_say(enabled):
    # registered r = propensity x goodwill, taken = override x r: the partner keeps 1 - taken of its deals, loses
    # conflict_effect x taken of goodwill, and earns points on what it registered and kept, per dollar it kept;
    # the vendor pays the points on the revenue
    from sim.quarter import Ledger, Offers

    model = small_model(vendor__deal_registration__enabled=enabled, vendor__deal_registration__points=0.12,
                        vendor__deal_registration__propensity=0.6, vendor__deal_registration__override_rate=0.3,
                        vendor__deal_registration__conflict_effect=2.5)
    t = model.partners
    t.goodwill[FOCAL] = np.linspace(0.0, 1.0, t.n)
    dealreg = policy(model, "DealRegistration")
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    dealreg.plan(model, offers)
    registered = 0.6 * t.goodwill[FOCAL].astype(np.float64)
    taken = 0.3 * registered if enabled else 0.0 * registered
    np.testing.assert_allclose(offers.kept[FOCAL], 1.0 - taken, rtol=1e-6)
    np.testing.assert_allclose(offers.conflict[FOCAL], 2.5 * taken, rtol=1e-6)
    np.testing.assert_allclose(offers.registration[FOCAL], enabled * 0.12 * (registered - taken) / (1.0 - taken),
                               rtol=1e-6)
    from types import SimpleNamespace

    revenue = np.linspace(1e4, 2e5, t.n).astype(np.float32)
    ledger = Ledger(t, model.n_vendors)
    dealreg.settle(model, offers, SimpleNamespace(revenue=revenue[None]), ledger)
    np.testing.assert_allclose(ledger.conflict[FOCAL], offers.conflict[FOCAL])
    expected = (offers.registration[FOCAL].astype(np.float64) * revenue).sum()
    assert ledger.spend[FOCAL]["deal_registration"][0] == pytest.approx(expected, rel=1e-9)


def test_certification_funding_trains_partners():
    more = {"vendor.certification.budget": 500_000.0}
    assert (effect(more, "capability") > 0.01).all()
    np.testing.assert_allclose(effect(more, "capability", under={"vendor.certification.effect": 0.0}), 0.0,
                               atol=2e-3)


@pytest.mark.parametrize("segment_points", [None, {"smb": 0.02, "midmarket": 0.0, "enterprise": -0.03}])
def test_the_front_end_margin_is_the_base_plus_line_and_segment_points(segment_points):
    from sim.quarter import Offers

    overrides = {} if segment_points is None else {"vendor__margin__segment_points": segment_points}
    model = small_model(vendor__margin__base=0.22, **overrides)
    t = model.partners
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    policy(model, "FrontEndMargin").plan(model, offers)
    expected = np.full(t.n, 0.22 + 0.6 * -0.12 + 0.4 * 0.10)  # the lines' points, deal-weighted
    if segment_points:
        expected = expected + np.array([0.02, 0.0, -0.03]) @ t.segment_mix
    np.testing.assert_allclose(offers.margin[FOCAL], expected, rtol=1e-6)


@pytest.mark.parametrize(("enabled", "points"), [(True, 0.03), (False, 0.03), (True, 0.0)])
def test_a_loyalty_bonus_adds_its_points_from_the_quarter_a_partners_tenure_reaches_its_threshold(enabled, points):
    from sim.quarter import Offers

    model = small_model(vendor__loyalty__enabled=enabled, vendor__loyalty__points=points,
                        vendor__loyalty__after_quarters=6)
    t = model.partners
    t.tenure[:] = np.arange(t.n) % 10
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    policy(model, "LoyaltyBonus").plan(model, offers)
    assert offers.margin.dtype == np.float32
    np.testing.assert_allclose(offers.margin[FOCAL], enabled * points * (np.arange(t.n) % 10 >= 6), rtol=1e-6)


def test_a_vertical_push_is_a_weight_per_vertical_and_one_where_none_is_named():
    from sim.policies.push import push_vector

    np.testing.assert_array_equal(push_vector({"finance": 2.0, "retail": 0.5}, ["retail", "health", "finance"]),
                                  [0.5, 1.0, 2.0])
    model = small_model(vendor__push={"finance": 3.0})
    offers = model.plan()
    verticals = model.params.market.verticals
    expected = np.where(np.array(verticals) == "finance", 3.0, 1.0)
    np.testing.assert_array_equal(offers.push[FOCAL], expected)


@pytest.mark.parametrize(("quarter", "lag", "share", "rise"), [(5, 2, 1.0, 0.05), (4, 2, 0.5, 0.05), (3, 2, 1.0, 0.05),
                                                               (12, 3, 1.0, -0.05), (30, 2, 1.0, 0.05)])
def test_a_rival_matches_share_of_a_focal_margin_rise_it_saw_lag_quarters_ago(quarter, lag, share, rise):
    # the focal list margin rises at quarter 3; a rival adds share x max(0, margin seen lag quarters ago - the
    # margin at the start), the last quarter recorded where the lag reaches past it
    from sim.quarter import Offers

    model = small_model(rivals__program__reaction__kind="match_margin", rivals__program__reaction__lag=lag,
                        rivals__program__reaction__share=share)
    start = model.focal.margin_history[0]
    model.focal.margin_history[1:] = [start, start] + [start + rise] * 6 + [start + 2 * rise]  # quarters 1-9
    model.quarter = quarter
    offers = Offers.empty(model.partners.n, model.n_vendors, len(model.params.market.verticals))
    policy(model, "MatchMargin", vendor=1).plan(model, offers)
    seen = model.focal.margin_history[max(0, min(quarter - lag, 9))]
    assert seen == start + rise * (quarter - lag >= 3) + rise * (quarter - lag >= 9)
    np.testing.assert_allclose(offers.margin[1], share * max(0.0, seen - start), rtol=1e-6)
    offers.margin[1] = 0.2  # what the rival's own margin policy set: the reaction adds to it
    policy(model, "MatchMargin", vendor=1).plan(model, offers)
    np.testing.assert_allclose(offers.margin[1], 0.2 + share * max(0.0, seen - start), rtol=1e-6)
    none = small_model()  # a rival with no reaction does not move
    offers = Offers.empty(none.partners.n, none.n_vendors, len(none.params.market.verticals))
    policy(none, "MatchMargin", vendor=1).plan(none, offers)
    assert not offers.margin.any()


def test_loyalty_points_add_to_the_discount_of_partners_who_stayed():
    loyal = {"vendor.loyalty.enabled": True, "vendor.loyalty.after_quarters": 4}
    assert (effect(loyal, "discount") > 0).all()


@pytest.mark.parametrize(("rule", "target"), [("trailing_revenue", ""), ("potential", ""), ("velocity", ""),
                                             ("equal", ""), ("tier", ""), ("segment", "midmarket"),
                                             ("vertical", "finance"), ("recruits", "")])
def test_each_allocation_rule_scores_partners_by_what_it_names(rule, target):
    from sim.params import SEGMENTS
    from sim.policies import allocation

    model = small_model(vendor__tiers__mdf_weight=[0.0, 1.0, 2.0, 5.0])
    t = model.partners
    t.tier[FOCAL] = np.arange(t.n) % 4
    t.tenure[:] = np.arange(t.n) % 9  # first year: tenure 0-4
    m = model.params.market
    demand = model.market.demand_index(model.quarter) @ t.verticals.astype(np.float64)
    per_fte = m.opportunities_per_fte.array() * m.win_base.array() * model.market.mean_deal_size()
    expected = {
        "trailing_revenue": t.revenue_4q[FOCAL].astype(np.float64),
        "potential": t.capacity * (per_fte[:, None] * t.segment_mix * demand).sum(axis=0),
        "velocity": (t.velocity * t.capacity).astype(np.float64),
        "equal": np.ones(t.n),
        "tier": np.array([0.0, 1.0, 2.0, 5.0])[np.arange(t.n) % 4],
        "segment": t.segment_mix[SEGMENTS.index("midmarket")].astype(np.float64),
        "vertical": t.verticals[m.verticals.index("finance")].astype(np.float64),
        "recruits": (np.arange(t.n) % 9 <= 4).astype(np.float64),
    }[rule]
    score = allocation.scores(rule, model, FOCAL, target)
    assert score.dtype == np.float64
    np.testing.assert_allclose(score, expected, rtol=1e-9)
    eligible = (np.arange(t.n) % 3 > 0).astype(np.float64)
    np.testing.assert_allclose(allocation.weights(rule, model, FOCAL, target, eligible),
                               expected * eligible / (expected * eligible).sum(), rtol=1e-9)
    np.testing.assert_allclose(allocation.weights(rule, model, FOCAL, target), expected / expected.sum(), rtol=1e-9)


def test_an_unknown_allocation_rule_is_refused_and_a_budget_is_shared_out_with_a_part_in_a_million_held_back():
    from sim.policies import allocation

    with pytest.raises(ValueError, match="unknown allocation rule 'lottery'"):
        allocation.scores("lottery", small_model(), FOCAL)
    shares = np.array([0.5, 0.3, 0.2])
    out = allocation.share_out(1e6, shares)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [499_999.5, 299_999.7, 199_999.8], rtol=1e-7)


@pytest.mark.parametrize("coverage", ["dedicated", "pooled", "digital"])
def test_cam_hours_go_to_the_top_scored_eligible_partners_or_are_pooled_and_are_paid_for_in_full(coverage):
    from sim.policies import allocation
    from sim.quarter import Ledger, Offers

    model = small_model(vendor__cams__count=3, vendor__cams__partners_per_cam=4, vendor__cams__hours_per_quarter=400.0,
                        vendor__cams__coverage=coverage, vendor__cams__cost_per_hour=150.0,
                        vendor__tiers__cam_coverage=[False, True, True, True])
    t = model.partners
    t.revenue_4q[FOCAL] = np.arange(t.n, dtype=np.float32) * 1e3  # the highest rows score most
    t.tier[FOCAL] = np.where(np.arange(t.n) % 5 == 0, 0, 1)  # every fifth partner's tier has no CAM
    t.digital[FOCAL] = np.arange(t.n) % 7 == 0  # every seventh is in the digital tier
    cams = policy(model, "CamCoverage")
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    cams.plan(model, offers)
    hours = offers.cam_hours[FOCAL]
    eligible = (np.arange(t.n) % 5 != 0) & (np.arange(t.n) % 7 != 0) & (np.arange(t.n) > 0)
    if coverage == "dedicated":  # the top 12 eligible partners, 100 hours each
        top = np.flatnonzero(eligible)[-12:]
        np.testing.assert_array_equal(np.flatnonzero(hours), top)
        np.testing.assert_allclose(hours[top], 100.0)
    elif coverage == "pooled":  # every non-digital partner by its score (tiers do not matter)
        score = t.revenue_4q[FOCAL].astype(np.float64) * (np.arange(t.n) % 7 != 0)
        np.testing.assert_allclose(hours, allocation.share_out(1200.0, score / score.sum()), rtol=1e-6)
    else:
        assert not hours.any()
    ledger = Ledger(t, model.n_vendors)
    cams.settle(model, offers, None, ledger)
    assert ledger.usage[FOCAL]["cam_hours_used"][0] == pytest.approx(hours.sum(dtype=np.float64), rel=1e-9)
    assert ledger.usage[FOCAL]["cam_hours_available"] == 1200.0
    assert ledger.spend[FOCAL]["cam"][0] == 1200.0 * 150.0


def test_with_no_cam_hours_to_give_nobody_gets_any_and_a_single_hour_is_given():
    from sim.quarter import Offers

    for overrides, given in (({"vendor__cams__count": 0}, 0.0), ({"vendor__cams__hours_per_quarter": 0.0}, 0.0),
                             ({"vendor__cams__count": 1, "vendor__cams__hours_per_quarter": 1.0,
                               "vendor__cams__partners_per_cam": 1}, 1.0)):
        model = small_model(**overrides)
        offers = Offers.empty(model.partners.n, model.n_vendors, len(model.params.market.verticals))
        policy(model, "CamCoverage").plan(model, offers)
        assert offers.cam_hours.sum() == given


@pytest.mark.parametrize(("rule", "target"), [("segment", "enterprise"), ("vertical", "finance")])
def test_cam_hours_and_mdf_targeted_at_a_segment_or_vertical_go_by_the_partners_share_of_it(rule, target):
    from sim.params import SEGMENTS
    from sim.policies import allocation

    model = small_model(vendor__cams__coverage="pooled", vendor__cams__allocation=rule, vendor__cams__target=target,
                        vendor__mdf__allocation=rule, vendor__mdf__target=target, vendor__tiers__enabled=False)
    t = model.partners
    share = (t.segment_mix[SEGMENTS.index(target)] if rule == "segment"
             else t.verticals[model.params.market.verticals.index(target)]).astype(np.float64)
    share = share * ~t.digital[FOCAL]
    offers = model.plan()
    hours = model.params.vendor.cams.count * model.params.vendor.cams.hours_per_quarter
    np.testing.assert_allclose(offers.cam_hours[FOCAL], allocation.share_out(hours, share / share.sum()), rtol=1e-5)
    budget = model.params.vendor.mdf.budget
    np.testing.assert_allclose(offers.mdf[FOCAL], allocation.share_out(budget, share / share.sum()), rtol=1e-5)


# --------------------------------------------------------------------------- 3.3.7 goodwill and capability

def relationships(**overrides):
    """Goodwill and capability of the focal vendor after one update, with and without 40 CAM hours and $20k MDF."""
    out = []
    for hours, mdf in ((0.0, 0.0), (40.0, 0.0), (0.0, 20_000.0)):
        model = small_model(**overrides)
        offers = model.plan()
        offers.cam_hours[FOCAL] = hours
        spent = np.zeros_like(offers.mdf)
        spent[FOCAL] = mdf
        update_relationships(model.partners, offers, spent, model.params)
        out.append((model.partners.goodwill[FOCAL].copy(), model.partners.capability[FOCAL].copy()))
    return out


def test_cam_hours_raise_goodwill_and_capability_through_their_own_effects():
    (g0, c0), (g_cam, c_cam), _ = relationships()
    assert (g_cam > g0).all() and (c_cam > c0).all()
    (g0, c0), (g_cam, c_cam), _ = relationships(partners__goodwill__cam_effect=0.0,
                                                partners__capability__cam_effect=0.0)
    np.testing.assert_array_equal(g_cam, g0)
    np.testing.assert_array_equal(c_cam, c0)


def test_mdf_raises_goodwill_only_through_its_goodwill_effect():
    (g0, _), _, (g_mdf, _) = relationships()
    assert (g_mdf > g0).all()
    (g0, _), _, (g_mdf, _) = relationships(partners__goodwill__mdf_effect=0.0)
    np.testing.assert_array_equal(g_mdf, g0)


def test_goodwill_decays_toward_its_baseline_and_capability_lapses():
    model = small_model(partners__goodwill__baseline=0.3)
    offers = model.plan()
    offers.cam_hours[:] = 0.0
    t = model.partners
    t.goodwill[:] = 0.9
    t.capability[:] = 0.9
    t.effort[:] = 0.0  # no selling: no self-training
    t.effort[-1] = 1.0
    update_relationships(t, offers, np.zeros_like(offers.mdf), model.params)
    np.testing.assert_allclose(t.goodwill[FOCAL], 0.9 * (1 - 0.15) + 0.15 * 0.3, rtol=1e-5)
    np.testing.assert_allclose(t.capability[FOCAL], 0.9 * (1 - 0.125), rtol=1e-5)
    knocked = small_model(partners__goodwill__decay=0.0, partners__capability__decay=0.0)
    offers = knocked.plan()
    offers.cam_hours[:] = 0.0
    t = knocked.partners
    t.goodwill[:], t.capability[:] = 0.9, 0.9
    t.effort[:] = 0.0
    t.effort[-1] = 1.0
    update_relationships(t, offers, np.zeros_like(offers.mdf), knocked.params)
    np.testing.assert_allclose(t.goodwill[FOCAL], 0.9, rtol=1e-6)
    np.testing.assert_allclose(t.capability[FOCAL], 0.9, rtol=1e-6)


def test_goodwill_and_capability_follow_their_equations_exactly():
    # G' = (1 - d_G) G + d_G g0 + (1 - G)(a_h h~ + a_M m~) - conflict G, clipped to [0, 1]
    # C' = (1 - d_C) C + (1 - C) min(1, eta s (0.25 + technical / headcount) + c_h (v e~ + (1 - v) h~) + training)
    model = small_model(partners__goodwill__cam_effect=3.0)  # within its bounds, and enough to reach the clip at 1
    offers = model.plan()
    t, p = model.partners, model.params.partners
    n = t.n
    rng = np.random.default_rng(0)
    t.goodwill[:] = rng.uniform(0.0, 1.0, t.goodwill.shape)
    t.capability[:] = rng.uniform(0.0, 1.0, t.capability.shape)
    offers.cam_hours[FOCAL] = np.linspace(0.0, 120.0, n)
    spent = np.zeros_like(offers.mdf)
    spent[FOCAL] = np.linspace(0.0, 60_000.0, n)
    training = np.zeros_like(offers.mdf)
    training[FOCAL] = np.linspace(0.0, 1.2, n)  # beyond 1: learning is at most 1
    conflict = np.zeros_like(offers.mdf)
    conflict[FOCAL] = np.linspace(0.0, 1.5, n)  # a large conflict drives goodwill below zero: clipped
    g, c = t.goodwill.astype(np.float64), t.capability.astype(np.float64)
    hours = offers.cam_hours.astype(np.float64)
    coached = 1.0 - np.exp(-hours / p.goodwill.cam_half_hours)
    enabled = 1.0 - np.exp(-hours / p.capability.enablement_half_hours)
    mdf = 1.0 - np.exp(-spent / p.goodwill.mdf_half_dollars)
    goodwill = ((1 - p.goodwill.decay) * g + p.goodwill.decay * p.goodwill.baseline
                + (1 - g) * (p.goodwill.cam_effect * coached + p.goodwill.mdf_effect * mdf) - conflict * g)
    vendors = offers.margin.shape[0]
    velocity = t.segment_mix[0]
    learning = (p.capability.self_training * t.effort[:vendors] * (0.25 + t.technical / t.headcount)
                + p.capability.cam_effect * (velocity * enabled + (1 - velocity) * coached) + training)
    capability = (1 - p.capability.decay) * c + (1 - c) * np.minimum(learning, 1.0)
    update_relationships(t, offers, spent, model.params, training=training, conflict=conflict)
    assert (goodwill < 0).any() and (goodwill > 1).any() and (learning > 1).any()
    np.testing.assert_allclose(t.goodwill, goodwill.clip(0.0, 1.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.capability, capability.clip(0.0, 1.0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(t.goodwill_change, goodwill.clip(0.0, 1.0) - g, rtol=1e-5, atol=1e-6)


def test_partners_train_themselves_on_the_lines_they_sell():
    def learned(self_training: float) -> np.ndarray:
        model = small_model(partners__capability__self_training=self_training)
        offers = model.plan()
        offers.cam_hours[:] = 0.0
        t = model.partners
        t.capability[:] = 0.2
        update_relationships(t, offers, np.zeros_like(offers.mdf), model.params)
        return t.capability[FOCAL] - 0.2 * (1 - 0.125)

    assert (learned(0.8) > 0).all()
    np.testing.assert_allclose(learned(0.0), 0.0, atol=1e-6)


# --------------------------------------------------------------------------- 3.3.8 tiers

def test_tiers_give_points_and_move_partners_between_them():
    assert total(None, "promotions").sum() > 0
    assert (effect({"vendor.tiers.enabled": False}, "discount") < 0).all()  # no tier margin points
    assert total({"vendor.tiers.enabled": False}, "promotions").sum() == 0


def test_demotion_waits_the_quarters_it_is_given():
    quick = total({"vendor.tiers.demote_after": 1}, "demotions")
    slow = total({"vendor.tiers.demote_after": 12}, "demotions")
    assert quick.sum() > slow.sum()


def test_partners_certify_and_hire_to_reach_a_tier():
    assert total(None, "partner_certifications").sum() > 0
    assert total({"vendor.tiers.partners_certify": False}, "partner_certifications").sum() == 0
    assert (effect({"vendor.tiers.partners_certify": False}, "capability") < 0).all()
    assert total({"vendor.tiers.partners_hire": False}, "technical_hires").sum() == 0


# --------------------------------------------------------------------------- 3.3.9 the partner lifecycle

def test_termination_moves_partners_without_deals_to_the_digital_tier():
    assert total(None, "moved_to_digital").sum() > 0
    off = {"vendor.termination.enabled": False}
    assert total(off, "moved_to_digital").sum() == 0 and total(off, "terminations").sum() == 0


def test_partners_leave_by_a_hazard_that_goodwill_lowers():
    assert (total(None, "exits") > 0).all()
    assert (total({"partners.exit.base": -20.0}, "exits") == 0).all()
    warm = {"partners.goodwill.baseline": 0.6}
    intact = total(warm, "exits").sum() - total(None, "exits").sum()
    knocked_off = {"partners.exit.goodwill": 0.0, "partners.exit.goodwill_change": 0.0}
    knocked = total({**knocked_off, **warm}, "exits").sum() - total(knocked_off, "exits").sum()
    assert intact < 0 and abs(knocked) < 0.5 * abs(intact)


class FixedDraws:
    """A stand-in for a lane's streams whose exit draws are given."""

    def __init__(self, u: np.ndarray):
        self.u = u

    def uniform(self, name: str, quarter: int) -> np.ndarray:
        assert name == "exit"
        return self.u


def test_the_exit_hazard_is_the_logistic_of_its_terms():
    # hazard = logistic(k0 - k1 profit share - k2 G - k3 dG + k4 conflict), profit share = the vendor's part of the
    # partner's profit (0 for a partner with no profit); a partner leaves when its draw falls below the hazard
    from sim.partners import leaving

    model = small_model()
    t, e = model.partners, model.params.partners.exit
    n = t.n
    grid = np.linspace(0.0, 1.0, n)
    t.profit = np.where(np.arange(n) % 5 == 0, 0.0, np.where(np.arange(n) % 7 == 0, 0.5, 1e5 * grid))
    t.profit_by_vendor[0] = 0.7 * t.profit
    t.profit_by_vendor[1] = 0.2 * t.profit
    t.goodwill[0] = grid[::-1]
    t.goodwill_change[0] = 0.1 * (grid - 0.5)
    t.conflict[0] = 0.2 * grid
    share = np.where(t.profit > 0, 0.7, 0.0)
    logit = (e.base - e.profit_share * share - e.goodwill * t.goodwill[0] - e.goodwill_change * t.goodwill_change[0]
             + e.conflict * t.conflict[0]).astype(np.float64)
    hazard = 1.0 / (1.0 + np.exp(-logit))
    assert hazard.min() < 0.01 and hazard.max() > 0.1  # the terms span a wide range of hazards
    everyone = np.arange(n)
    np.testing.assert_array_equal(leaving(t, model.params, FixedDraws(hazard * (1 - 1e-5)), 1), everyone)
    np.testing.assert_array_equal(leaving(t, model.params, FixedDraws(hazard * (1 + 1e-5)), 1), [])


def test_partners_who_earn_much_of_their_profit_with_the_vendor_stay():
    # hazard = logistic(k0 - k1 x profit share - ...): without the profit-share term more partners leave
    intact = total(None, "exits")
    knocked = total({"partners.exit.profit_share": 0.0}, "exits")
    assert knocked.sum() > 1.08 * intact.sum()  # about 15 % more


def test_partners_whose_deals_the_vendor_overrides_leave():
    # + k4 x conflict: overriding a fifth of registered deals drives partners out, far less without the term
    overrides = {"vendor.deal_registration.override_rate": 0.2}
    intact = total(overrides, "exits").sum() - total(None, "exits").sum()
    no_term = {"partners.exit.conflict": 0.0}
    knocked = total({**no_term, **overrides}, "exits").sum() - total(no_term, "exits").sum()
    assert intact > 0 and knocked < 0.6 * intact


def test_recruits_join_and_ramp_before_their_first_deal():
    assert (total(None, "recruits") > 0).all()
    assert (total({"vendor.recruitment.enabled": False}, "recruits") == 0).all()
    assert (effect({"vendor.recruitment.enabled": False}, "partners") < 0).all()
    slow = final({"vendor.recruitment.ramp_quarters": 4.0}, "time_to_first_deal")
    quick = final({"vendor.recruitment.ramp_quarters": 0.1}, "time_to_first_deal")
    assert slow.mean() > quick.mean()


# --------------------------------------------------------------------------- rivals

def test_a_rival_that_matches_a_margin_increase_takes_back_part_of_the_gain():
    raise_margin = {"schedule": [{"quarter": 5, "set": {"vendor.margin.base": 0.25}}]}
    alone = effect(raise_margin, "mindshare")
    matched = effect(raise_margin, "mindshare", under={"rivals.program.reaction.kind": "match_margin"})
    assert (alone > 0).all()
    assert matched.mean() < 0.8 * alone.mean()


# --------------------------------------------------------------------------- mutation testing's record

def test_every_mutant_called_equivalent_names_a_mutated_function_and_says_why():
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    listed = tomllib.loads((root / "tests" / "equivalent_mutants.toml").read_text())["mutants"]
    assert listed
    pattern = re.compile(r"^(sim(?:\.\w+)+)\.(?:x_(\w+)|xǁ(\w+)ǁ(\w+))__mutmut_\d+$")
    for name, reason in listed.items():
        match = pattern.match(name)
        assert match, name
        module, function, cls, method = match.groups()
        path = root / Path(*module.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
        if function:
            assert re.search(rf"^def {function}\(", source, re.M), name
        else:
            assert re.search(rf"^class {cls}\b", source, re.M) and re.search(rf"    def {method}\(", source), name
        assert len(reason) > 30, name


# --------------------------------------------------------------------------- replicates as lanes

def test_a_replicate_run_beside_others_is_the_replicate_run_alone():
    # lanes share arrays, not draws or demand: every metric of a lane equals its run alone, and a tiny channel (where
    # a vendor may win nothing in a lane) runs as well as a large one
    for count in (120, 1):
        together = ChannelModel(seeds=[31, 32], quarters=4, partners__count=count)
        together.run()
        alone = ChannelModel(seeds=[32], quarters=4, partners__count=count)
        alone.run()
        pd.testing.assert_frame_equal(together.lane_frames()[1].reset_index(drop=True),
                                      alone.lane_frames()[0].reset_index(drop=True))


# --------------------------------------------------------------------------- the partner agents

def test_partner_columns_keep_reals_in_float32_and_counts_in_int32_and_a_recruit_starts_from_their_fills():
    # the table's memory (~2 KiB a partner at 100,000) and rounding rest on these types; a recruit brings who it is
    # and starts with no sales, stock, conflict or history, at full access
    model = small_model()
    t = model.partners
    vendors, verticals, depth = model.n_vendors, len(model.params.market.verticals), t.pipeline.shape[0]
    shapes = {
        (): ["headcount", "sales", "technical", "marketing", "capacity", "even_fit", "velocity", "cycle",
             "deals_per_dollar", "access", "profit"],
        (3,): ["segment_mix"], (verticals,): ["verticals", "verticals_unit"], (vendors + 1,): ["taste", "effort"],
        (vendors,): ["capability", "goodwill", "goodwill_change", "conflict", "mdf_stock", "revenue", "revenue_4q",
                     "revenue_trend", "incentives", "profit_by_vendor"],
        (depth, vendors, 3): ["pipeline"], (4, vendors): ["revenue_history"],
    }
    for lead, names in shapes.items():
        for name in names:
            assert (getattr(t, name).dtype, getattr(t, name).shape[:-1]) == (np.float32, lead), name
    for name, lead, dtype in [("local_id", (), np.int64), ("tenure", (), np.int32), ("joined", (), np.int32),
                              ("first_deal", (), np.int32), ("engaged", (), bool), ("digital", (vendors,), bool),
                              ("won_deals", (vendors,), np.int32), ("won_history", (4,), np.int32),
                              ("name", (), object), ("external_id", (), object)]:
        assert (getattr(t, name).dtype, getattr(t, name).shape[:-1]) == (np.dtype(dtype), lead), name
    rows = model.recruit_partners(3, model.params.vendor.recruitment)
    for name in ["goodwill_change", "conflict", "mdf_stock", "pipeline", "revenue", "revenue_history", "revenue_4q",
                 "revenue_trend", "incentives", "profit", "profit_by_vendor", "won_deals", "won_history"]:
        assert not getattr(t, name)[..., rows].any(), name
    assert (t.access[rows] == 1.0).all() and not t.digital[:, rows].any()
    assert all(value is None for value in (*t.name[rows], *t.external_id[rows]))
    assert (t.first_deal[rows] == -1).all() and (t.headcount[rows] >= 1).all()


@pytest.mark.parametrize("listening", [False, True])
def test_leavers_mesa_agents_are_removed_and_a_listener_hears_each_one(listening, monkeypatch):
    # with nobody listening, leavers' agents leave Mesa's registries in one pass (Mesa's one-by-one removal is not
    # called); a listener to Mesa's agent-removed signal hears every leaver, once; the registries end the same
    from mesa.experimental.mesa_signals import ModelSignals

    from sim.vendors import Vendor

    model = ChannelModel(rng=3, partners__count=300, quarters=12)
    heard, one_by_one = [], []

    def listener(signal):
        heard.append(signal)

    if listening:
        model.observe("agents", ModelSignals.AGENT_REMOVED, listener)
    deregister = model.deregister_agent
    monkeypatch.setattr(model, "deregister_agent", lambda agent: one_by_one.append(agent) or deregister(agent))
    before = {agent.pid: agent for agent in model.agents_by_type[Partner]}
    model.run()
    alive = set(model.partners.pid.tolist())
    gone = [agent for pid, agent in before.items() if pid not in alive]
    assert gone  # some partners left
    assert {agent.pid for agent in model.agents_by_type[Partner]} == alive
    assert not set(gone) & set(model.agents)
    assert len(model.agents) == len(alive) + len(model.agents_by_type[Vendor])
    left = sum(model.kpi_frame()[["exits", "terminations"]].sum())
    assert len(heard) == len(one_by_one) == (left if listening else 0)


def test_a_dataset_tracking_partners_loses_each_leaver(monkeypatch):
    class Dataset:
        def __init__(self):
            self.added, self.removed = [], []

        def add_agent(self, agent):  # recruits join it
            self.added.append(agent)

        def remove_agent(self, agent):
            self.removed.append(agent)

    model = ChannelModel(rng=3, partners__count=300, quarters=8)
    tracked = Dataset()
    monkeypatch.setattr(Partner, "_datasets", {"partners"})
    monkeypatch.setattr(model, "data_registry", {"partners": tracked})
    before = {agent.pid: agent for agent in model.agents_by_type[Partner]}
    model.run()
    alive = set(model.partners.pid.tolist())
    everyone = set(before) | {agent.pid for agent in tracked.added}
    assert {agent.pid for agent in tracked.removed} == everyone - alive != set()


def test_each_partner_agent_reads_and_writes_its_own_column_of_the_table():
    model = ChannelModel(rng=5, quarters=2, partners__count=50)
    model.run()
    t = model.partners
    agents = list(model.agents_by_type[Partner])
    assert len(agents) == t.n
    for agent in agents[:: 7]:
        row = agent.row
        assert agent.capability == pytest.approx(float(t.capability[FOCAL, row]))
        assert agent.mindshare == pytest.approx(float(t.effort[FOCAL, row]))
        np.testing.assert_allclose(agent.effort, t.effort[:, row])
        agent.goodwill = 0.123
        assert float(t.goodwill[FOCAL, row]) == pytest.approx(0.123)
        assert agent.goodwill == pytest.approx(0.123)
        shares = agent.effort
        shares[:] = 0.0  # a copy: the table is untouched
        assert t.effort[:, row].sum() == pytest.approx(1.0)
        assert isinstance(agent.name, str) and agent.name
    assert len({agent.pid for agent in agents}) == t.n


# --------------------------------------------------------------------------- 3.3.6 the probe (marginal returns)


def probe_members(model, segment: str, velocity: str) -> np.ndarray:
    """The probe's group, as MODEL.md §3.3.6 states it, computed here apart from the code: main segment, velocity
    class (high: a sales cycle under half a quarter), none in the focal digital tier."""
    t = model.partners
    inside = np.ones(t.n, bool)
    if segment:
        inside &= t.segment_mix.argmax(axis=0) == ["smb", "midmarket", "enterprise"].index(segment)
    if velocity:
        inside &= (t.cycle < 0.5) if velocity == "high" else (t.cycle >= 0.5)
    return inside & ~t.digital[FOCAL]


def probed_quarter(name: str, quarter: int, probe: dict, **overrides):
    """One instrument's plan and settlement in `quarter` of a small model with the probe `probe`: every sixth partner
    in the digital tier, the tiers taking turns (the registered tier's MDF weight is 0). Returns the model, the
    offers, the policy and the ledger."""
    from sim.quarter import Ledger, Offers

    model = small_model(**overrides, **{f"probe__{k}": v for k, v in probe.items()})
    t = model.partners
    t.digital[FOCAL] = np.arange(t.n) % 6 == 0
    t.tier[FOCAL] = np.arange(t.n) % 4
    model.quarter = quarter
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    chosen = policy(model, name)
    chosen.plan(model, offers)
    ledger = Ledger(t, model.n_vendors)
    chosen.settle(model, offers, None, ledger)
    return model, offers, chosen, ledger


@pytest.mark.parametrize(("segment", "velocity"), [("enterprise", "low"), ("smb", "high"), ("", "low"), ("", "")])
def test_the_probe_adds_its_hours_to_its_group_outside_the_digital_tier_and_pays_for_them(segment, velocity):
    # h_i += x [i in G], hours available += x |G|, CAM spend += x |G| cost_per_hour; from its start quarter only
    def planned(**probe):
        model, offers, _, ledger = probed_quarter("CamCoverage", 3, probe, vendor__cams__count=3,
                                                  vendor__cams__cost_per_hour=130.0)
        return model, offers.cam_hours, ledger

    model, base, base_ledger = planned()
    group = probe_members(model, segment, velocity)
    assert 0 < group.sum() < model.partners.n or not (segment or velocity)
    hours = 7.0 if segment else 0.5  # (half an hour is given too)
    _, probed, ledger = planned(segment=segment, velocity=velocity, cam_hours=hours, start=3)
    np.testing.assert_array_equal(probed[FOCAL] - base[FOCAL], np.where(group, np.float32(hours), 0.0))
    np.testing.assert_array_equal(probed[1:], base[1:])  # the focal vendor's probe: rivals give nothing more
    extra = hours * group.sum()
    assert ledger.usage[FOCAL]["cam_hours_available"] == base_ledger.usage[FOCAL]["cam_hours_available"] + extra
    assert ledger.spend[FOCAL]["cam"][0] == pytest.approx(base_ledger.spend[FOCAL]["cam"][0] + 130.0 * extra,
                                                          rel=1e-12)
    for later in ({"start": 4}, {"cam_hours": 0.0}):  # before its start, or a probe of nothing: nothing given
        _, quiet, quiet_ledger = planned(**{"segment": segment, "velocity": velocity, "cam_hours": 7.0,
                                            "start": 3, **later})
        np.testing.assert_array_equal(quiet, base)
        assert quiet_ledger.spend[FOCAL]["cam"][0] == base_ledger.spend[FOCAL]["cam"][0]


@pytest.mark.parametrize(("enabled", "mode"), [(True, "budget"), (True, "accrual"), (False, "budget")])
def test_the_probe_allocates_its_mdf_to_its_group_which_claims_it_as_it_claims_the_rest(enabled, mode):
    # allocated_i += y [i in G], whatever the tier's MDF weight; budget += y |G|; claimed = allocated x claim share
    def planned(**probe):
        return probed_quarter("MarketDevelopmentFunds", 2, probe, vendor__mdf__enabled=enabled, vendor__mdf__mode=mode)

    model, base, _, base_ledger = planned()
    group = probe_members(model, "midmarket", "")
    _, probed, mdf, ledger = planned(segment="midmarket", mdf=1_500.0, start=2)
    np.testing.assert_allclose(probed.mdf[FOCAL] - base.mdf[FOCAL], np.where(group, 1_500.0, 0.0), atol=1e-3)
    np.testing.assert_array_equal(probed.mdf[1:], base.mdf[1:])
    extra = 1_500.0 * group.sum()
    budget = base_ledger.budget[FOCAL]["mdf"]
    assert ledger.budget[FOCAL]["mdf"] == pytest.approx((budget if enabled else 0.0) + extra, rel=1e-6)
    claimed = probed.mdf[FOCAL] * mdf.claim_share
    assert ledger.usage[FOCAL]["mdf_claimed"][0] == pytest.approx(claimed.sum(dtype=np.float64), rel=1e-6)
    assert ledger.spend[FOCAL]["mdf"][0] == pytest.approx(claimed.sum(dtype=np.float64), rel=1e-6)
    assert ledger.usage[FOCAL]["mdf_claimed"][0] > base_ledger.usage[FOCAL]["mdf_claimed"][0]


def test_a_spif_campaign_runs_beside_the_spif_pays_as_it_pays_and_adds_its_cap():
    # a campaign the same as the SPIF adds the SPIF's incentive again, doubles what it pays and its cap; a campaign
    # that is off changes nothing
    from sim.quarter import Ledger

    def settled(spif=True, **campaign):
        model = small_model(vendor__spif__enabled=spif, vendor__spif__start=1, vendor__spif__every=0,
                            vendor__spif__budget=5e6,
                            **{f"vendor__spif_campaign__{k}": v for k, v in campaign.items()})
        model.quarter = 1
        offers = model.plan()
        sales = model.sell(offers)
        ledger = Ledger(model.partners, model.n_vendors)
        for name in ("Spif", "SpifCampaign"):
            policy(model, name).settle(model, offers, sales, ledger)
        return offers, ledger

    none, _ = settled(spif=False)
    alone, paid = settled()
    off, paid_off = settled(enabled=False, line="software", start=1, every=0)
    twice, paid_twice = settled(enabled=True, line="software", start=1, every=0, budget=5e6)
    spif = alone.incentive[FOCAL] - none.incentive[FOCAL]
    assert (spif > 0).any()
    np.testing.assert_allclose(twice.incentive[FOCAL] - alone.incentive[FOCAL], spif, rtol=1e-5, atol=1e-9)
    np.testing.assert_array_equal(off.incentive, alone.incentive)
    assert paid.spend[FOCAL]["spif"][0] > 0 and paid_off.spend[FOCAL]["spif"][0] == paid.spend[FOCAL]["spif"][0]
    assert paid_twice.spend[FOCAL]["spif"][0] == pytest.approx(2 * paid.spend[FOCAL]["spif"][0], rel=1e-6)
    assert paid.budget[FOCAL]["spif"] == paid_off.budget[FOCAL]["spif"] == 5e6
    assert paid_twice.budget[FOCAL]["spif"] == 1e7
