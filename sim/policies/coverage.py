"""CAM coverage: how the vendor's channel account managers spend their hours.

Hours are finite: count x hours a quarter, and never more are given than exist.
- dedicated: each CAM manages `partners_per_cam` partners (7-10 on average), the top ones by
  the allocation rule among those whose tier carries CAM coverage; each gets an equal share
  of its CAM's hours;
- pooled: all hours spread over every partner in proportion to the rule's score;
- digital: no CAM hours (the portal only).
CAM headcount is costed whether its hours are used or not.
"""

from __future__ import annotations

from sim.policies import Policy, allocation


class CamCoverage(Policy):
    node = "cams"
    instrument = "cam"
    booked_as = "operating"  # the CAMs' time, paid whether used or not

    def plan(self, model, offers):
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
        available = p.count * p.hours_per_quarter
        ledger.usage[j]["cam_hours_used"] = ledger.total(offers.cam_hours[j])
        ledger.usage[j]["cam_hours_available"] = available
        ledger.charge(j, self.instrument, available * p.cost_per_hour)
