"""How rivals answer the focal vendor: a rule in the rival's program."""

from __future__ import annotations

from sim.policies import Policy


class MatchMargin(Policy):
    """Match a rise in the focal vendor's list margin, `lag` quarters after it shows.

    The rival adds share x max(0, focal margin seen lag quarters ago - focal margin at the start).
    """

    node = "reaction"
    vendors = "rivals"

    def plan(self, model, offers):
        p = self.params
        if p.kind != "match_margin":
            return
        history = model.focal.margin_history  # list margin by quarter, from the warm start (quarter 0)
        seen = history[max(0, min(model.quarter - p.lag, len(history) - 1))]
        offers.margin[self.vendor] += p.share * max(0.0, seen - history[0])
