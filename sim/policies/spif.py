"""SPIFs: cash per won deal on a product line and/or vertical, for a window of quarters.

While a window is open partners count the SPIF as an incentive per revenue dollar
(amount x eligible share x deals per dollar). Deal timing responds: at the end of a window
quarter partners close `pull_forward` of their eligible deals due next quarter at once
(pull-forward, then a dip after the window); in the quarter before a window they hold
`hold_back` of the eligible deals closing then over into it ("overuse teaches sellers to hold
deals for the next SPIF"). SPIFs are paid on eligible deals closed in the window (deal value
/ mean deal size).
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, timing
from sim.table import REAL


class Spif(Policy):
    node = "spif"
    instrument = "spif"
    booked_as = "contra_revenue"

    def eligible_share(self, model) -> np.ndarray:
        """Share of each partner's deals the SPIF pays on (its product line's share of the programme's deals)."""
        spif = self.params
        share = np.full(model.partners.n, 1.0, REAL)
        if spif.line:
            share *= REAL(self.program.margin.lines[spif.line].share)
        if spif.vertical:
            share *= model.partners.verticals[model.params.market.verticals.index(spif.vertical)]
        return share

    def plan(self, model, offers):
        spif = self.params
        quarter = model.quarter
        if not spif.enabled:
            return
        if spif.in_window(quarter):
            eligible = self.eligible_share(model)
            offers.incentive[self.vendor] += spif.amount * eligible * model.partners.deals_per_dollar

    def time_deals(self, model, sales):
        spif = self.params
        quarter = model.quarter
        if not spif.enabled:
            return
        if spif.in_window(quarter):
            if spif.pull_forward > 0:
                timing.close_early(model, self.vendor, sales, spif.pull_forward * self.eligible_share(model))
        elif spif.in_window(quarter + 1) and spif.hold_back > 0:
            timing.hold_over(model, self.vendor, sales, spif.hold_back * self.eligible_share(model))

    def settle(self, model, offers, sales, ledger):
        spif = self.params
        j = self.vendor
        ledger.budget[j][self.instrument] = spif.budget
        if not (spif.enabled and spif.in_window(model.quarter)):
            return
        mean_size = model.market.mean_deal_size().astype(REAL)
        deals = (sales.revenue_by_segment[j] / mean_size[:, None]).sum(axis=0)
        paid = model.partners.scale_into((spif.amount * self.eligible_share(model) * deals).astype(np.float64),
                                         spif.budget)
        ledger.pay(j, self.instrument, paid.astype(REAL))
