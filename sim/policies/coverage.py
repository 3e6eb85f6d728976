"""CAM coverage: how the vendor's channel account managers spend their hours.

Hours are finite: count x hours a quarter, and never more are given than exist.
- dedicated: each CAM manages `partners_per_cam` partners (7-10 on average), the top ones by
  the allocation rule among those whose tier carries CAM coverage; each gets an equal share
  of its CAM's hours;
- pooled: all hours spread over every partner in proportion to the rule's score;
- digital: no CAM hours (the portal only).
CAM headcount is costed whether its hours are used or not.

The scenario's `probe` (focal vendor only, from its `start` quarter) adds hours bought on top, for measuring the
marginal hour (sim.marginal): with G the probe's group less the digital tier and x = probe.cam_hours,

    h_i <- h_i + x [i in G],      hours available += x |G|,      CAM spend += x |G| cost_per_hour
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, allocation
from sim.quarter import FOCAL


def probe_group(model, vendor: int) -> np.ndarray | None:
    """The partners the scenario's probe gives to this quarter (its group, none in the vendor's digital tier), or
    None when it gives nothing: another vendor's, before its start, or a probe of nothing."""
    probe = model.params.probe
    if vendor != FOCAL or not probe.active(model.quarter):
        return None
    t = model.partners
    return probe.members(t.segment_mix, t.cycle) & ~t.digital[vendor]


class CamCoverage(Policy):
    node = "cams"
    instrument = "cam"
    booked_as = "operating"  # the CAMs' time, paid whether used or not

    def __init__(self, program, vendor, model):
        super().__init__(program, vendor, model)
        self.probe_hours: np.ndarray | float = 0.0  # per lane: the probe's hours given this quarter

    def plan(self, model, offers):
        self.allocate(model, offers)
        self.probe_hours = 0.0
        group = probe_group(model, self.vendor)
        hours = model.params.probe.cam_hours
        if group is not None and hours > 0:
            offers.cam_hours[self.vendor] += np.float32(hours) * group
            self.probe_hours = hours * model.partners.counts(group)

    def allocate(self, model, offers):
        """The programme's own hours."""
        p = self.params
        t = model.partners
        j = self.vendor
        available = p.count * p.hours_per_quarter
        if p.coverage == "digital" or available == 0 or t.n == 0:
            return
        score = allocation.scores(p.allocation, model, j, p.target)
        score = score * ~t.digital[j]
        if p.coverage == "dedicated":
            score = score * model.vendors[j].tiers.cam_eligible(model)
            covered = t.top(score, p.count * p.partners_per_cam)
            offers.cam_hours[j, covered] = p.hours_per_quarter / p.partners_per_cam
        else:
            offers.cam_hours[j] = allocation.share_out(available, t.normalise(score))

    def settle(self, model, offers, sales, ledger):
        p = self.params
        j = self.vendor
        available = p.count * p.hours_per_quarter + self.probe_hours
        ledger.usage[j]["cam_hours_used"] = ledger.total(offers.cam_hours[j])
        ledger.usage[j]["cam_hours_available"] = available
        ledger.charge(j, self.instrument, available * p.cost_per_hour)
