"""Front-end margin: the discount off list at which partners buy the vendor's products."""

from __future__ import annotations

from sim.policies import Policy


class FrontEndMargin(Policy):
    def offer(self, model, offers):
        offers.margin[self.vendor] = self.params.base
