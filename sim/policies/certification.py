"""Certification funding: the vendor pays for partners' technical staff to certify.

The budget buys certifications (budget / cost each), allocated by a rule among partners with
technical staff. A certification per technical head adds `effect` to the capability training
of that quarter (C' = (1 - decay) C + (1 - C) x training): certifications lapse (capability
decays) unless renewed.
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, allocation


class CertificationFunding(Policy):
    node = "certification"
    instrument = "certification"
    booked_as = "operating"  # training bought for partners' staff, not a price concession

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.funds: np.ndarray | None = None  # this quarter's certification dollars per partner

    def plan(self, model, offers):
        p = self.params
        self.funds = None
        if not p.enabled or p.budget == 0:
            return
        t = model.partners
        shares = allocation.weights(p.allocation, model, self.vendor, p.target, eligible=t.technical > 0)
        self.funds = allocation.share_out(p.budget, shares)
        certifications = self.funds / np.float32(p.cost)
        offers.training[self.vendor] += np.minimum(p.effect * certifications / np.maximum(t.technical, 1.0), 1.0)

    def settle(self, model, offers, sales, ledger):
        p = self.params
        ledger.budget[self.vendor][self.instrument] = p.budget if p.enabled else 0.0
        if self.funds is not None:
            ledger.charge(self.vendor, self.instrument, ledger.total(self.funds))
