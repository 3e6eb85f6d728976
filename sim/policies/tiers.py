"""Partner tiers: requirements, benefits, a slow review, and partners who certify to reach a tier.

A partner qualifies for the highest tier whose trailing-year revenue with the vendor and
certified technical staff (capability x technical headcount) requirements it meets, and
all the tiers below. At each review (every `review_every` quarters) partners are promoted
to the tier they qualify for; a partner is demoted only after `demote_after` consecutive
quarters below its tier (domain: about a year). Benefits: margin points, MDF weight (0 means
not eligible) and eligibility for dedicated CAM coverage.

Partners answer the requirements (`partners_certify`). A partner whose trailing-year revenue R
meets a tier's revenue requirement, but whose certified staff fall short of it, funds
certifications itself when the tier is worth more than they cost. It weighs tier k (at most one
above the tier it holds or qualifies for, q) by a year of its benefits over tier q's,

    V_k - V_q,   V_k = points_k R + 4 x perceived MDF value x (MDF claimed per unit of weight) x weight_k

against the certifications that bring its capability to the requirement next quarter, counting
on no learning of its own (it certifies the heads it needs before the review):

    x = (c_k / T - (1 - d_C) C) / (1 - C),   n = x T / effect,   cost = n x certification_cost

(c_k the certified staff tier k and the tiers below require, T technical heads, C capability,
d_C its decay; x the training, in the certification-funding policy's units, at most 1: a tier
out of reach within a quarter's training is not attempted). It takes the tier of the largest
V_k - V_q - cost when positive, and its n certifications are added to the quarter's training.
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
        self.certifications: np.ndarray | None = None  # certifications partners fund themselves this quarter

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
        self.certifications = None
        if not self.enabled:
            return
        j = self.vendor
        t = model.partners
        points = np.asarray(self.params.margin_points, dtype=np.float32)
        offers.margin[j] += points[t.tier[j]]
        if self.params.partners_certify:
            self.certifications = self.funded_certifications(model)
            training = self.program.certification.effect * self.certifications / np.maximum(t.technical, 1.0)
            offers.training[j] += training.astype(offers.training.dtype)

    def settle(self, model, offers, sales, ledger):
        if self.certifications is not None:
            usage = ledger.usage[self.vendor]
            usage["partner_certifications"] = ledger.total(self.certifications)
            usage["partner_certification_spend"] = ledger.total(self.certifications * self.params.certification_cost)

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

    # ---- partners' answer to the requirements

    def yearly_value(self, model) -> np.ndarray:
        """What each tier is worth to each partner over a year (tiers x partners, dollars): its margin
        points on the partner's trailing-year revenue, and the MDF its weight would bring, valued as
        partners value MDF (the MDF a unit of weight brought the partner last, from its MDF stock)."""
        p = self.params
        t = model.partners
        j = self.vendor
        mdf = self.program.mdf
        weights = np.asarray(p.mdf_weight, dtype=np.float64)
        value = np.asarray(p.margin_points, dtype=np.float64)[:, None] * t.revenue_4q[j]
        held = weights[t.tier[j]]
        if mdf.enabled and weights.max() > weights.min():
            claimed = (1.0 - mdf.carryover) * t.mdf_stock[j].astype(np.float64)  # a quarter's, at steady state
            per_weight = np.divide(claimed, held, out=np.zeros(t.n), where=held > 0)
            value += 4.0 * mdf.perceived_value * weights[:, None] * per_weight
        return value

    def funded_certifications(self, model) -> np.ndarray:
        """Certifications each partner funds itself this quarter to reach or keep a tier worth more than they cost."""
        p = self.params
        t = model.partners
        j = self.vendor
        if self.program.certification.effect <= 0:  # a certification that trains nobody is never worth buying
            return np.zeros(t.n)
        revenue = t.revenue_4q[j]
        technical = t.technical.astype(np.float64)
        capability = t.capability[j].astype(np.float64)
        kept = 1.0 - model.params.partners.capability.decay
        effect = self.program.certification.effect
        qualified = self.qualified(model)
        within_reach = np.maximum(t.tier[j], qualified) + 1  # the tier above the one held or qualified for
        value = self.yearly_value(model)
        gain_over = np.take_along_axis(value, qualified[None].astype(np.int64), axis=0)[0]
        best = np.zeros(t.n)
        funded = np.zeros(t.n)
        required = 0.0
        for k in range(1, len(p.names)):
            required = max(required, p.certified[k])  # tier k requires the tiers below it too
            candidate = (qualified < k) & (within_reach >= k) & (revenue >= p.revenue[k]) & (technical > 0)
            if not candidate.any():
                continue
            target = required / np.maximum(technical, 1.0)
            training = np.maximum(target - kept * capability, 0.0) / np.maximum(1.0 - capability, 1e-9)
            certifications = training * technical / effect
            net = value[k] - gain_over - certifications * p.certification_cost
            take = candidate & (training <= 1.0) & (net > best)
            best[take] = net[take]
            funded[take] = certifications[take]
        return funded

    # ---- benefits other policies read

    def mdf_weights(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n)
        return np.asarray(self.params.mdf_weight, dtype=np.float64)[model.partners.tier[self.vendor]]

    def cam_eligible(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n, bool)
        return np.asarray(self.params.cam_coverage, dtype=bool)[model.partners.tier[self.vendor]]
