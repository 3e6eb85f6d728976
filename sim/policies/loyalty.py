"""Loyalty bonus: extra front-end margin points for partners that have been with the vendor a while.

A partner whose tenure with the vendor is at least `after_quarters` buys at `points` more margin,
from the quarter it qualifies on (partners who leave lose it; recruits earn it in time). Like
tier points, the bonus is a price concession: it is booked against revenue, in the discount, and
it moves effort through the margin term of the attraction.
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy
from sim.table import REAL


class LoyaltyBonus(Policy):
    node = "loyalty"
    vendors = "focal"  # tenure is counted in the focal vendor's channel

    def plan(self, model, offers):
        p = self.params
        if not p.enabled or p.points == 0:
            return
        loyal = model.partners.tenure >= p.after_quarters
        offers.margin[self.vendor] += np.where(loyal, REAL(p.points), REAL(0.0))
