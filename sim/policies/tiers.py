"""Partner tiers: requirements, benefits and a slow review.

A partner qualifies for the highest tier whose trailing-year revenue with the vendor and
certified technical staff (capability x technical headcount) requirements it meets, and
all the tiers below. At each review (every `review_every` quarters) partners are promoted
to the tier they qualify for; a partner is demoted only after `demote_after` consecutive
quarters below its tier (domain: about a year). Benefits: margin points, MDF weight (0 means
not eligible) and eligibility for dedicated CAM coverage.
"""

from __future__ import annotations

import numpy as np

from sim import channels
from sim.policies import Policy


class TierProgram(Policy):
    def prepare(self, model):
        model.partners.add_column("tier", (model.n_vendors,), np.int8)
        model.partners.add_column("tier_below", (model.n_vendors,), np.int16)

    @property
    def enabled(self) -> bool:
        return self.params.enabled

    def qualified(self, model) -> np.ndarray:
        p = self.params
        t = model.partners
        revenue = t.revenue_4q[self.vendor]
        certified = t.capability[self.vendor] * t.technical
        level = np.zeros(t.n, np.int8)
        still = np.ones(t.n, bool)
        for k in range(1, len(p.names)):
            still &= (revenue >= p.revenue[k]) & (certified >= p.certified[k])
            level += still
        return level

    def begin(self, model):
        model.partners.tier[self.vendor] = self.qualified(model) if self.enabled else 0
        self._running = self.enabled

    def parameters_changed(self, model):
        # a programme switched on part-way places partners where they qualify, as at the start; switched off,
        # every partner is at the first tier, as in a run without one
        if self.enabled != self._running:
            self.begin(model)
            model.partners.tier_below[self.vendor] = 0

    def joined(self, model, rows):
        model.partners.buffer("tier")[self.vendor, rows] = 0
        model.partners.buffer("tier_below")[self.vendor, rows] = 0

    def offer(self, model, offers):
        if self.enabled:
            points = np.asarray(self.params.margin_points, dtype=np.float32)
            offers.margin[self.vendor] += points[model.partners.tier[self.vendor]]

    def review(self, model, ledger):
        if not self.enabled:
            return
        p = self.params
        t = model.partners
        tier, below = t.tier[self.vendor], t.tier_below[self.vendor]
        qualified = self.qualified(model)
        np.copyto(below, np.where(qualified < tier, below + 1, 0))
        if model.quarter % p.review_every:
            return
        promote = qualified > tier
        demote = (qualified < tier) & (below >= p.demote_after)
        if self.vendor == 0:
            ledger.lifecycle["promotions"] += channels.counts(t, promote)
            ledger.lifecycle["demotions"] += channels.counts(t, demote)
        np.copyto(tier, qualified, where=promote | demote)
        below[demote] = 0

    # ---- benefits other policies read

    def mdf_weights(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n)
        return np.asarray(self.params.mdf_weight, dtype=np.float64)[model.partners.tier[self.vendor]]

    def cam_eligible(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n, bool)
        return np.asarray(self.params.cam_coverage, dtype=bool)[model.partners.tier[self.vendor]]
