"""SPIFs: cash per won deal on a product line and/or vertical, for a window of quarters.

While a window is open partners count the SPIF as an incentive per revenue dollar
(amount x eligible share x deals per dollar). Deal timing responds in proportion to what the
SPIF is worth on a deal of the segment next to what the partner earns on it,

    moved_is = most x eligible_i x (1 - 2^(-v_is / half_value)),   v_is = amount / (margin_i x mean deal size_s),

so a $1 SPIF moves nothing measurable and one worth a sizeable share of the partner's margin
on the deal moves up to `most`. At the end of a window (its last quarter) partners close
`pull_forward` x that share of their eligible deals due next quarter at once (pull-forward,
then a dip after the window); in the quarter before a window they hold `hold_back` x that
share of the eligible deals closing then over into it ("overuse teaches sellers to hold deals
for the next SPIF"), unless holding them out of the period forfeits more of a retroactive
rebate than the SPIF they would earn on them (`forfeit` of the vendor's rebate policies:
the rebate's pull to its threshold and the SPIF's hold-back are decided together). SPIFs are
paid on eligible deals closed in the window (deal value / mean deal size).
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, timing
from sim.table import REAL


class Spif(Policy):
    node = "spif"
    instrument = "spif"
    booked_as = "contra_revenue"

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.margin: np.ndarray | None = None  # the front-end margin offered this quarter (set in plan)

    def eligible_share(self, model) -> np.ndarray:
        """Share of each partner's deals the SPIF pays on (its product line's share of the programme's deals)."""
        spif = self.params
        share = np.full(model.partners.n, 1.0, REAL)
        if spif.line:
            share *= REAL(self.program.margin.lines[spif.line].share)
        if spif.vertical:
            share *= model.partners.verticals[model.params.market.verticals.index(spif.vertical)]
        return share

    def moved_share(self, model, most: float) -> np.ndarray:
        """Share of each segment's eligible deals a partner moves, segments x partners: `most` x the eligible
        share x (1 - 2^(-value / half_value)), value = amount / (margin x mean deal size of the segment)."""
        spif = self.params
        deal = model.market.mean_deal_size()
        margin = np.maximum(self.margin.astype(np.float64), 1e-3)  # a partner buying at no margin still earns little
        value = spif.amount / (deal[:, None] * margin[None, :])
        with np.errstate(over="ignore"):  # a tiny half value: every SPIF moves the most it can
            share = most * -np.expm1(-np.log(2.0) * (value / spif.half_value))
        return (share * self.eligible_share(model)[None, :]).astype(REAL)

    def plan(self, model, offers):
        spif = self.params
        quarter = model.quarter
        if not spif.enabled:
            return
        self.margin = offers.margin[self.vendor]
        if spif.in_window(quarter):
            eligible = self.eligible_share(model)
            offers.incentive[self.vendor] += spif.amount * eligible * model.partners.deals_per_dollar

    def time_deals(self, model, sales):
        spif = self.params
        quarter = model.quarter
        if not spif.enabled:
            return
        if spif.in_window(quarter):
            if spif.pull_forward > 0 and not spif.in_window(quarter + 1):  # the window's last quarter
                timing.close_early(model, self.vendor, sales, self.moved_share(model, spif.pull_forward))
        elif spif.in_window(quarter + 1) and spif.hold_back > 0:
            self.hold_for_window(model, sales)

    def hold_for_window(self, model, sales) -> None:
        """The quarter before a window: hold eligible deals over into it where the SPIF they would earn there is
        more than the rebate holding them forfeits (all of a partner's held deals, or none)."""
        j = self.vendor
        fraction = self.moved_share(model, self.params.hold_back)
        by_segment = sales.revenue_by_segment[j].astype(np.float64) * fraction
        held = by_segment.sum(axis=0)
        gained = self.params.amount * (by_segment / model.market.mean_deal_size()[:, None]).sum(axis=0)
        forfeit = np.zeros(held.shape)
        for policy in model.vendors[j].policies:
            if hasattr(policy, "forfeit"):
                forfeit += policy.forfeit(model, sales, held)
        fraction *= (gained > forfeit)[None, :]
        timing.hold_over(model, j, sales, fraction)

    def settle(self, model, offers, sales, ledger):
        spif = self.params
        j = self.vendor
        self.set_budget(ledger, spif)
        if not (spif.enabled and spif.in_window(model.quarter)):
            return
        mean_size = model.market.mean_deal_size().astype(REAL)
        deals = (sales.revenue_by_segment[j] / mean_size[:, None]).sum(axis=0)
        paid = model.partners.scale_into((spif.amount * self.eligible_share(model) * deals).astype(np.float64),
                                         spif.budget)
        ledger.pay(j, self.instrument, paid.astype(REAL))

    def set_budget(self, ledger, spif) -> None:
        ledger.budget[self.vendor][self.instrument] = spif.budget


class SpifCampaign(Spif):
    """A second SPIF beside the first, on its own line, vertical and window (`spif_campaign`): what it pays is SPIF
    spend too, and its cap adds to the first's."""

    node = "spif_campaign"

    def set_budget(self, ledger, spif) -> None:
        if spif.enabled:  # (the SPIF, which acts first, has set its own cap)
            ledger.budget[self.vendor][self.instrument] += spif.budget
