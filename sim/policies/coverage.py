"""CAM coverage: how the vendor's channel account managers spend their hours.

Hours are finite: count x hours a quarter, and never more are given than exist.
"""

from __future__ import annotations

import numpy as np

from sim.policies import Policy, allocation


class CamCoverage(Policy):
    instrument = "cam"

    def offer(self, model, offers):
        p = self.params
        available = p.count * p.hours_per_quarter
        offers.cam_hours[self.vendor] = allocation.share_out(available,
                                                             allocation.weights(p.allocation, model, self.vendor))

    def settle(self, model, offers, sales, ledger):
        p = self.params
        used = float(offers.cam_hours[self.vendor].sum(dtype=np.float64))
        ledger.usage[self.vendor]["cam_hours_used"] = used
        ledger.usage[self.vendor]["cam_hours_available"] = p.count * p.hours_per_quarter
        ledger.charge(self.vendor, self.instrument, used * p.cost_per_hour)
