"""The partner lifecycle, as the focal vendor runs it: terminations and recruitment.

Termination is slow and indirect: a partner is let go only after `quarters` consecutive
quarters without a won deal (or below a revenue floor), never in its first `grace` quarters
(or moved to a digital tier: no CAM time, no MDF). Recruitment adds partners drawn from a
recruit profile; a recruit engages with probability `activation` and ramps up. Who is recruited
sets what it costs and how long it ramps (domain question 10: many small high-velocity partners,
or a few low-velocity vertical specialists?):

    cost_i = cost_per_recruit x (h_i / h_ref)^cost_size_elasticity x (1 + specialist_cost s_i)
    ramp_i = ramp_quarters x (h_i / h_ref)^ramp_size_elasticity x (1 + cycle_i) x (1 + specialist_ramp s_i)
    opportunity flow with the vendor x 1 - exp(-(tenure + 1) / ramp_i)

with h_i the recruit's headcount, h_ref = reference_headcount, s_i = (sum_v w_iv^2 - 1/V) / (1 - 1/V)
the concentration (Herfindahl) of its vertical priorities beyond an even spread over the V verticals
(0 even, 1 one vertical) and cycle_i its expected quarters from effort to close. A budget buys
recruits in the order drawn until the next would overspend it.
Voluntary exits are the partners' own decision (sim.partners.leaving).
"""

from __future__ import annotations

import numpy as np

from sim.params import RECRUITS_MAX
from sim.policies import Column, Policy
from sim.table import REAL


def specialisation(verticals: np.ndarray) -> np.ndarray:
    """How concentrated each firm's vertical priorities are (verticals x partners, each column summing to 1):
    the Herfindahl index beyond an even spread, scaled to [0, 1]; 0 for everyone when there is one vertical."""
    count = verticals.shape[0]
    if count < 2:
        return np.zeros(verticals.shape[1])
    herfindahl = np.square(verticals, dtype=np.float64).sum(axis=0)
    return np.clip((herfindahl - 1.0 / count) / (1.0 - 1.0 / count), 0.0, 1.0)


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
    columns = {"ramp_quarters": Column(REAL, per_vendor=False)}  # each recruit's onboarding time constant

    def cost(self, headcount: np.ndarray, verticals: np.ndarray) -> np.ndarray:
        """What recruiting each firm costs, by its size and specialisation (dollars)."""
        p = self.params
        size = (headcount.astype(np.float64) / p.reference_headcount) ** p.cost_size_elasticity
        return p.cost_per_recruit * size * (1.0 + p.specialist_cost * specialisation(verticals))

    def ramp(self, headcount: np.ndarray, cycle: np.ndarray, verticals: np.ndarray) -> np.ndarray:
        """Each recruit's onboarding time constant (quarters), by its size, sales cycle and specialisation."""
        p = self.params
        size = (headcount.astype(np.float64) / p.reference_headcount) ** p.ramp_size_elasticity
        return p.ramp_quarters * size * (1.0 + cycle) * (1.0 + p.specialist_ramp * specialisation(verticals))

    def join(self, model, rows):
        t = model.partners
        t.buffer("ramp_quarters")[rows] = self.ramp(t.buffer("headcount")[rows], t.buffer("cycle")[rows],
                                                    t.buffer("verticals")[:, rows])

    def plan(self, model, offers):
        t = model.partners
        tenure = t.tenure
        # recruits onboarding (founding partners are established), until the ramp is within e^-8 of done
        ramping = (t.joined > 0) & (tenure + 1.0 < 8.0 * t.ramp_quarters)
        if ramping.any():
            ramp = -np.expm1(-(tenure[ramping] + 1.0) / t.ramp_quarters[ramping])
            offers.demand[self.vendor, ramping] *= ramp.astype(np.float32)

    def recruit(self, model, ledger):
        p = self.params
        if not p.enabled:
            return
        keep = None
        if p.budget is None:
            count = p.per_quarter
        else:  # enough candidates for the budget at the cheapest recruit; it buys them in the order drawn
            count = int(min(p.budget // (p.cost_per_recruit * self.cheapest(model)), RECRUITS_MAX))
            keep = self.affordable
        if count <= 0:
            return
        rows = model.recruit_partners(count, p, keep=keep)
        t = model.partners
        ledger.count(self.vendor, "recruits", rows)
        cost = self.cost(t.headcount[rows], t.verticals[:, rows])
        ledger.charge(self.vendor, self.instrument, np.bincount(t.lane_of(rows), weights=cost, minlength=t.lanes))

    def cheapest(self, model) -> float:
        """The cheapest recruit's cost relative to the reference recruit's: the smallest firm the profile draws,
        spread evenly."""
        p = self.params
        low = p.profile.size_min if p.profile.size_min is not None else model.params.partners.size_min
        return min(1.0, (max(1.0, float(np.round(low))) / p.reference_headcount) ** p.cost_size_elasticity)

    def affordable(self, candidates: dict[str, np.ndarray], lanes: int) -> np.ndarray:
        """Which candidates (lane by lane, in the order drawn) the budget buys: each lane's first ones whose
        costs add up to no more than it."""
        cost = self.cost(candidates["headcount"], candidates["verticals"]).reshape(lanes, -1)
        return (np.cumsum(cost, axis=1) <= self.params.budget).ravel()
