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
        offers.margin[j] += np.take(points, t.tier[j])
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
        if p.partners_hire and model.quarter % 4 == 0:
            self.hire(model, ledger, qualified)
        if model.quarter % p.review_every:
            return
        promote = qualified > tier
        demote = (qualified < tier) & (below >= p.demote_after)
        ledger.lifecycle[self.vendor]["promotions"] += t.counts(promote)
        ledger.lifecycle[self.vendor]["demotions"] += t.counts(demote)
        np.copyto(tier, qualified, where=promote | demote)
        below[demote] = 0

    # ---- partners' answer to the requirements

    def hire(self, model, ledger, qualified: np.ndarray) -> None:
        """Once a year, a partner whose revenue meets the next tier's requirement but who has fewer technical heads
        than the tier needs certified (no training can close that) hires one, where the tier's year of benefits
        over its own exceeds the hire's year of cost. The head sells part time (`partners.presales_selling`)."""
        p = self.params
        t = model.partners
        j = self.vendor
        next_tier = qualified.astype(np.int64) + 1
        reachable = next_tier < len(p.names)
        if not reachable.any():
            return
        k = np.minimum(next_tier, len(p.names) - 1)
        # what tier k needs certified, the tiers below it included (the first tier's own requirement, which nobody
        # is held to, excluded: as in `qualified`)
        required = np.maximum.accumulate(np.asarray([0.0, *p.certified[1:]], dtype=np.float64))[k]
        candidate = reachable & (t.revenue_4q[j] >= np.asarray(p.revenue, dtype=np.float64)[k])
        candidate &= t.technical < required
        rows = np.flatnonzero(candidate)
        if not rows.size:
            return
        value = self.yearly_value(model, rows)
        gain = np.take_along_axis(value, k[rows][None], axis=0)[0] - np.take_along_axis(
            value, qualified[rows].astype(np.int64)[None], axis=0)[0]
        hires = rows[gain > p.technical_hire_cost]
        if not hires.size:
            return
        t.technical[hires] += 1.0
        t.headcount[hires] += 1.0
        t.capacity[hires] += model.params.partners.presales_selling
        ledger.count(j, "technical_hires", hires)

    def yearly_value(self, model, rows: np.ndarray | None = None) -> np.ndarray:
        """What each tier is worth to each partner over a year (tiers x partners, dollars): its margin
        points on the partner's trailing-year revenue, and the MDF its weight would bring, valued as
        partners value MDF (the MDF a unit of weight brought the partner last, from its MDF stock).
        Only the partners at `rows`, when given."""
        p = self.params
        t = model.partners
        j = self.vendor
        everyone = slice(None) if rows is None else rows
        mdf = self.program.mdf
        weights = np.asarray(p.mdf_weight, dtype=np.float64)
        value = np.asarray(p.margin_points, dtype=np.float64)[:, None] * t.revenue_4q[j, everyone]
        if mdf.enabled and weights.max() > weights.min():
            held = np.take(weights, t.tier[j, everyone])
            # a quarter's MDF, at steady state
            claimed = (1.0 - mdf.carryover) * t.mdf_stock[j, everyone].astype(np.float64)
            per_weight = np.divide(claimed, held, out=np.zeros(held.size), where=held > 0)
            value += 4.0 * mdf.perceived_value * weights[:, None] * per_weight
        return value

    def benefits_differ(self) -> bool:
        """Whether one tier is worth more than another to any partner (margin points, or MDF weights MDF pays on)."""
        p = self.params
        points, weights = np.asarray(p.margin_points), np.asarray(p.mdf_weight)
        return bool(points.max() > points.min() or (self.program.mdf.enabled and weights.max() > weights.min()))

    def funded_certifications(self, model) -> np.ndarray:
        """Certifications each partner funds itself this quarter to reach or keep a tier worth more than they cost.

        Worked out only for the partners who could: technical staff, below the top tier, and the revenue of the
        tier above the one they qualify for (elsewhere nothing is funded), and for none where every tier is worth
        the same (a tier worth no more than the one a partner has is never paid for)."""
        p = self.params
        t = model.partners
        j = self.vendor
        funded = np.zeros(t.n)
        # a certification that trains nobody is never worth buying
        if self.program.certification.effect <= 0 or len(p.names) < 2 or not self.benefits_differ():
            return funded
        qualified = self.qualified(model)
        revenue = t.revenue_4q[j]
        top = len(p.names) - 1
        # the next tier's revenue requirement (as the float32 revenue is compared below): who meets it falls short
        # on certified staff only, and the tiers above require more revenue still
        next_revenue = np.take(np.asarray(p.revenue, dtype=revenue.dtype), np.minimum(qualified, top - 1) + 1)
        rows = np.flatnonzero((qualified < top) & (revenue >= next_revenue) & (t.technical > 0))
        if not rows.size:
            return funded
        revenue = revenue[rows]
        qualified = qualified[rows]
        technical = t.technical[rows].astype(np.float64)
        capability = t.capability[j, rows].astype(np.float64)
        kept = 1.0 - model.params.partners.capability.decay
        effect = self.program.certification.effect
        within_reach = np.maximum(t.tier[j, rows], qualified) + 1  # the tier above the one held or qualified for
        value = self.yearly_value(model, rows)
        gain_over = np.take_along_axis(value, qualified[None].astype(np.int64), axis=0)[0]
        best = np.zeros(rows.size)
        chosen = np.zeros(rows.size)
        required = 0.0
        for k in range(1, len(p.names)):
            required = max(required, p.certified[k])  # tier k requires the tiers below it too
            candidate = (qualified < k) & (within_reach >= k) & (revenue >= p.revenue[k])
            if not candidate.any():
                continue
            target = required / np.maximum(technical, 1.0)
            training = np.maximum(target - kept * capability, 0.0) / np.maximum(1.0 - capability, 1e-9)
            certifications = training * technical / effect
            net = value[k] - gain_over - certifications * p.certification_cost
            take = candidate & (training <= 1.0) & (net > best)
            best[take] = net[take]
            chosen[take] = certifications[take]
        funded[rows] = chosen
        return funded

    # ---- benefits other policies read

    def mdf_weights(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n)
        return np.take(np.asarray(self.params.mdf_weight, dtype=np.float64), model.partners.tier[self.vendor])

    def cam_eligible(self, model) -> np.ndarray:
        if not self.enabled:
            return np.ones(model.partners.n, bool)
        return np.take(np.asarray(self.params.cam_coverage, dtype=bool), model.partners.tier[self.vendor])
