"""Market development funds: a quarterly budget shared among partners by an allocation rule.

MDF spent buys demand generation: a stock that carries over (lambda ~0.3-0.45 a quarter)
and lifts the partner's opportunity flow with elasticity ~0.12 (Sethuraman, Tellis &
Briesch 2011), from the next quarter on:

    stock' = lambda x stock + MDF spent;   opportunities x (1 + stock / own marketing)^elasticity
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, allocation


class MarketDevelopmentFunds(Policy):
    instrument = "mdf"

    def offer(self, model, offers):
        p = self.params
        t = model.partners
        own_marketing = np.maximum(t.marketing, 0.5) * p.reference_dollars
        offers.demand[self.vendor] *= (1.0 + t.mdf_stock[self.vendor] / own_marketing) ** p.elasticity
        if not p.enabled or p.budget == 0:
            return
        allocated = allocation.share_out(p.budget, allocation.weights(p.allocation, model, self.vendor))
        offers.mdf[self.vendor] = allocated
        expected = np.maximum(t.revenue_trend[self.vendor], 1_000.0)
        offers.incentive[self.vendor] += np.minimum(p.perceived_value * allocated / expected, 0.2)

    def settle(self, model, offers, sales, ledger):
        p = self.params
        ledger.budget[self.vendor]["mdf"] = p.budget if p.enabled else 0.0
        claimed = offers.mdf[self.vendor]
        ledger.mdf_spent[self.vendor] += claimed
        ledger.charge(self.vendor, self.instrument, claimed.sum(dtype=np.float64))
        stock = model.partners.mdf_stock
        stock[self.vendor] = p.carryover * stock[self.vendor] + claimed
