"""Tiers and certification funding, equation by equation (MODEL.md 3.3.8 and 3.3.7; `sim.policies.tiers`,
`sim.policies.certification`).

Each test sets a handful of partners by hand, each one on a branch or exactly on a threshold (a revenue or a
certified staff requirement met to the dollar, training of exactly 1.0, two tiers worth the same), calls one policy
method and asserts its exact output: values worked out here from the modules' equations, with the numbers chosen so
that the arithmetic is exact in binary. No quarter is played (a second or two for the file): written so that a
mutation of either module that changes a result fails a test.
"""

from __future__ import annotations

import numpy as np
import pytest

from sim.model import ChannelModel
from sim.policies import booked_as
from sim.policies.certification import CertificationFunding
from sim.policies.tiers import TierProgram
from sim.quarter import FOCAL, Ledger, Offers

# the focal vendor's row of these columns is set; the others are one value per partner
PER_VENDOR = {"revenue_4q", "capability", "tier", "tier_below", "mdf_stock"}

# tier benefits in powers of two, so that a year of a tier's benefits is exact: 1/8, 1/4 and 1/2 of revenue
POINTS = [0.0, 0.125, 0.25, 0.5]
# certifications: each adds 0.5 to training per technical head; capability keeps 0.75 of itself a quarter
CERTIFYING = {"vendor__tiers__margin_points": POINTS, "vendor__tiers__certification_cost": 1_000.0,
              "vendor__certification__effect": 0.5, "partners__capability__decay": 0.25,
              "vendor__mdf__enabled": False}


def channel(columns: dict[str, list], **overrides) -> ChannelModel:
    """A model of as many partners as the columns give values, with those values (the focal vendor's row of a
    per-vendor column)."""
    n = len(next(iter(columns.values())))
    model = ChannelModel(rng=7, quarters=1, partners__count=n, **overrides)
    t = model.partners
    for name, values in columns.items():
        column = getattr(t, name)
        if name in PER_VENDOR:
            column[FOCAL] = values
        else:
            column[:] = values
    return model


def tiers(model: ChannelModel, vendor: int = FOCAL) -> TierProgram:
    return next(p for p in model.vendors[vendor].policies if type(p).__name__ == "TierProgram")


def certification(model: ChannelModel) -> CertificationFunding:
    return next(p for p in model.vendors[FOCAL].policies if type(p).__name__ == "CertificationFunding")


def offers_for(model: ChannelModel, margin: float = 0.0, training: float = 0.0) -> Offers:
    offers = Offers.empty(model.partners.n, model.n_vendors, len(model.params.market.verticals))
    offers.margin[:] = margin
    offers.training[:] = training
    return offers


# --------------------------------------------------------------------------- who qualifies for which tier

def test_tier_columns_are_small_integers_and_a_new_programme_has_placed_no_one():
    model = channel({"technical": [1.0]})
    assert model.partners.tier.dtype == np.int8 and model.partners.tier_below.dtype == np.int16
    fresh = TierProgram(model.params.vendor, FOCAL, model)
    assert fresh.running is False and fresh.certifications is None


def test_a_partner_qualifies_for_the_highest_tier_whose_revenue_and_certified_staff_it_meets_with_all_below():
    # default requirements: revenue 0, 100k, 500k, 2.5M a year; certified staff (capability x heads) 0, 0.5, 1.5, 3
    rows = [  # (trailing-year revenue, technical heads, capability) -> tier
        (0.0, 10.0, 1.0, 0),
        (99_999.0, 10.0, 1.0, 0),  # a dollar short of silver
        (100_000.0, 1.0, 0.5, 1),  # silver's revenue and certified staff, exactly
        (100_000.0, 1.0, 0.4375, 0),  # certified staff short of silver
        (2_500_000.0, 1.0, 0.5, 1),  # platinum's revenue, silver's staff
        (499_999.0, 10.0, 1.0, 1),
        (500_000.0, 3.0, 0.5, 2),  # gold's revenue and staff, exactly
        (2_500_000.0, 4.0, 0.5, 2),
        (2_499_999.0, 10.0, 1.0, 2),
        (2_500_000.0, 3.0, 1.0, 3),  # platinum, exactly
    ]
    revenue, technical, capability, expected = zip(*rows, strict=True)
    model = channel({"revenue_4q": revenue, "technical": technical, "capability": capability})
    level = tiers(model).qualified(model)
    assert level.dtype == np.int8
    np.testing.assert_array_equal(level, expected)


def test_a_tier_whose_requirements_a_partner_meets_counts_only_if_it_meets_every_tier_below():
    # silver requires more certified staff than gold: one certified head meets gold's but not silver's
    model = channel({"revenue_4q": [1_000_000.0, 1_000_000.0], "technical": [1.0, 2.0], "capability": [1.0, 1.0]},
                    vendor__tiers__certified=[0.0, 2.0, 1.0, 3.0])
    np.testing.assert_array_equal(tiers(model).qualified(model), [0, 2])


def test_a_rivals_tiers_read_the_rivals_revenue_and_certified_staff():
    model = channel({"revenue_4q": [0.0, 3_000_000.0], "technical": [1.0, 2.0], "capability": [1.0, 1.0]})
    t = model.partners
    t.revenue_4q[1] = [3_000_000.0, 0.0]
    t.capability[1] = [1.0, 1.0]
    np.testing.assert_array_equal(tiers(model, vendor=1).qualified(model), [1, 0])
    np.testing.assert_array_equal(tiers(model).qualified(model), [0, 2])


# --------------------------------------------------------------------------- placing partners

QUALIFYING = {  # one partner qualified for each tier: registered, silver, gold, platinum
    "revenue_4q": [0.0, 200_000.0, 500_000.0, 2_500_000.0],
    "technical": [0.0, 1.0, 3.0, 6.0],
    "capability": [0.5, 0.5, 0.5, 0.5],
}


@pytest.mark.parametrize("hook", ["begin", "warm_up"])
def test_an_enabled_programme_places_partners_in_the_tier_they_qualify_for(hook):
    model = channel({**QUALIFYING, "tier": [3, 3, 0, 0]})
    model.partners.tier[1] = [2, 2, 2, 2]
    policy = tiers(model)
    policy.running = False
    getattr(policy, hook)(model)
    np.testing.assert_array_equal(model.partners.tier[FOCAL], [0, 1, 2, 3])
    np.testing.assert_array_equal(model.partners.tier[1], [2, 2, 2, 2])  # the rival's tiers are its own
    assert policy.running is True


def test_a_disabled_programme_places_every_partner_in_the_first_tier():
    model = channel({**QUALIFYING, "tier": [3, 3, 2, 1]}, vendor__tiers__enabled=False)
    policy = tiers(model)
    policy.running = True
    policy.begin(model)
    np.testing.assert_array_equal(model.partners.tier[FOCAL], [0, 0, 0, 0])
    assert policy.running is False


def test_switching_the_programme_on_or_off_mid_run_places_partners_afresh_and_clears_their_quarters_below():
    model = channel({**QUALIFYING, "tier": [3, 3, 3, 3], "tier_below": [2, 2, 2, 2]})
    policy = tiers(model)
    t = model.partners
    policy.parameters_changed(model)  # no change: where partners stand is kept
    np.testing.assert_array_equal(t.tier[FOCAL], [3, 3, 3, 3])
    np.testing.assert_array_equal(t.tier_below[FOCAL], [2, 2, 2, 2])
    model.params.vendor.tiers.enabled = False
    policy.parameters_changed(model)  # off: everyone at the first tier
    np.testing.assert_array_equal(t.tier[FOCAL], [0, 0, 0, 0])
    np.testing.assert_array_equal(t.tier_below[FOCAL], [0, 0, 0, 0])
    assert policy.running is False
    t.tier_below[FOCAL] = 2
    policy.parameters_changed(model)  # still off: nothing to redo
    np.testing.assert_array_equal(t.tier_below[FOCAL], [2, 2, 2, 2])
    model.params.vendor.tiers.enabled = True
    policy.parameters_changed(model)  # on again: placed where they qualify
    np.testing.assert_array_equal(t.tier[FOCAL], [0, 1, 2, 3])
    np.testing.assert_array_equal(t.tier_below[FOCAL], [0, 0, 0, 0])
    assert policy.running is True


def test_joining_partners_start_in_the_first_tier_with_no_quarters_below():
    model = channel({**QUALIFYING, "tier": [3, 3, 3, 3], "tier_below": [2, 2, 2, 2]})
    tiers(model).join(model, np.array([1, 3]))
    np.testing.assert_array_equal(model.partners.tier[FOCAL], [3, 0, 3, 0])
    np.testing.assert_array_equal(model.partners.tier_below[FOCAL], [2, 0, 2, 0])


# --------------------------------------------------------------------------- the review

# (qualified for, tier held, quarters below before the review) and, after it, (tier, quarters below) when the
# quarter is a review quarter and when it is not; demote_after = 4
REVIEWED = [
    (2, 0, 0, (2, 0), (0, 0)),  # promoted at once
    (1, 2, 2, (2, 3), (2, 3)),  # a third quarter below: kept
    (0, 2, 3, (0, 0), (2, 4)),  # a fourth quarter below: demoted, to the tier it qualifies for
    (3, 3, 5, (3, 0), (3, 0)),  # back at its tier: the count starts again
    (0, 1, 10, (0, 0), (1, 11)),
    (1, 1, 0, (1, 0), (1, 0)),
    (2, 3, 0, (3, 1), (3, 1)),
    (3, 1, 2, (3, 0), (1, 0)),  # promoted two tiers at once
]


@pytest.mark.parametrize(("quarter", "review_every", "reviewed"), [(2, 2, True), (4, 2, True), (3, 2, False),
                                                                    (6, 3, True), (4, 3, False)])
def test_a_review_promotes_at_once_and_demotes_after_demote_after_quarters_below(quarter, review_every, reviewed):
    qualified, held, below, at_review, between = zip(*REVIEWED, strict=True)
    columns = {name: [QUALIFYING[name][q] for q in qualified] for name in QUALIFYING}
    model = channel({**columns, "tier": held, "tier_below": below}, vendor__tiers__partners_hire=False,
                    vendor__tiers__review_every=review_every)
    model.quarter = quarter
    ledger = Ledger(model.partners, model.n_vendors)
    ledger.lifecycle[FOCAL]["promotions"] += 10  # counted on top of what the quarter already holds
    ledger.lifecycle[FOCAL]["demotions"] += 20
    tiers(model).review(model, ledger)
    tier, quarters_below = zip(*(at_review if reviewed else between), strict=True)
    np.testing.assert_array_equal(model.partners.tier[FOCAL], tier)
    np.testing.assert_array_equal(model.partners.tier_below[FOCAL], quarters_below)
    assert model.partners.tier_below.dtype == np.int16
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["promotions"], [12 if reviewed else 10])
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["demotions"], [22 if reviewed else 20])


def test_a_disabled_programme_reviews_no_one():
    qualified, held, below, _, _ = zip(*REVIEWED, strict=True)
    columns = {name: [QUALIFYING[name][q] for q in qualified] for name in QUALIFYING}
    model = channel({**columns, "tier": held, "tier_below": below}, vendor__tiers__enabled=False)
    model.quarter = 4
    ledger = Ledger(model.partners, model.n_vendors)
    tiers(model).review(model, ledger)
    np.testing.assert_array_equal(model.partners.tier[FOCAL], held)
    np.testing.assert_array_equal(model.partners.tier_below[FOCAL], below)
    assert not ledger.lifecycle[FOCAL]


# --------------------------------------------------------------------------- partners hire technical staff

HIRING = {"vendor__tiers__margin_points": POINTS, "vendor__tiers__certified": [0.0, 0.5, 2.0, 3.0],
          "vendor__tiers__technical_hire_cost": 100_000.0, "vendor__mdf__enabled": False,
          "partners__presales_selling": 0.25}


@pytest.mark.parametrize(("quarter", "hire", "review_every", "hired"), [
    (4, True, 2, True), (8, True, 2, True), (4, True, 3, True),  # a year's first quarter, reviewed or not
    (2, True, 2, False), (6, True, 3, False), (5, True, 2, False), (4, False, 2, False)])
def test_partners_hire_only_in_the_first_quarter_of_a_year_and_only_when_hiring_is_on(quarter, hire, review_every,
                                                                                       hired):
    # no technical head: silver is out of training's reach, and worth 1/8 of 1.6M = 200k a year, more than a hire
    model = channel({"revenue_4q": [1_600_000.0], "technical": [0.0], "capability": [0.5], "tier": [0]},
                    vendor__tiers__partners_hire=hire, vendor__tiers__review_every=review_every, **HIRING)
    model.quarter = quarter
    ledger = Ledger(model.partners, model.n_vendors)
    tiers(model).review(model, ledger)
    np.testing.assert_array_equal(model.partners.technical, [1.0 if hired else 0.0])
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL].get("technical_hires", [0]), [int(hired)])
    # the review placed the partner where it qualified before the hire
    np.testing.assert_array_equal(model.partners.tier[FOCAL], [0])


@pytest.mark.parametrize("first", [0.0, 5.0])
def test_a_partner_hires_a_head_when_the_next_tier_needs_more_heads_and_its_gain_passes_a_hires_cost(first):
    # certified staff required: silver 0.5, gold 2, platinum 3; a hire costs 100k a year. The first tier's own
    # requirement (`first`) holds nobody, here as in qualifying: the same hires whatever it is
    rows = [  # (revenue, technical, capability) -> hires
        (1_600_000.0, 0.0, 0.5, True),  # silver: 1/8 x 1.6M = 200k > 100k
        (800_000.0, 0.0, 0.5, False),  # silver: 1/8 x 800k = 100k, no more than a hire
        (600_000.0, 1.0, 0.5, False),  # in silver, gold over silver: 1/8 x 600k = 75k
        (2_500_000.0, 2.0, 1.0, True),  # in gold, platinum's revenue exactly: 1/4 x 2.5M = 625k
        (2_499_999.0, 2.0, 1.0, False),  # a dollar short of platinum's revenue
        (1_200_000.0, 2.0, 0.5, False),  # in silver with as many heads as gold needs certified: training's job
        (3_000_000.0, 6.0, 0.5, False),  # platinum: nothing above
        (1_600_000.0, 1.0, 0.25, False),  # silver needs 0.5 certified of its one head: training's job
        (1_200_000.0, 1.0, 0.5, True),  # in silver, gold over silver: 1/8 x 1.2M = 150k
        (50_000.0, 0.0, 0.5, False),  # short of silver's revenue
    ]
    revenue, technical, capability, hires = zip(*rows, strict=True)
    n = len(rows)
    model = channel({"revenue_4q": revenue, "technical": technical, "capability": capability,
                     "tier": [0] * n, "headcount": [5.0] * n, "capacity": [2.0] * n},
                    **{**HIRING, "vendor__tiers__certified": [first, 0.5, 2.0, 3.0]})
    policy = tiers(model)
    ledger = Ledger(model.partners, model.n_vendors)
    policy.hire(model, ledger, policy.qualified(model))
    hired = np.array(hires, dtype=float)
    t = model.partners
    np.testing.assert_array_equal(t.technical, np.array(technical) + hired)
    np.testing.assert_array_equal(t.headcount, 5.0 + hired)
    np.testing.assert_array_equal(t.capacity, 2.0 + 0.25 * hired)  # a quarter of the head's time sells
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL]["technical_hires"], [3])


def test_no_partner_hires_when_no_tier_gain_passes_a_hires_cost():
    model = channel({"revenue_4q": [1_600_000.0, 3_000_000.0], "technical": [0.0, 6.0], "capability": [0.5, 0.5],
                     "tier": [0, 3]}, **{**HIRING, "vendor__tiers__technical_hire_cost": 200_000.0})
    policy = tiers(model)
    ledger = Ledger(model.partners, model.n_vendors)
    policy.hire(model, ledger, policy.qualified(model))
    np.testing.assert_array_equal(model.partners.technical, [0.0, 6.0])
    np.testing.assert_array_equal(ledger.lifecycle[FOCAL].get("technical_hires", [0]), [0])


# --------------------------------------------------------------------------- what a tier is worth to a partner

# (trailing-year revenue, tier held, MDF stock) of four partners
VALUED = {"revenue_4q": [400_000.0, 200_000.0, 0.0, 100_000.0], "tier": [0, 1, 2, 3],
          "mdf_stock": [800.0, 1_000.0, 3_000.0, 0.0]}
POINTS_ONLY = np.array(POINTS)[:, None] * np.array(VALUED["revenue_4q"])


def test_a_tiers_yearly_value_is_its_margin_points_and_the_mdf_its_weight_would_bring():
    # V_k = points_k R + 4 x perceived value x (MDF claimed a quarter per unit of weight held) x weight_k, with a
    # quarter's claim (1 - carryover) x stock; weights 0, 1, 1.5, 2 (tier 0: no MDF, nothing claimed per weight)
    model = channel(VALUED, vendor__tiers__margin_points=POINTS, vendor__mdf__carryover=0.25,
                    vendor__mdf__perceived_value=0.5)
    per_weight = np.array([0.0, 0.75 * 1_000.0 / 1.0, 0.75 * 3_000.0 / 1.5, 0.0])
    weights = np.array([0.0, 1.0, 1.5, 2.0])[:, None]
    expected = POINTS_ONLY + 4 * 0.5 * weights * per_weight
    value = tiers(model).yearly_value(model)
    assert value.dtype == np.float64 and value.shape == (4, 4)
    np.testing.assert_allclose(value, expected, rtol=1e-12)
    np.testing.assert_allclose(expected[:, 2], [0.0, 3_000.0, 4_500.0, 6_000.0])  # the arithmetic, by hand
    rows = np.array([3, 1])
    np.testing.assert_allclose(tiers(model).yearly_value(model, rows), expected[:, rows], rtol=1e-12)


@pytest.mark.parametrize("overrides", [{"vendor__mdf__enabled": False},
                                       {"vendor__tiers__mdf_weight": [1.0, 1.0, 1.0, 1.0]}])
def test_without_mdf_or_with_every_tier_weighted_alike_a_tier_is_worth_its_margin_points(overrides):
    model = channel(VALUED, vendor__tiers__margin_points=POINTS, **overrides)
    np.testing.assert_allclose(tiers(model).yearly_value(model), POINTS_ONLY, rtol=1e-12)


@pytest.mark.parametrize(("points", "weights", "mdf", "differ"), [
    ([0.0, 0.01, 0.02, 0.04], [1.0, 1.0, 1.0, 1.0], False, True),
    ([0.0, 0.01, 0.02, 0.04], [1.0, 1.0, 1.0, 1.0], True, True),
    ([0.02, 0.02, 0.02, 0.02], [0.0, 1.0, 1.5, 2.0], True, True),
    ([0.02, 0.02, 0.02, 0.02], [0.0, 1.0, 1.5, 2.0], False, False),  # MDF weights without MDF are nothing
    ([0.02, 0.02, 0.02, 0.02], [1.0, 1.0, 1.0, 1.0], True, False),
])
def test_tier_benefits_differ_by_margin_points_or_by_the_weights_mdf_pays_on(points, weights, mdf, differ):
    model = channel({"technical": [1.0]}, vendor__tiers__margin_points=points, vendor__tiers__mdf_weight=weights,
                    vendor__mdf__enabled=mdf)
    assert tiers(model).benefits_differ() is differ


# --------------------------------------------------------------------------- partners certify to reach a tier

# Each partner: (revenue, technical heads T, capability C, tier held) and the certifications it funds,
# n = x T / effect with x = (c_k / T - 0.75 C) / (1 - C), for the tier k of the largest year of benefits over
# the tier it qualifies for (1/8, 1/4, 1/2 of revenue), less n x 1,000, within one tier of the tier held or
# qualified for and with x at most 1
FUNDING = [
    (1_000_000.0, 2.0, 0.5, 1, 3.0),  # silver -> gold: x = (0.75 - 0.375) / 0.5 = 0.75
    (3_000_000.0, 4.0, 0.25, 2, 6.0),  # in gold, silver's staff: platinum (x = 0.75) beats gold (2 certifications)
    (3_000_000.0, 4.0, 0.5, 0, 6.0),  # qualified for gold, still held at registered: platinum is within reach
    (3_000_000.0, 4.0, 0.0625, 0, 2 / 3),  # silver only: x = (0.125 - 0.046875) / 0.9375 = 1/12
    (3_000_000.0, 3.0, 0.0, 2, 6.0),  # platinum at x = 1.0 exactly
    (3_000_000.0, 2.0, 0.25, 2, 3.0),  # platinum would need x = 1.75: gold
    (500_000.0, 2.0, 0.5, 1, 3.0),  # gold's revenue, exactly
    (200_000.0, 1.0, 0.25, 0, 5 / 6),  # one head: x = (0.5 - 0.1875) / 0.75 = 5/12
    (1_000_000.0, 1.0, 1.0, 1, 0.0),  # fully certified already: its one head cannot carry gold's 1.5
    (1_000_000.0, 0.0, 0.5, 0, 0.0),  # no technical staff, no certification
    (3_000_000.0, 8.0, 0.5, 3, 0.0),  # platinum: nothing above
    (99_999.0, 2.0, 0.125, 0, 0.0),  # short of silver's revenue
]
FUNDED = np.array([row[-1] for row in FUNDING])
TRAINING = [0.75, 0.75, 0.75, 1 / 12, 1.0, 0.75, 0.75, 5 / 12, 0.0, 0.0, 0.0, 0.0]  # x: effect n / T


def funding_channel(rows=FUNDING, **overrides) -> ChannelModel:
    revenue, technical, capability, held, _ = zip(*rows, strict=True)
    return channel({"revenue_4q": revenue, "technical": technical, "capability": capability, "tier": held},
                   **{**CERTIFYING, **overrides})


@pytest.mark.parametrize("first", [None, 5.0])
def test_partners_fund_the_certifications_that_bring_the_best_tier_within_a_quarters_reach(first):
    # the first tier's own certified requirement (`first`) holds nobody: the same certifications whatever it is
    from sim.params import Tiers

    certified = {} if first is None else {"vendor__tiers__certified": [first, *Tiers().certified[1:]]}
    model = funding_channel(**certified)
    funded = tiers(model).funded_certifications(model)
    assert funded.dtype == np.float64
    np.testing.assert_allclose(funded, FUNDED, rtol=1e-12)
    # x = effect n / T is the quarter's training each brings
    np.testing.assert_allclose(0.5 * FUNDED / np.maximum(np.array([r[1] for r in FUNDING]), 1.0), TRAINING,
                               rtol=1e-12)


def test_partners_fund_a_tier_only_when_its_gain_over_their_own_passes_the_certifications_cost():
    # a certification costs 50,000: with no capability, n = c_k / effect (1 for silver, 3 for gold)
    rows = [
        (400_000.0, 4.0, 0.0, 0, 0.0),  # silver's 1/8 x 400k = 50k pays exactly its one certification: not taken
        (400_008.0, 4.0, 0.0, 0, 1.0),  # a dollar's gain left: taken
        (800_000.0, 4.0, 0.0, 1, 1.0),  # silver (100k - 50k) and gold (200k - 150k) tie: the lower tier
        (1_000_000.0, 2.0, 0.25, 1, 0.0),  # in silver, gold's gain over silver 125k < 150k (gold alone is 250k)
    ]
    model = funding_channel(rows, vendor__tiers__certification_cost=50_000.0)
    np.testing.assert_allclose(tiers(model).funded_certifications(model), [r[-1] for r in rows], rtol=1e-12)


def test_a_tier_requires_the_certified_staff_of_the_tiers_below_it():
    # gold requires 0.5 certified, silver 1: gold needs silver's 1, so two heads certify to x = 0.5, n = 2
    model = funding_channel([(600_000.0, 2.0, 0.0, 1, 2.0)], vendor__tiers__certified=[0.0, 1.0, 0.5, 3.0])
    np.testing.assert_allclose(tiers(model).funded_certifications(model), [2.0], rtol=1e-12)


def test_with_two_tiers_partners_certify_for_the_second():
    two = {"vendor__tiers__names": ["registered", "certified"], "vendor__tiers__revenue": [0.0, 100_000.0],
           "vendor__tiers__certified": [0.0, 0.5], "vendor__tiers__margin_points": [0.0, 0.125],
           "vendor__tiers__mdf_weight": [0.0, 1.0], "vendor__tiers__cam_coverage": [False, True]}
    rows = [(200_000.0, 1.0, 0.0, 0, 1.0), (200_000.0, 1.0, 0.5, 1, 0.0)]  # x = 0.5, n = 1; already certified
    model = funding_channel(rows, **two)
    np.testing.assert_allclose(tiers(model).funded_certifications(model), [1.0, 0.0], rtol=1e-12)


def test_partners_who_value_mdf_certify_for_the_weight_of_a_higher_tier():
    # no margin points: gold's MDF weight of 1.5 over silver's 1 is worth 4 x 0.25 x 0.5 x (0.6 x 1,000 claimed
    # a quarter per unit of weight) = 300 a year, more than 3 certifications at 1 each; with no MDF stock, nothing
    rows = [(1_000_000.0, 2.0, 0.5, 1, 3.0), (1_000_000.0, 2.0, 0.5, 1, 0.0)]
    model = funding_channel(rows, vendor__tiers__margin_points=[0.0] * 4, vendor__mdf__enabled=True,
                            vendor__tiers__certification_cost=1.0)
    model.partners.mdf_stock[FOCAL] = [1_000.0, 0.0]
    np.testing.assert_allclose(tiers(model).funded_certifications(model), [3.0, 0.0], rtol=1e-12)


@pytest.mark.parametrize("overrides", [{"vendor__certification__effect": 0.0},
                                       {"vendor__tiers__margin_points": [0.0] * 4}])
def test_no_certification_is_funded_when_it_trains_nobody_or_no_tier_is_worth_more(overrides):
    model = funding_channel(**overrides)
    funded = tiers(model).funded_certifications(model)
    assert funded.dtype == np.float64
    np.testing.assert_array_equal(funded, np.zeros(len(FUNDING)))


# --------------------------------------------------------------------------- the plan and the ledger

def test_the_plan_adds_tier_points_to_the_margin_and_partners_certifications_to_their_training():
    model = funding_channel()
    offers = offers_for(model, margin=0.0625, training=0.125)
    policy = tiers(model)
    policy.plan(model, offers)
    held = np.array([r[3] for r in FUNDING])
    np.testing.assert_allclose(offers.margin[FOCAL], 0.0625 + np.array(POINTS)[held], rtol=1e-7)
    np.testing.assert_allclose(offers.training[FOCAL], 0.125 + np.array(TRAINING), rtol=1e-6)
    assert offers.margin.dtype == np.float32 and offers.training.dtype == np.float32
    np.testing.assert_array_equal(offers.margin[1:], 0.0625)  # the rivals' terms are their own
    np.testing.assert_array_equal(offers.training[1:], 0.125)
    np.testing.assert_allclose(policy.certifications, FUNDED, rtol=1e-12)


def test_without_partners_certifying_the_plan_adds_only_tier_points():
    model = funding_channel(vendor__tiers__partners_certify=False)
    offers = offers_for(model, margin=0.0625, training=0.125)
    policy = tiers(model)
    policy.certifications = FUNDED.copy()  # last quarter's
    policy.plan(model, offers)
    held = np.array([r[3] for r in FUNDING])
    np.testing.assert_allclose(offers.margin[FOCAL], 0.0625 + np.array(POINTS)[held], rtol=1e-7)
    np.testing.assert_array_equal(offers.training, 0.125)
    assert policy.certifications is None


def test_a_disabled_programme_adds_nothing_to_the_plan_and_books_no_certifications():
    model = funding_channel(vendor__tiers__enabled=False)
    offers = offers_for(model, margin=0.0625, training=0.125)
    policy = tiers(model)
    policy.certifications = FUNDED.copy()  # last quarter's
    policy.plan(model, offers)
    np.testing.assert_array_equal(offers.margin, 0.0625)
    np.testing.assert_array_equal(offers.training, 0.125)
    assert policy.certifications is None
    ledger = Ledger(model.partners, model.n_vendors)
    policy.settle(model, offers, None, ledger)
    assert "partner_certifications" not in ledger.usage[FOCAL]
    assert "partner_certification_spend" not in ledger.usage[FOCAL]


def test_settle_records_the_certifications_partners_funded_and_what_they_paid():
    model = funding_channel()
    offers = offers_for(model)
    policy = tiers(model)
    policy.plan(model, offers)
    ledger = Ledger(model.partners, model.n_vendors)
    policy.settle(model, offers, None, ledger)
    # 3 + 6 + 6 + 2/3 + 6 + 3 + 3 + 5/6 certifications at 1,000 each
    np.testing.assert_allclose(ledger.usage[FOCAL]["partner_certifications"], [28.5], rtol=1e-12)
    np.testing.assert_allclose(ledger.usage[FOCAL]["partner_certification_spend"], [28_500.0], rtol=1e-12)


# --------------------------------------------------------------------------- benefits other policies read

def test_mdf_weight_and_cam_eligibility_follow_the_tier_and_every_partner_has_both_without_tiers():
    columns = {"technical": [1.0] * 6, "tier": [0, 1, 2, 3, 3, 0]}
    model = channel(columns)
    weights, eligible = tiers(model).mdf_weights(model), tiers(model).cam_eligible(model)
    assert weights.dtype == np.float64 and eligible.dtype == bool
    np.testing.assert_array_equal(weights, [0.0, 1.0, 1.5, 2.0, 2.0, 0.0])
    np.testing.assert_array_equal(eligible, [False, True, True, True, True, False])
    off = channel(columns, vendor__tiers__enabled=False)
    off.partners.tier[FOCAL] = columns["tier"]
    weights, eligible = tiers(off).mdf_weights(off), tiers(off).cam_eligible(off)
    assert weights.dtype == np.float64 and eligible.dtype == bool
    np.testing.assert_array_equal(weights, np.ones(6))
    np.testing.assert_array_equal(eligible, np.ones(6, bool))


# --------------------------------------------------------------------------- certification funding

KEPT = 1.0 - 1e-6  # allocation.share_out holds a part in a million back against rounding


def test_the_certification_budget_buys_training_for_technical_staff_by_the_allocation_rule():
    # shares of trailing revenue among partners with technical staff: 100, 300, 0, (600: no staff), 1000 of 1400;
    # 14,000 buys 7 certifications of 2,000: 0.5, 1.5, 0, 0, 5; training 0.5 n / T, at most 1
    model = channel({"revenue_4q": [100.0, 300.0, 0.0, 600.0, 1_000.0], "technical": [1.0, 2.0, 3.0, 0.0, 1.0]},
                    vendor__certification__budget=14_000.0, vendor__certification__cost=2_000.0,
                    vendor__certification__effect=0.5, vendor__certification__allocation="trailing_revenue")
    policy = certification(model)
    offers = offers_for(model, training=0.125)
    policy.plan(model, offers)
    assert policy.funds.dtype == np.float32
    np.testing.assert_allclose(policy.funds, KEPT * np.array([1_000.0, 3_000.0, 0.0, 0.0, 10_000.0]), rtol=1e-7)
    np.testing.assert_allclose(offers.training[FOCAL], 0.125 + np.array([0.25 * KEPT, 0.375 * KEPT, 0.0, 0.0, 1.0]),
                               rtol=1e-7)
    np.testing.assert_array_equal(offers.training[1:], 0.125)
    ledger = Ledger(model.partners, model.n_vendors)
    policy.settle(model, offers, None, ledger)
    assert ledger.budget[FOCAL]["certification"] == 14_000.0
    np.testing.assert_allclose(ledger.spend[FOCAL]["certification"], [14_000.0 * KEPT], rtol=1e-7)
    assert "certification" in booked_as("operating")  # training bought for partners is a cost, not a discount


def test_certification_funding_goes_to_the_vertical_it_targets():
    model = channel({"technical": [1.0, 1.0, 1.0, 0.0]}, vendor__certification__budget=8_000.0,
                    vendor__certification__cost=1_000.0, vendor__certification__effect=0.125,
                    vendor__certification__allocation="vertical", vendor__certification__target="healthcare")
    t = model.partners
    t.verticals[:] = 1.0
    t.verticals[model.params.market.verticals.index("healthcare")] = [1.0, 3.0, 0.0, 4.0]
    offers = offers_for(model)
    certification(model).plan(model, offers)
    # a quarter and three quarters of 8 certifications: 0.125 x 2 and 0.125 x 6 on one head each
    np.testing.assert_allclose(offers.training[FOCAL], KEPT * np.array([0.25, 0.75, 0.0, 0.0]), rtol=1e-7)


@pytest.mark.parametrize(("overrides", "booked"), [({"vendor__certification__budget": 0.0}, 0.0),
                                                   ({"vendor__certification__enabled": False}, 0.0)])
def test_no_budget_or_funding_switched_off_buys_no_training_and_spends_nothing(overrides, booked):
    model = channel({"revenue_4q": [100.0, 300.0], "technical": [1.0, 2.0]},
                    **{"vendor__certification__allocation": "trailing_revenue", **overrides})
    policy = certification(model)
    policy.funds = np.ones(2, np.float32)  # last quarter's
    offers = offers_for(model, training=0.125)
    policy.plan(model, offers)
    assert policy.funds is None
    np.testing.assert_array_equal(offers.training, 0.125)
    ledger = Ledger(model.partners, model.n_vendors)
    policy.settle(model, offers, None, ledger)
    assert ledger.budget[FOCAL]["certification"] == booked
    np.testing.assert_array_equal(ledger.spend[FOCAL].get("certification", [0.0]), [0.0])
