"""Partners answer tier requirements by certifying when the tier is worth it; who is recruited sets what
recruiting costs and how long a recruit takes to ramp (MODEL.md 3.3.8, 3.3.9). Paired seeds, small models."""

import numpy as np
import pandas as pd

from sim import ChannelModel

SEEDS = range(3)
PARTNERS = 300
QUARTERS = 8
GOLD = 2
RAISED = [0.0, 0.5, 2.5, 4.0]  # gold and platinum need more certified technical staff than by default
STAFFED = 4  # technical heads enough to certify gold's raised requirement (capability 0.625 of at most ~0.89)
NO_BENEFITS = {"vendor__tiers__margin_points": [0.0] * 4, "vendor__tiers__mdf_weight": [1.0] * 4,
               "vendor__tiers__cam_coverage": [True] * 4}


def tier_run(seed: int, quarters: int = QUARTERS, **overrides) -> pd.DataFrame:
    """Each quarter: certifications partners funded themselves, partners qualified for and in gold or above, the
    focal capability of the partners whose revenue meets gold's requirement and whose technical staff could meet the
    raised one, and the tier margin points paid."""
    model = ChannelModel(rng=seed, partners__count=PARTNERS, quarters=quarters, **overrides)
    tiers = model.focal.tiers
    points = np.asarray(model.params.vendor.tiers.margin_points)
    rows = []
    for _ in range(quarters):
        model.step()
        t = model.partners
        usage = model.last_ledger.usage[0]
        near_gold = (t.revenue_4q[0] >= model.params.vendor.tiers.revenue[GOLD]) & (t.technical >= STAFFED)
        rows.append({"certifications": float(np.sum(usage.get("partner_certifications", 0.0))),
                     "spend": float(np.sum(usage.get("partner_certification_spend", 0.0))),
                     "qualified_gold": int((tiers.qualified(model) >= GOLD).sum()),
                     "in_gold": int((t.tier[0] >= GOLD).sum()),
                     "capability_near_gold": float(t.capability[0, near_gold].mean()),
                     "tier_points_paid": float(points[t.tier[0]] @ t.revenue[0])})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- partners certify to reach or keep a tier


def paired(first: list[pd.DataFrame], second: list[pd.DataFrame], column: str, rows: slice = slice(None)) -> float:
    """How much more `column` averaged over `rows` is in the second arm than in the first, averaged over the paired
    seeds: a seed's revenue noise can tie or flip a count of partners, the mean over seeds keeps the direction."""
    gains = [b[column].iloc[rows].mean() - a[column].iloc[rows].mean() for a, b in zip(first, second, strict=True)]
    return float(np.mean(gains))


def test_raising_golds_certification_requirement_raises_the_capability_of_partners_who_can_meet_it():
    default = [tier_run(seed) for seed in SEEDS]
    raised = [tier_run(seed, vendor__tiers__certified=RAISED) for seed in SEEDS]
    # partners who certify to keep gold: without it the raise leaves their capability where it was
    assert paired(default, raised, "capability_near_gold", slice(-4, None)) > 0.0
    assert paired(default, raised, "in_gold") < 0.0  # fewer reach gold: the margin points cost less
    assert paired(default, raised, "tier_points_paid") < 0.0


def test_after_a_raise_fewer_qualify_for_gold_then_certifying_partners_reach_and_keep_it():
    raise_at = 3
    raise_gold = {"schedule": [{"quarter": raise_at, "set": {"vendor.tiers.certified": RAISED}}]}
    after, final_year = slice(raise_at - 1, None), slice(-4, None)
    unraised = [tier_run(seed, quarters=10) for seed in SEEDS]
    certify = [tier_run(seed, quarters=10, **raise_gold) for seed in SEEDS]
    passive = [tier_run(seed, quarters=10, vendor__tiers__partners_certify=False, **raise_gold) for seed in SEEDS]
    assert paired(unraised, certify, "qualified_gold", after) < 0.0
    # partners who certify meet the raised requirement where the passive ones fall short
    assert paired(passive, certify, "qualified_gold", after) > 0.0
    # partners demoted a year after falling short unless they certify: more keep gold, at a margin cost
    assert paired(passive, certify, "in_gold", final_year) > 0.0
    assert paired(passive, certify, "tier_points_paid", final_year) > 0.0
    assert all(run.certifications.sum() == 0.0 for run in passive)


def test_partners_fund_no_certifications_for_tiers_that_bring_nothing():
    for seed in SEEDS:
        worth_it = tier_run(seed, vendor__tiers__certified=RAISED)
        worthless = tier_run(seed, vendor__tiers__certified=RAISED, **NO_BENEFITS)
        assert worth_it.certifications.sum() > 0.0, seed
        assert (worthless.certifications == 0.0).all() and (worthless.spend == 0.0).all(), seed


def test_partners_buy_fewer_certifications_when_they_cost_more_and_pay_for_what_they_buy():
    for seed in SEEDS:
        cheap = tier_run(seed, vendor__tiers__certified=RAISED)
        dear = tier_run(seed, vendor__tiers__certified=RAISED, vendor__tiers__certification_cost=20_000.0)
        assert dear.certifications.sum() < cheap.certifications.sum(), seed
        assert np.allclose(cheap.spend, 2_500.0 * cheap.certifications)
        assert np.allclose(dear.spend, 20_000.0 * dear.certifications)


# ---------------------------------------------------------------- who is recruited: cost and ramp

SPECIALIST = {"vertical_spread": 4.0, "size_min": 5.0, "size_max": 50.0, "upmarket_per_log_size": 3.0}
GENERALIST = {"vertical_spread": 0.2, "size_min": 2.0, "size_max": 8.0}


def recruit_run(seed: int, profile: dict, quarters: int = 12, **overrides) -> tuple[ChannelModel, pd.DataFrame]:
    model = ChannelModel(rng=seed, partners__count=PARTNERS, quarters=quarters, vendor__recruitment__per_quarter=30,
                         vendor__recruitment__profile=profile, **overrides)
    return model, model.run()


def quick_first_deals(model: ChannelModel, seasoned: int = 4) -> float:
    """Share of the engaged recruits of at least `seasoned` quarters' tenure that won a deal within two quarters."""
    t = model.partners
    cohort = (t.joined > 0) & (t.joined <= model.quarter - seasoned) & t.engaged
    waited = t.first_deal[cohort] - t.joined[cohort]
    return float(((t.first_deal[cohort] > 0) & (waited <= 2)).mean())


def test_a_vertical_specialist_costs_more_to_recruit_and_reaches_its_first_deal_later_than_a_small_generalist():
    for seed in SEEDS:
        specialist, s = recruit_run(seed, SPECIALIST)
        generalist, g = recruit_run(seed, GENERALIST)
        assert s.spend_recruitment.sum() / s.recruits.sum() > 1.5 * g.spend_recruitment.sum() / g.recruits.sum()
        assert quick_first_deals(specialist) < quick_first_deals(generalist), seed
        ramp = lambda m: np.median(m.partners.ramp_quarters[m.partners.joined > 0])  # noqa: E731
        assert ramp(specialist) > ramp(generalist)


def test_each_recruit_costs_the_reference_cost_scaled_by_its_size_and_specialisation():
    model, frame = recruit_run(0, {}, quarters=1)
    recruit = next(p for p in model.focal.policies if p.node == "recruitment")
    t = model.partners
    rows = np.flatnonzero(t.joined > 0)
    p = model.params.vendor.recruitment
    v = t.verticals[:, rows].astype(np.float64)
    s = ((v * v).sum(axis=0) - 1 / v.shape[0]) / (1 - 1 / v.shape[0])
    expected = p.cost_per_recruit * np.sqrt(t.headcount[rows] / p.reference_headcount) * (1.0 + s)
    assert np.allclose(recruit.cost(t.headcount[rows], t.verticals[:, rows]), expected)
    assert np.isclose(frame.spend_recruitment.iloc[0], expected.sum())


def test_a_recruiting_budget_buys_recruits_in_the_order_drawn_until_it_is_spent():
    budget = 100_000.0
    for seed in SEEDS:
        model = ChannelModel(rng=seed, partners__count=PARTNERS, quarters=4, vendor__recruitment__budget=budget)
        frame = model.run()
        assert (frame.spend_recruitment <= budget).all()
        assert (frame.recruits > 0).all()
        # the same quarters with a dearer reference recruit buy fewer, on the same draws
        dearer = ChannelModel(rng=seed, partners__count=PARTNERS, quarters=4, vendor__recruitment__budget=budget,
                              vendor__recruitment__cost_per_recruit=30_000.0).run()
        assert (dearer.recruits <= frame.recruits).all() and dearer.recruits.sum() < frame.recruits.sum()


def test_a_budget_buys_each_lane_what_it_buys_the_replicate_run_alone():
    kwargs = {"partners__count": 200, "quarters": 4, "vendor__recruitment__budget": 100_000.0,
              "vendor__recruitment__profile": {"vertical_spread": 3.0}}
    together = ChannelModel(seeds=[3, 4], **kwargs)
    together.run()
    for lane, seed in enumerate([3, 4]):
        alone = ChannelModel(rng=seed, **kwargs).run()
        pd.testing.assert_frame_equal(together.lane_frames()[lane], alone.reset_index(drop=True), check_dtype=False)


def test_partners_short_of_technical_heads_hire_them_slowly_when_the_tier_pays():
    # gold needs more certified heads than most firms have: only hiring reaches it
    kwargs = {"partners__count": 300, "quarters": 12, "vendor__tiers__certified": [0.0, 0.5, 4.0, 6.0],
              "vendor__tiers__margin_points": [0.0, 0.01, 0.06, 0.08],
              "vendor__tiers__technical_hire_cost": 20_000.0}  # a rich gold and a cheap hire: worth one for some
    gains, none = [], []
    for seed in (0, 1, 2):
        hiring = ChannelModel(rng=seed, **kwargs)
        frame = hiring.run()
        technical_before = ChannelModel(rng=seed, **kwargs).partners.technical.sum()
        gains.append(hiring.partners.technical.sum() - technical_before)
        hires = frame.technical_hires
        assert (hires[frame.quarter % 4 != 0] == 0).all()  # once a year at most
        assert hires.sum() > 0
        worthless = ChannelModel(rng=seed, **{**kwargs, "vendor__tiers__margin_points": [0.0, 0.0, 0.0, 0.0],
                                              "vendor__tiers__mdf_weight": [1.0, 1.0, 1.0, 1.0]})
        none.append(worthless.run().technical_hires.sum())
    assert np.mean(gains) > 0
    assert none == [0, 0, 0]  # a tier that brings nothing is not worth a hire
