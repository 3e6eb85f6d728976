"""SPIFs: cash per won deal on a product line and/or vertical, for a window of quarters.

While a window is open partners count the SPIF as an incentive per revenue dollar
(amount x eligible share x deals per dollar). Deal timing responds: in a window quarter
partners close part of next quarter's eligible pipeline early (pull-forward, then a dip
after the window); in the quarter before a window they hold part of the eligible deals due
then to book them inside it ("overuse teaches sellers to hold deals for the next SPIF").
SPIFs are paid on eligible deals closed in the window (deal value / mean deal size).
"""

from __future__ import annotations

import numpy as np

from sim.policies import REAL, Policy


class Spif(Policy):
    """`params` is the whole program (the SPIF targets one of its product lines)."""

    instrument = "spif"

    def eligible_share(self, model) -> np.ndarray:
        """Share of each partner's deals the SPIF pays on."""
        program = self.params
        spif = program.spif
        share = np.full(model.partners.n, 1.0, REAL)
        if spif.line:
            share *= REAL(program.margin.lines[spif.line].share)
        if spif.vertical:
            share *= model.partners.verticals[model.params.market.verticals.index(spif.vertical)]
        return share

    def offer(self, model, offers):
        spif = self.params.spif
        quarter = model.quarter
        if not spif.enabled:
            return
        now, soon = spif.in_window(quarter), spif.in_window(quarter + 1)
        if not (now or soon):
            return
        j = self.vendor
        eligible = self.eligible_share(model)
        ring = model.partners.pipeline  # closing quarter x vendor x segment x partner
        depth = ring.shape[0]
        if now:
            offers.incentive[j] += spif.amount * eligible * model.partners.deals_per_dollar
            if depth > 1 and spif.pull_forward > 0:
                moved = ring[(quarter + 1) % depth, j] * (spif.pull_forward * eligible)
                ring[(quarter + 1) % depth, j] -= moved
                ring[quarter % depth, j] += moved
        elif depth > 1 and spif.hold_back > 0:
            held = ring[quarter % depth, j] * (spif.hold_back * eligible)
            ring[quarter % depth, j] -= held
            ring[(quarter + 1) % depth, j] += held

    def settle(self, model, offers, sales, ledger):
        spif = self.params.spif
        j = self.vendor
        ledger.budget[j][self.instrument] = spif.budget
        if not (spif.enabled and spif.in_window(model.quarter)):
            return
        mean_size = model.market.mean_deal_size().astype(REAL)
        deals = (sales.revenue_by_segment[j] / mean_size[:, None]).sum(axis=0)
        paid = (spif.amount * self.eligible_share(model) * deals).astype(np.float64)
        total = paid.sum()
        if total > spif.budget:
            paid *= spif.budget / total
        ledger.pay(j, self.instrument, paid.astype(REAL))
