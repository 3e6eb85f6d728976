"""The partner lifecycle, as the focal vendor runs it: terminations and recruitment.

Termination is slow and indirect: a partner is let go only after `quarters` consecutive
quarters without a won deal (or below a revenue floor), never in its first `grace` quarters
(or moved to a digital tier: no CAM time, no MDF). Recruitment adds partners drawn from a
recruit profile; a recruit engages with probability `activation` and ramps up: its opportunity
flow with the vendor is scaled by 1 - exp(-(tenure + 1) / ramp_quarters).
Voluntary exits are the partners' own decision (sim.partners.leaving).
"""

from __future__ import annotations

import numpy as np

from sim.policies import Column, Policy


class Termination(Policy):
    node = "termination"
    vendors = "focal"  # the partner lifecycle is the focal vendor's channel
    columns = {"failing": Column(np.int16, per_vendor=False)}  # consecutive quarters failing the rule

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.in_force: tuple[bool, str] | None = None  # (enabled, rule) as last applied

    def begin(self, model):
        """The channel has run under this rule: count each partner's quarters without a deal in its
        year of history, and (for the digital action) start those past the rule in the digital tier."""
        p = self.params
        self.in_force = (p.enabled, p.rule)
        if not p.enabled or p.rule != "no_deal":
            return
        t = model.partners
        history = t.won_history  # quarters 1..4 before the start, the latest last
        failing = np.zeros(t.n, np.int16)
        still = np.ones(t.n, bool)
        for back in range(history.shape[0] - 1, -1, -1):
            still &= history[back] == 0
            failing += still
        t.failing = failing
        if p.action == "digital":
            t.digital[self.vendor] = (failing >= p.quarters) & (t.tenure > p.grace)

    def parameters_changed(self, model):
        # a rule put in force part-way (switched on, or another rule) counts failing quarters from then on
        p = self.params
        if (p.enabled, p.rule) != self.in_force:
            model.partners.failing = 0
        self.in_force = (p.enabled, p.rule)

    def review(self, model, ledger):
        p = self.params
        if not p.enabled:
            return
        t = model.partners
        j = self.vendor
        failing = t.won_deals[j] == 0 if p.rule == "no_deal" else t.revenue[j] < p.revenue_floor
        t.failing = np.where(failing, t.failing + 1, 0)
        due = np.flatnonzero((t.failing >= p.quarters) & (t.tenure > p.grace) & ~t.digital[j])
        if p.action == "terminate":
            ledger.count(j, "terminations", due)
            model.remove_partners(due)
        else:
            ledger.count(j, "moved_to_digital", due)
            t.digital[j, due] = True


class Recruitment(Policy):
    node = "recruitment"
    instrument = "recruitment"
    booked_as = "operating"
    vendors = "focal"

    def plan(self, model, offers):
        t = model.partners
        tenure = t.tenure
        ramping = (tenure < 12) & (t.joined > 0)  # recruits onboarding; founding partners are established
        if ramping.any():
            ramp = -np.expm1(-(tenure[ramping] + 1.0) / self.params.ramp_quarters)
            offers.demand[self.vendor, ramping] *= ramp.astype(np.float32)

    def recruit(self, model, ledger):
        p = self.params
        if not p.enabled:
            return
        count = p.per_quarter if p.budget is None else int(p.budget // p.cost_per_recruit)
        if count <= 0:
            return
        model.recruit_partners(count, p)
        ledger.lifecycle[self.vendor]["recruits"] += count
        ledger.charge(self.vendor, self.instrument, count * p.cost_per_recruit)
