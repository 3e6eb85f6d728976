"""The partner lifecycle's equations and branches (MODEL.md 3.3.9, `sim.policies.lifecycle`), checked exactly.

Each test sets up a small channel in which every branch of one function is taken, boundaries included (a partner
exactly at the termination rule's limit or at the end of its grace, a recruit exactly at the end of its ramp, a budget
spent to the dollar), and asserts the exact outputs and what the policy books in the ledger. Expected values are worked
out by hand or from MODEL.md's equations, never by calling the function under test. Mutation testing leans on this
file: a changed comparison, constant, operator or argument in the module must make one of these tests fail.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import ChannelModel
from sim.params import RECRUITS_MAX
from sim.policies import booked_as
from sim.policies.lifecycle import specialisation
from sim.quarter import FOCAL, Ledger, Offers


def small_model(**overrides) -> ChannelModel:
    return ChannelModel(rng=7, quarters=1, partners__count=200, **overrides)


def policy(model: ChannelModel, name: str, vendor: int = FOCAL):
    """Vendor `vendor`'s policy of class `name`."""
    return next(p for p in model.vendors[vendor].policies if type(p).__name__ == name)


def herfindahl_beyond_even(verticals: np.ndarray) -> np.ndarray:
    """MODEL.md 3.3.9: s = (sum_v w_v^2 - 1/V) / (1 - 1/V), within [0, 1]."""
    count = verticals.shape[0]
    h = (verticals.astype(np.float64) ** 2).sum(axis=0)
    return np.clip((h - 1.0 / count) / (1.0 - 1.0 / count), 0.0, 1.0)


def spy_on_recruiting(model: ChannelModel, draw: bool = True) -> list[tuple[int, object]]:
    """The (count, keep) of every call to `model.recruit_partners`; with draw=False nobody is drawn."""
    calls = []
    real = model.recruit_partners

    def recruit_partners(count, recruitment, keep=None):
        calls.append((count, keep))
        return real(count, recruitment, keep=keep) if draw else np.zeros(0, np.int64)

    model.recruit_partners = recruit_partners
    return calls


# --------------------------------------------------------------------------- specialisation

def test_specialisation_is_the_herfindahl_beyond_an_even_spread_scaled_to_zero_one():
    # columns are partners over 4 verticals: even, one vertical, two halves, 0.7 / 0.1 x 3, and two a rounding
    # takes out of [0, 1] (clipped): an even spread summing to 0.9988 and one vertical at 1.001
    verticals = np.array([[0.25, 1.0, 0.5, 0.7, 0.2497, 1.001],
                          [0.25, 0.0, 0.5, 0.1, 0.2497, 0.0],
                          [0.25, 0.0, 0.0, 0.1, 0.2497, 0.0],
                          [0.25, 0.0, 0.0, 0.1, 0.2497, 0.0]])
    # (0.5 - 1/4) / (3/4) = 1/3; (0.49 + 0.03 - 1/4) / (3/4) = 0.36
    np.testing.assert_allclose(specialisation(verticals), [0.0, 1.0, 1.0 / 3.0, 0.36, 0.0, 1.0], rtol=1e-12,
                               atol=1e-15)
    # two verticals: (h - 1/2) / (1/2)
    two = np.array([[0.5, 1.0, 0.8], [0.5, 0.0, 0.2]])
    np.testing.assert_allclose(specialisation(two), [0.0, 1.0, 0.36], rtol=1e-12, atol=1e-15)


def test_with_one_vertical_nobody_is_a_specialist():
    got = specialisation(np.ones((1, 3), np.float32))
    assert got.shape == (3,)
    np.testing.assert_array_equal(got, 0.0)


def test_specialisation_of_the_tables_float32_priorities_is_taken_in_float64():
    verticals = np.random.default_rng(5).dirichlet(np.ones(5), size=40).T.astype(np.float32)
    got = specialisation(verticals)
    assert got.dtype == np.float64 and got.shape == (40,)
    np.testing.assert_array_equal(got, herfindahl_beyond_even(verticals))


# --------------------------------------------------------------------------- who runs the lifecycle

def test_the_lifecycle_is_the_focal_vendors_kept_in_one_column_per_partner_and_recruiting_is_an_operating_cost():
    model = small_model()
    names = [{type(p).__name__ for p in vendor.policies} for vendor in model.vendors]
    assert {"Termination", "Recruitment"} <= names[FOCAL]
    assert all(not {"Termination", "Recruitment"} & rival for rival in names[1:])
    t = model.partners
    assert t.failing.dtype == np.int16 and t.failing.shape == (t.n,)
    assert t.ramp_quarters.dtype == np.float32 and t.ramp_quarters.shape == (t.n,)
    assert "recruitment" in booked_as("operating") and "recruitment" not in booked_as("contra_revenue")


# --------------------------------------------------------------------------- termination: the start

# (won_history, oldest quarter first; tenure): quarters failing at the start, starts in the digital tier
STARTS = [
    ((0, 0, 0, 0), 6, 4, True),
    ((1, 0, 0, 0), 6, 3, True),  # exactly at `quarters` (3), past `grace` (5)
    ((0, 1, 0, 0), 6, 2, False),  # a quarter without a deal before the last deal does not count
    ((0, 0, 3, 0), 6, 1, False),
    ((0, 0, 0, 2), 6, 0, False),  # dealt in the latest quarter (and was digital: leaves it)
    ((5, 0, 0, 0), 5, 3, False),  # at the end of its grace
    ((0, 0, 0, 0), 0, 4, False),
]


@pytest.mark.parametrize("action", ["digital", "terminate"])
def test_at_the_start_each_partner_counts_its_latest_quarters_without_a_deal(action):
    # failing = the quarters without a deal at the end of the year's history; with the digital action, those at
    # `quarters` or more and past `grace` start in the digital tier (the terminate action leaves the tiers alone)
    model = small_model(vendor__termination__quarters=3, vendor__termination__grace=5,
                        vendor__termination__action=action)
    t = model.partners
    t.won_history = 1
    t.tenure = 6
    for row, (history, tenure, _, _) in enumerate(STARTS):
        t.won_history[:, row], t.tenure[row] = history, tenure
    t.failing = 9
    t.digital = False
    t.digital[FOCAL, 4] = True
    before = t.digital.copy()
    termination = policy(model, "Termination")
    termination.begin(model)
    expected = np.zeros(t.n, np.int16)
    expected[: len(STARTS)] = [start[2] for start in STARTS]
    np.testing.assert_array_equal(t.failing, expected)
    assert termination.in_force == (True, "no_deal")
    if action == "digital":
        digital = np.zeros(t.n, bool)
        digital[: len(STARTS)] = [start[3] for start in STARTS]
        np.testing.assert_array_equal(t.digital[FOCAL], digital)
        assert not t.digital[1:].any()  # the rivals' digital tiers are theirs
    else:
        np.testing.assert_array_equal(t.digital, before)


@pytest.mark.parametrize(("enabled", "rule"), [(False, "no_deal"), (True, "revenue_floor"), (False, "revenue_floor")])
def test_at_the_start_a_rule_off_or_on_revenue_counts_no_history(enabled, rule):
    model = small_model(vendor__termination__enabled=enabled, vendor__termination__rule=rule)
    t = model.partners
    t.won_history = 0
    t.tenure = 20
    t.failing = 7
    t.digital = False
    termination = policy(model, "Termination")
    termination.begin(model)
    assert termination.in_force == (enabled, rule)
    np.testing.assert_array_equal(t.failing, 7)
    assert not t.digital.any()


def test_a_rule_switched_on_or_changed_during_the_run_counts_failing_quarters_from_then_on():
    model = small_model()
    t = model.partners
    termination = policy(model, "Termination")
    params = termination.params
    counts = (np.arange(t.n) % 5).astype(np.int16)
    t.failing = counts
    params.quarters = 2  # another lever of the rule: the count stands
    termination.parameters_changed(model)
    np.testing.assert_array_equal(t.failing, counts)
    params.rule = "revenue_floor"
    termination.parameters_changed(model)
    np.testing.assert_array_equal(t.failing, 0)
    assert termination.in_force == (True, "revenue_floor")
    t.failing = counts  # the rule in force is now revenue_floor: counting on
    termination.parameters_changed(model)
    np.testing.assert_array_equal(t.failing, counts)
    params.enabled = False
    termination.parameters_changed(model)
    np.testing.assert_array_equal(t.failing, 0)
    assert termination.in_force == (False, "revenue_floor")


# --------------------------------------------------------------------------- termination: the quarterly review

# (failing before, fails the rule this quarter, tenure, already digital): failing after, due
REVIEWED = [
    (2, True, 6, False, 3, True),  # reaches `quarters` (3) exactly, past grace (5)
    (1, True, 6, False, 2, False),
    (2, True, 5, False, 3, False),  # at the end of its grace: not yet
    (5, False, 9, False, 0, False),  # a quarter passing the rule starts the count again
    (3, True, 6, True, 4, False),  # already in the digital tier
    (4, True, 20, False, 5, True),
    (0, True, 0, False, 1, False),
    (2, False, 6, False, 0, False),
]


def review_model(rule: str, action: str, enabled: bool = True):
    """A channel whose first partners are REVIEWED's, the rest passing the rule; the other rule's signal says the
    opposite of this one's."""
    model = small_model(vendor__termination__enabled=enabled, vendor__termination__rule=rule,
                        vendor__termination__action=action, vendor__termination__quarters=3,
                        vendor__termination__grace=5, vendor__termination__revenue_floor=10_000.0)
    t = model.partners
    assert (t.pid == np.arange(t.n)).all()
    fails = np.zeros(t.n, bool)
    t.failing = 2
    t.tenure = 30
    t.digital = False
    for row, (before, fail, tenure, digital, _, _) in enumerate(REVIEWED):
        t.failing[row], fails[row], t.tenure[row], t.digital[FOCAL, row] = before, fail, tenure, digital
    no_deal = np.where(fails, 0, np.where(np.arange(t.n) % 2, 1, 4))  # one deal passes
    low = np.where(fails, np.where(np.arange(t.n) % 2, 9_999.0, 0.0), np.where(np.arange(t.n) % 2, 10_000.0, 5e4))
    if rule == "no_deal":
        t.won_deals[FOCAL], t.revenue[FOCAL] = no_deal, np.where(fails, 5e4, 0.0)
    else:
        t.revenue[FOCAL], t.won_deals[FOCAL] = low, np.where(fails, 3, 0)  # revenue at the floor passes
    t.won_deals[1:] = 0
    t.revenue[1:] = 0.0
    expected = np.full(t.n, 0, np.int16)
    expected[: len(REVIEWED)] = [row[4] for row in REVIEWED]
    due = np.zeros(t.n, bool)
    due[: len(REVIEWED)] = [row[5] for row in REVIEWED]
    return model, expected, due


@pytest.mark.parametrize("rule", ["no_deal", "revenue_floor"])
def test_a_partner_failing_the_rule_for_quarters_past_its_grace_moves_to_the_digital_tier(rule):
    model, expected, due = review_model(rule, "digital")
    t = model.partners
    before = t.digital.copy()
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Termination").review(model, ledger)
    assert t.n == 200
    np.testing.assert_array_equal(t.failing, expected)
    np.testing.assert_array_equal(t.digital[FOCAL], before[FOCAL] | due)
    np.testing.assert_array_equal(t.digital[1:], before[1:])
    assert set(ledger.lifecycle) == {FOCAL} and set(ledger.lifecycle[FOCAL]) == {"moved_to_digital"}
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["moved_to_digital"], [2])


@pytest.mark.parametrize("rule", ["no_deal", "revenue_floor"])
def test_a_partner_failing_the_rule_for_quarters_past_its_grace_is_terminated(rule):
    model, expected, due = review_model(rule, "terminate")
    t = model.partners
    digital = t.digital.copy()
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Termination").review(model, ledger)
    assert t.n == 198
    assert set(t.pid.tolist()) == set(np.flatnonzero(~due).tolist())  # founders' ids are their starting rows
    np.testing.assert_array_equal(t.failing, expected[t.pid])
    np.testing.assert_array_equal(t.digital, digital[:, t.pid])
    assert set(ledger.lifecycle) == {FOCAL} and set(ledger.lifecycle[FOCAL]) == {"terminations"}
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["terminations"], [2])


@pytest.mark.parametrize("action", ["digital", "terminate"])
def test_with_termination_off_nobody_is_reviewed(action):
    model, _, _ = review_model("no_deal", action, enabled=False)
    t = model.partners
    failing, digital = t.failing.copy(), t.digital.copy()
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Termination").review(model, ledger)
    assert t.n == 200
    np.testing.assert_array_equal(t.failing, failing)
    np.testing.assert_array_equal(t.digital, digital)
    assert not ledger.lifecycle


# --------------------------------------------------------------------------- recruitment: cost and ramp

HEADCOUNT = np.array([1.0, 4.0, 9.0, 16.0, 25.0, 4.0], np.float32)
EVEN, ONE, TWO = [0.2] * 5, [1.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0, 0.0]  # s = 0, 1, (0.5 - 0.2) / 0.8
PRIORITIES = np.array([EVEN, ONE, TWO, EVEN, ONE, TWO], np.float64).T
SPECIALISATION = np.array([0.0, 1.0, 0.375, 0.0, 1.0, 0.375])


def test_a_recruit_costs_by_its_size_and_specialisation():
    # cost = 20,000 x (h / 4)^0.5 x (1 + 1.5 s)
    model = small_model(vendor__recruitment__cost_per_recruit=20_000.0, vendor__recruitment__reference_headcount=4.0,
                        vendor__recruitment__cost_size_elasticity=0.5, vendor__recruitment__specialist_cost=1.5)
    np.testing.assert_allclose(specialisation(PRIORITIES), SPECIALISATION, rtol=1e-12, atol=1e-15)
    cost = policy(model, "Recruitment").cost(HEADCOUNT, PRIORITIES)
    assert cost.dtype == np.float64
    np.testing.assert_allclose(cost, [10_000.0, 50_000.0, 46_875.0, 40_000.0, 125_000.0, 31_250.0], rtol=1e-12)


def test_a_recruit_ramps_by_its_size_sales_cycle_and_specialisation():
    # ramp = 0.5 x (h / 4)^1.5 x (1 + cycle) x (1 + 2 s)
    model = small_model(vendor__recruitment__ramp_quarters=0.5, vendor__recruitment__reference_headcount=4.0,
                        vendor__recruitment__ramp_size_elasticity=1.5, vendor__recruitment__specialist_ramp=2.0)
    cycle = np.array([0.5, 1.0, 0.0, 2.0, 0.25, 3.0], np.float32)
    ramp = policy(model, "Recruitment").ramp(HEADCOUNT, cycle, PRIORITIES)
    assert ramp.dtype == np.float64
    np.testing.assert_allclose(ramp, [0.09375, 3.0, 2.953125, 12.0, 29.296875, 3.5], rtol=1e-12)


def test_partners_joining_get_their_ramp_and_the_others_keep_theirs():
    model = small_model(vendor__recruitment__ramp_quarters=0.5, vendor__recruitment__reference_headcount=4.0,
                        vendor__recruitment__ramp_size_elasticity=1.5, vendor__recruitment__specialist_ramp=2.0)
    t = model.partners
    t.ramp_quarters = 9.0
    rows = np.array([3, 50, 199])
    t.headcount[rows] = HEADCOUNT[:3]
    t.cycle[rows] = [0.5, 1.0, 0.0]
    t.verticals[:, rows] = PRIORITIES[:, :3]
    policy(model, "Recruitment").join(model, rows)
    expected = np.full(t.n, 9.0, np.float32)
    expected[rows] = [0.09375, 3.0, 2.953125]
    np.testing.assert_array_equal(t.ramp_quarters, expected)


# --------------------------------------------------------------------------- recruitment: onboarding

def test_a_recruits_opportunity_flow_ramps_until_it_is_within_e_to_the_minus_8_of_done():
    # demand x (1 - exp(-(tenure + 1) / ramp)) for a recruit (joined in quarter 1 or later) while (tenure + 1) / ramp
    # < 8; founders (joined before quarter 1) and recruits past it are left alone
    model = small_model()
    t = model.partners
    rng = np.random.default_rng(3)
    t.joined = rng.integers(1, 9, t.n)
    t.tenure = rng.integers(0, 7, t.n)
    t.ramp_quarters = rng.uniform(0.3, 3.0, t.n)
    # (joined, tenure, ramp): within the ramp; 3 < 3.2; exactly at 8 ramps (4 = 8 x 0.5); joined in quarter 0;
    # joined in quarter 1; a founder
    cases = [(1, 0, 0.7), (3, 2, 0.4), (2, 3, 0.5), (0, 0, 1.0), (1, 5, 2.5), (-3, 3, 5.0)]
    for row, (joined, tenure, ramp) in enumerate(cases):
        t.joined[row], t.tenure[row], t.ramp_quarters[row] = joined, tenure, ramp
    offers = Offers.empty(t.n, model.n_vendors, len(model.params.market.verticals))
    offers.demand[:] = rng.uniform(0.5, 3.0, offers.demand.shape)
    before = offers.demand.copy()
    policy(model, "Recruitment").plan(model, offers)
    ramp = t.ramp_quarters.astype(np.float64)
    ramping = (t.joined > 0) & ((t.tenure + 1.0) / ramp < 8.0)
    np.testing.assert_array_equal(ramping[: len(cases)], [True, True, False, False, True, False])
    share = (-np.expm1(-(t.tenure + 1.0) / ramp)).astype(np.float32)  # the share of its flow, stored as float32
    np.testing.assert_array_equal(offers.demand[FOCAL], np.where(ramping, before[FOCAL] * share, before[FOCAL]))
    np.testing.assert_allclose(offers.demand[FOCAL, [0, 1, 4]] / before[FOCAL, [0, 1, 4]],
                               [1 - np.exp(-1 / 0.7), 1 - np.exp(-3 / 0.4), 1 - np.exp(-6 / 2.5)], rtol=1e-6)
    np.testing.assert_array_equal(offers.demand[1:], before[1:])


# --------------------------------------------------------------------------- recruitment: who joins, at what cost

COSTS = {"vendor__recruitment__cost_per_recruit": 20_000.0, "vendor__recruitment__reference_headcount": 4.0,
         "vendor__recruitment__cost_size_elasticity": 0.5, "vendor__recruitment__specialist_cost": 1.5}


def recruit_cost(headcount: np.ndarray, verticals: np.ndarray, costs: tuple = (20_000.0, 4.0, 0.5, 1.5)) -> np.ndarray:
    """Each recruit's cost_per_recruit x (h / reference_headcount)^cost_size_elasticity x (1 + specialist_cost s), by
    default COSTS'."""
    per_recruit, reference, elasticity, specialist = costs
    size = (headcount.astype(np.float64) / reference) ** elasticity
    return per_recruit * size * (1.0 + specialist * herfindahl_beyond_even(verticals))


DEFAULT_COSTS = (15_000.0, 5.0, 0.5, 1.0)


def test_each_quarter_the_focal_vendor_recruits_per_quarter_partners_and_pays_what_they_cost():
    model = small_model(vendor__recruitment__per_quarter=7, **COSTS)
    t = model.partners
    calls = spy_on_recruiting(model)
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Recruitment").recruit(model, ledger)
    assert calls == [(7, None)]
    assert t.n == 207
    new = np.arange(200, 207)
    assert (t.joined[new] == 0).all() and (t.tenure[new] == 0).all()
    assert set(ledger.lifecycle) == {FOCAL} and set(ledger.lifecycle[FOCAL]) == {"recruits"}
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["recruits"], [7])
    assert set(ledger.spend) == {FOCAL} and set(ledger.spend[FOCAL]) == {"recruitment"}
    cost = recruit_cost(t.headcount[new], t.verticals[:, new])
    np.testing.assert_allclose(ledger.spend[FOCAL]["recruitment"], [cost.sum()], rtol=1e-12)
    # they joined with their ramp: 0.7 x (h / 4)^1 x (1 + cycle) x (1 + s)
    ramp = (0.7 * t.headcount[new].astype(np.float64) / 4.0 * (1.0 + t.cycle[new])
            * (1.0 + herfindahl_beyond_even(t.verticals[:, new])))
    np.testing.assert_allclose(t.ramp_quarters[new], ramp, rtol=1e-6)


@pytest.mark.parametrize(("settings", "recruits"), [({"per_quarter": 1}, 1), ({"per_quarter": 0}, 0),
                                                    ({"enabled": False}, 0),
                                                    ({"enabled": False, "budget": 1e5}, 0)])
def test_one_recruit_a_quarter_joins_and_none_or_recruiting_off_books_nothing(settings, recruits):
    model = small_model(**{f"vendor__recruitment__{k}": v for k, v in settings.items()})
    t = model.partners
    calls = spy_on_recruiting(model)
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Recruitment").recruit(model, ledger)
    assert t.n == 200 + recruits
    if recruits:
        assert calls == [(1, None)]
        np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["recruits"], [1])
        np.testing.assert_allclose(ledger.spend[FOCAL]["recruitment"],
                                   recruit_cost(t.headcount[200:], t.verticals[:, 200:], DEFAULT_COSTS), rtol=1e-12)
    else:
        assert calls == [] and not ledger.lifecycle and not ledger.spend


@pytest.mark.parametrize(("profile", "population", "expected"), [
    (None, 2.0, (2 / 6) ** 0.7),
    (None, 4.6, (5 / 6) ** 0.7),  # the smallest firm drawn has round(size_min) people
    (3.4, 2.0, (3 / 6) ** 0.7),  # the profile's smallest firm, not the population's
    (1.2, 2.0, (1 / 6) ** 0.7),
    (9.0, 2.0, 1.0),  # never more than the reference recruit's
])
def test_the_cheapest_recruit_is_the_smallest_firm_the_profile_draws_spread_evenly(profile, population, expected):
    model = small_model(partners__size_min=population, vendor__recruitment__profile__size_min=profile,
                        vendor__recruitment__reference_headcount=6.0, vendor__recruitment__cost_size_elasticity=0.7)
    assert policy(model, "Recruitment").cheapest(model) == pytest.approx(expected, rel=1e-12)


def test_a_budget_buys_each_lanes_candidates_in_the_order_drawn_while_their_costs_add_up_to_no_more_than_it():
    # lanes of 4 candidates, costs 1,000 x (h / 4)^0.5 x (1 + s), budget 3,000: 1,000 + 2,000 is exactly the budget;
    # a first candidate over the budget buys nobody, however cheap the next ones
    model = small_model(vendor__recruitment__budget=3_000.0, vendor__recruitment__cost_per_recruit=1_000.0,
                        vendor__recruitment__reference_headcount=4.0, vendor__recruitment__cost_size_elasticity=0.5,
                        vendor__recruitment__specialist_cost=1.0)
    even, one = [0.25] * 4, [1.0, 0.0, 0.0, 0.0]
    candidates = {"headcount": np.array([4, 16, 1, 1, 4, 1, 1, 1, 64, 1, 1, 1], np.float32),  # lane by lane
                  "verticals": np.array([even, even, even, even, one, even, even, even, even, even, even, even]).T}
    # costs 1,000 2,000 500 500 | 2,000 500 500 500 | 4,000 500 500 500
    kept = policy(model, "Recruitment").affordable(candidates, 3)
    assert kept.dtype == bool
    np.testing.assert_array_equal(kept, [True, True, False, False, True, True, True, False,
                                         False, False, False, False])


def test_a_budget_draws_enough_candidates_for_its_cheapest_recruit_and_recruits_those_it_buys():
    # candidates = budget // (cost_per_recruit x cheapest) = 100,000 // (20,000 x (2 / 4)^0.5) = 7
    model = small_model(vendor__recruitment__budget=100_000.0, **COSTS)
    t = model.partners
    recruitment = policy(model, "Recruitment")
    seen = []

    def affordable(candidates, lanes):
        seen.append((candidates["headcount"].copy(), candidates["verticals"].copy()))
        return type(recruitment).affordable(recruitment, candidates, lanes)

    recruitment.affordable = affordable
    calls = spy_on_recruiting(model)
    ledger = Ledger(t, model.n_vendors)
    recruitment.recruit(model, ledger)
    assert calls == [(7, affordable)]
    headcount, verticals = seen[0]
    cost = recruit_cost(headcount, verticals)
    bought = np.cumsum(cost) <= 100_000.0
    assert bought.any() and not bought.all()  # the budget binds
    assert t.n == 200 + bought.sum()
    np.testing.assert_array_equal(t.headcount[200:], headcount[bought])
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["recruits"], [bought.sum()])
    # booked at the cost of the recruits as stored (priorities in float32)
    spent = recruit_cost(t.headcount[200:], t.verticals[:, 200:]).sum()
    np.testing.assert_allclose(spent, cost[bought].sum(), rtol=1e-7)
    np.testing.assert_allclose(ledger.spend[FOCAL]["recruitment"], [spent], rtol=1e-12)


def test_a_budget_for_recruits_all_at_the_cheapest_cost_buys_every_candidate():
    # a profile of 3-person generalists: each costs 20,000 x (3 / 4)^0.5 = 17,320.5; 100,000 buys 5 (the budget does
    # not bind on the candidates drawn)
    model = small_model(vendor__recruitment__budget=100_000.0, vendor__recruitment__profile__size_min=3.0,
                        vendor__recruitment__profile__size_max=3.0, vendor__recruitment__profile__vertical_spread=0.0,
                        **COSTS)
    t = model.partners
    calls = spy_on_recruiting(model)
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Recruitment").recruit(model, ledger)
    assert [count for count, _ in calls] == [5]
    assert t.n == 205 and (t.headcount[200:] == 3.0).all()
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["recruits"], [5])
    spent = recruit_cost(t.headcount[200:], t.verticals[:, 200:]).sum()
    np.testing.assert_allclose(spent, 5 * 20_000.0 * np.sqrt(0.75), rtol=1e-7)  # 0.2 in float32 is not quite even
    np.testing.assert_allclose(ledger.spend[FOCAL]["recruitment"], [spent], rtol=1e-12)


def test_a_budget_draws_at_most_recruits_max_candidates():
    # 1.5e9 // (15,000 x (2 / 5)^0.5) = 158,113 candidates, capped
    model = small_model(vendor__recruitment__budget=1.5e9)
    calls = spy_on_recruiting(model, draw=False)
    ledger = Ledger(model.partners, model.n_vendors)
    policy(model, "Recruitment").recruit(model, ledger)
    assert [count for count, _ in calls] == [RECRUITS_MAX]


def test_side_by_side_each_lane_pays_for_its_own_recruits():
    # a budget of 12,000 draws one candidate a lane (15,000 x (2 / 5)^0.5 = 9,487): seed 7's is bought, seed 1's
    # costs more than the budget
    model = ChannelModel(seeds=[7, 1], quarters=1, partners__count=20, vendor__recruitment__budget=12_000.0)
    t = model.partners
    ledger = Ledger(t, model.n_vendors)
    policy(model, "Recruitment").recruit(model, ledger)
    np.testing.assert_array_equal(t.sizes(), [21, 20])
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["recruits"], [1, 0])
    new = 20  # lane 0's recruit joins the end of its block
    assert t.joined[new] == 0 and t.lane[new] == 0
    cost = recruit_cost(t.headcount[[new]], t.verticals[:, [new]], DEFAULT_COSTS)
    assert 9_487.0 < cost[0] <= 12_000.0
    np.testing.assert_allclose(ledger.spend[FOCAL]["recruitment"], [cost[0], 0.0], rtol=1e-12)
