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

from sim.policies import Column, Policy


class TierProgram(Policy):
    node = "tiers"
    columns = {"tier": Column(np.int8), "tier_below": Column(np.int16)}

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.running = False  # whether partners are placed in tiers (the programme as last seen enabled)

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
        self.running = self.enabled

    def warm_up(self, model):
        self.begin(model)  # partners in the tiers they qualify for as the channel settles

    def parameters_changed(self, model):
        # a programme switched on part-way places partners where they qualify, as at the start; switched off,
        # every partner is at the first tier, as in a run without one
        if self.enabled != self.running:
            self.begin(model)
            model.partners.tier_below[self.vendor] = 0

    def join(self, model, rows):
        model.partners.buffer("tier")[self.vendor, rows] = 0
        model.partners.buffer("tier_below")[self.vendor, rows] = 0

    def plan(self, model, offers):
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
        ledger.lifecycle[self.vendor]["promotions"] += t.counts(promote)
        ledger.lifecycle[self.vendor]["demotions"] += t.counts(demote)
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
