"""Front-end margin: the discount off list at which partners buy, by product line and segment.

A partner's margin with a vendor is the base, plus the deal-weighted points of the product
lines, plus the points of each segment weighted by the partner's segment mix (tier points are
added by the tier program).
"""

from __future__ import annotations

from sim.policies import Policy
from sim.table import REAL


class FrontEndMargin(Policy):
    node = "margin"

    def plan(self, model, offers):
        p = self.params
        margin = p.base + p.line_points()
        points = p.segment_points.array()
        if points.any():
            offers.margin[self.vendor] = margin + points.astype(REAL) @ model.partners.segment_mix
        else:
            offers.margin[self.vendor] = margin
