"""Market development funds: accrued as a share of revenue, or a discretionary budget.

Allocation follows a rule (see sim.policies.allocation); optionally a share of the budget is
reserved for the top group (top 20 % by trailing revenue, or the top tier). Partners claim
claim_max x (1 - exp(-marketers / claim_half)) of what they are allocated: firms without
marketers leave their funds unspent (about half of MDF is never claimed). Claimed MDF buys
demand generation on top of the partner's own marketing (its marketers x reference_dollars a
quarter). Both build a stock that carries over (lambda ~0.3-0.45 a quarter), and the partner's
opportunity flow answers the stock with elasticity e_i from the next quarter on (Sethuraman,
Tellis & Briesch 2011: ~0.24 long-term, ~0.12 short-term: the first quarter moves the stock by
only 1 - lambda of a lasting change):

    own stock = own marketing / (1 - lambda);   stock' = lambda x stock + MDF claimed
    used = stock / (1 + stock / (absorption x own stock))     (marketers run only so many campaigns)
    opportunities x ((g x own stock + used) / own stock)^e_i,   e_i = elasticity x segment_weight . mix_i

Demand generation pays more on many small deals (segment_weight: SMB over enterprise) and
only where there are marketers to spend it. MDF is part of a partner's demand generation, so
its own elasticity is e x its share of the stock, and removing it removes only that part.
`g` follows `market.demand_generation_scale` (an exogenous scale on all demand-generation
spending, for measuring the elasticity), with the same carry-over.

The scenario's `probe` (focal vendor only, from its `start` quarter) allocates y = probe.mdf more to each partner of
its group G (none in the digital tier; whatever its tier's MDF weight), on top of the plan, for measuring the marginal
MDF dollar (sim.marginal); the partner claims it as it claims the rest, and only what is claimed is spent:

    allocated_i <- allocated_i + y [i in G],      budget += y |G|
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, allocation
from sim.policies.coverage import probe_group
from sim.quarter import FOCAL

BOOST_MAX = 1e12


class MarketDevelopmentFunds(Policy):
    node = "mdf"
    instrument = "mdf"
    booked_as = "contra_revenue"

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.claim_share: np.ndarray | None = None  # the share of its allocation each partner claims this quarter
        self.usable: np.ndarray | None = None  # what each partner claims of this quarter's allocation
        self.own_stock = 1.0  # partners' own demand-generation stock relative to its level at a scale of 1
        self.probe_allocated: np.ndarray | float = 0.0  # per lane: what the scenario's probe allocated this quarter

    def demand_scale(self, model) -> float:
        """The exogenous scale on demand-generation spending (the focal vendor's only)."""
        return model.params.market.demand_generation_scale if self.vendor == FOCAL else 1.0

    def claim_rate(self, model) -> np.ndarray:
        p = self.params
        return p.claim_max * -np.expm1(model.partners.marketing * np.float32(-1.0 / p.claim_half_marketers))

    def eligible(self, model) -> np.ndarray:
        """Each partner's tier weight (0: not eligible; the weights shape the allocation), none in the digital tier."""
        return model.vendors[self.vendor].tiers.mdf_weights(model) * ~model.partners.digital[self.vendor]

    def allocate(self, model) -> np.ndarray:
        p = self.params
        t = model.partners
        j = self.vendor
        eligible = self.eligible(model)
        if p.mode == "accrual":
            return (p.accrual_rate * t.revenue[j] * (eligible > 0)).astype(np.float32)
        if p.top_share is None:
            return allocation.share_out(p.budget, allocation.weights(p.allocation, model, j, p.target, eligible))
        if p.top_group == "top_tier":
            top_group = t.tier[j] == t.spread(t.maxima(t.tier[j]))
        else:
            top_group = np.zeros(t.n, bool)
            fifth = np.ceil(0.2 * t.sizes()).astype(int)
            top_group[t.top(t.revenue_4q[j].astype(np.float64), fifth)] = True
        in_top = allocation.weights(p.allocation, model, j, p.target, eligible * top_group)
        in_rest = allocation.weights(p.allocation, model, j, p.target, eligible * ~top_group)
        return (allocation.share_out(p.budget * p.top_share, in_top)
                + allocation.share_out(p.budget * (1.0 - p.top_share), in_rest))

    def plan(self, model, offers):
        p = self.params
        t = model.partners
        j = self.vendor
        stock = t.mdf_stock[j]
        scale = self.demand_scale(model)
        self.own_stock = p.carryover * self.own_stock + (1.0 - p.carryover) * scale
        if stock.any() or self.own_stock != 1.0:
            own = np.maximum(t.marketing, 0.5) * np.float32(p.reference_dollars / (1.0 - p.carryover))
            elasticity = np.float32(p.elasticity) * (p.segment_weight.array().astype(np.float32) @ t.segment_mix)
            # at extreme accepted values (MDF bought with the revenue it brings, steep segment weights) the power
            # passes float32's range: the boost is taken at most BOOST_MAX, where deal counts stop anyway
            used = stock / (1.0 + stock / (np.float32(p.absorption) * own))  # what its marketers can put to work
            relative = (np.float32(self.own_stock) * own + used).astype(np.float64) / own
            with np.errstate(over="ignore"):
                offers.generated[j] *= np.minimum(relative ** elasticity, BOOST_MAX).astype(np.float32)
        self.probe_allocated = 0.0
        group = probe_group(model, j)
        probe = model.params.probe.mdf if group is not None else 0.0
        if not p.enabled and not probe:
            return
        allocated = self.allocate(model) if p.enabled else np.zeros(t.n, np.float32)
        if probe:
            allocated = allocated + np.float32(probe) * group
            self.probe_allocated = probe * t.counts(group)
        offers.mdf[j] = allocated
        self.claim_share = self.claim_rate(model)
        usable = allocated * self.claim_share
        self.usable = usable
        expected = np.maximum(t.revenue_trend[j], 1_000.0)
        offers.incentive[j] += np.minimum(p.perceived_value * usable / expected, 0.2)

    def warm_up(self, model):
        """The MDF stock at its steady state under the opening offers."""
        stock = model.partners.mdf_stock
        stock[self.vendor] = 0.0 if not self.params.enabled else self.usable / (1.0 - self.params.carryover)

    def settle(self, model, offers, sales, ledger):
        p = self.params
        j = self.vendor
        allocated = offers.mdf[j]
        # the plan's own budget (accrued: what it allocated, the probe's dollars apart), then the probe's on top
        budget = ledger.total(allocated) - self.probe_allocated if p.mode == "accrual" else p.budget
        ledger.budget[j][self.instrument] = (budget if p.enabled else 0.0) + self.probe_allocated
        given = p.enabled or np.any(self.probe_allocated)
        claimed = allocated * self.claim_share if given else np.zeros_like(allocated)
        ledger.mdf_spent[j] += claimed
        ledger.usage[j]["mdf_allocated"] = ledger.total(allocated)
        ledger.usage[j]["mdf_claimed"] = ledger.total(claimed)
        ledger.charge(j, self.instrument, ledger.usage[j]["mdf_claimed"])
        stock = model.partners.mdf_stock
        stock[j] = p.carryover * stock[j] + claimed * np.float32(self.demand_scale(model))
