"""Deal registration: extra margin points on deals a partner registered first.

A partner registers a share propensity x goodwill of its deals. When the vendor's direct
sales override registered deals (share `override_rate` of them), the partner loses those
deals and goodwill (channel conflict); lower goodwill then means fewer registrations.
"""

from __future__ import annotations

from sim.policies import Policy


class DealRegistration(Policy):
    node = "deal_registration"
    instrument = "deal_registration"
    booked_as = "contra_revenue"

    def plan(self, model, offers):
        p = self.params
        if not p.enabled:
            return
        registered = p.propensity * model.partners.goodwill[self.vendor]
        taken = p.override_rate * registered
        offers.kept[self.vendor] = 1.0 - taken
        offers.conflict[self.vendor] = p.conflict_effect * taken
        # points on the registered deals the partner keeps, per dollar of the revenue it keeps
        offers.registration[self.vendor] = p.points * (registered - taken) / (1.0 - taken)

    def settle(self, model, offers, sales, ledger):
        p = self.params
        if not p.enabled:
            return
        j = self.vendor
        ledger.conflict[j] = offers.conflict[j]
        points = offers.registration[j].astype("float64")
        ledger.charge(j, self.instrument, model.partners.dot(points, sales.revenue[j]))
