"""Back-end rebates, paid after a period on the revenue of that period.

Partners respond to the expected payout given their progress (Taylor 2002). For a ladder of
thresholds T_k with rates r_k, a retroactive rebate pays the rate of the highest rung reached
on the whole amount, E[payout] = sum_k (r_k - r_k-1) R P(R >= T_k); with R lognormal around
the projection R^ (coefficient of variation cv) what moves effort is the expected payout of
one more revenue dollar,

    d E[payout] / d R^ = sum_k (r_k - r_k-1) (Phi(z_k) + phi(z_k) / cv),   z_k = ln(R^ / T_k) / cv,

large just below a threshold, about the rate far above it and about 0 far below it: near-
threshold partners push, far ones do not. An incremental ladder pays sum_k (r_k - r_k-1) (R - T_k)+,
whose marginal value sum_k (r_k - r_k-1) Phi(z_k) has no spike. A growth rebate is the same
ladder on thresholds that are growth over the partner's trailing four-quarter baseline.
"""

from __future__ import annotations

import numpy as np

from sim.policies import Column, Policy, timing

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    """Phi(z) by Page's tanh approximation (abs. error < 2e-4), ten times cheaper than erf."""
    inner = z * z
    inner *= np.float32(0.044715)
    inner += np.float32(1.0)
    inner *= z
    inner *= np.float32(np.sqrt(2.0 / np.pi))
    np.tanh(inner, out=inner)
    inner += np.float32(1.0)
    inner *= np.float32(0.5)
    return inner


def marginal_rate(projected: np.ndarray, thresholds: list, rates: list[float], retroactive: bool,
                  cv: float) -> np.ndarray:
    """Expected rebate on one more revenue dollar, given projected period revenue.

    `thresholds` holds a number or a per-partner array for each rung.
    """
    out = np.zeros(projected.shape, np.float32)
    log_projected = np.log(np.maximum(projected, 1.0).astype(np.float32))
    previous = 0.0
    for threshold, rate in zip(thresholds, rates, strict=True):
        step = np.float32(rate - previous)
        previous = rate
        if step == 0:
            continue
        if np.isscalar(threshold) and threshold <= 0:  # from the first dollar
            out += step
            continue
        z = log_projected - np.log(np.maximum(threshold, 1.0)).astype(np.float32)
        z *= np.float32(1.0 / cv)
        reach = normal_cdf(z)
        if retroactive:
            spike = np.exp(np.float32(-0.5) * z * z)
            spike *= np.float32(_INV_SQRT_2PI / cv)
            reach += spike
        reach *= step
        out += reach
    return out


def payout(revenue: np.ndarray, thresholds: list, rates: list[float], retroactive: bool) -> np.ndarray:
    """What the ladder pays on period revenue."""
    revenue = revenue.astype(np.float64)
    if retroactive:  # the rate of the highest rung reached, on the whole amount
        rate = np.zeros(revenue.shape)
        for threshold, r in zip(thresholds, rates, strict=True):
            rate = np.where(revenue >= threshold, r, rate)
        return rate * revenue
    paid = np.zeros(revenue.shape)
    previous = 0.0
    for threshold, r in zip(thresholds, rates, strict=True):
        paid += (r - previous) * np.maximum(revenue - threshold, 0.0)
        previous = r
    return paid


def pull_to_threshold(model, vendor: int, sales, period_revenue: np.ndarray, thresholds: list,
                      share: float) -> None:
    """End-of-period push: a partner short of its next threshold closes early just enough of next
    quarter's pipeline to cross it, if up to `share` of that pipeline suffices."""
    ring = model.partners.pipeline
    depth = ring.shape[0]
    if depth < 2 or share == 0:
        return
    gap = np.full(period_revenue.shape, np.inf, np.float32)
    for threshold in sorted(thresholds, reverse=True):  # the nearest threshold above wins
        if threshold > 0:
            np.subtract(threshold, period_revenue, out=gap, where=period_revenue < threshold)
    waiting = ring[(model.quarter + 1) % depth, vendor].sum(axis=0)
    need = gap * np.float32(1.001)
    fraction = np.where(need <= share * waiting, need / np.maximum(waiting, 1e-9), 0.0).astype(np.float32)
    timing.close_early(model, vendor, sales, fraction)


def near_threshold(table, revenue: np.ndarray, thresholds: list) -> np.ndarray:
    """Partners within 10 % below a threshold, per lane."""
    near = np.zeros(revenue.shape, bool)
    for threshold in thresholds:
        near |= (revenue >= 0.9 * threshold) & (revenue < threshold)
    return table.counts(near)


class VolumeRebate(Policy):
    node = "rebate"
    instrument = "rebate"
    booked_as = "contra_revenue"
    columns = {"rebate_progress": Column()}  # revenue so far in the rebate period

    def _period(self) -> int:
        return 4 if self.params.period == "year" else 1

    def plan(self, model, offers):
        p = self.params
        if not p.enabled:
            return
        t = model.partners
        period = self._period()
        quarters_left = period - (model.quarter - 1) % period
        projected = t.rebate_progress[self.vendor] + quarters_left * t.revenue_trend[self.vendor]
        rungs = p.rungs()
        offers.incentive[self.vendor] += marginal_rate(projected, [r.threshold for r in rungs],
                                                       [r.rate for r in rungs], p.retroactive, p.forecast_cv)

    def time_deals(self, model, sales):
        """Partners just short of a threshold at the end of a period pull deals into it."""
        p = self.params
        if p.enabled and p.retroactive and model.quarter % self._period() == 0:
            j = self.vendor
            period_revenue = model.partners.rebate_progress[j] + sales.revenue[j]
            pull_to_threshold(model, j, sales, period_revenue, [r.threshold for r in p.rungs()], p.pull_forward)

    def forfeit(self, model, sales, held: np.ndarray) -> np.ndarray:
        """What holding `held` dollars (per partner) of this quarter's deals over into the next costs in this rebate.

        Within a period nothing: the deals still close in it. At a period's end the period loses them, but they
        count in the next one at the rate the partner keeps, so the cost is payout(R) - payout(R - h) - h x rate(R - h)
        (R the period's revenue): nothing while the partner stays above its threshold, rate x R of a retroactive
        rebate when holding drops it below. Read by a SPIF deciding its hold-back, after this rebate's own pull to
        the threshold (it acts first in the programme), so the two are decided together."""
        p = self.params
        if not p.enabled or model.quarter % self._period():
            return np.zeros(held.shape)
        rungs = p.rungs()
        thresholds, rates = [r.threshold for r in rungs], [r.rate for r in rungs]
        revenue = model.partners.rebate_progress[self.vendor].astype(np.float64) + sales.revenue[self.vendor]
        kept = np.maximum(revenue - held, 0.0)
        rate_kept = np.zeros(kept.shape)
        for threshold, rate in zip(thresholds, rates, strict=True):
            rate_kept = np.where(kept >= threshold, rate, rate_kept)
        lost = payout(revenue, thresholds, rates, p.retroactive) - payout(kept, thresholds, rates, p.retroactive)
        return np.maximum(lost - held * rate_kept, 0.0)

    def settle(self, model, offers, sales, ledger):
        p = self.params
        j = self.vendor
        ledger.budget[j][self.instrument] = p.budget
        if not p.enabled:
            return
        progress = model.partners.rebate_progress
        rungs = p.rungs()
        thresholds = [r.threshold for r in rungs]
        progress[j] += sales.revenue[j]
        table = model.partners
        if model.quarter % self._period():
            ledger.usage[j]["rebate_near_threshold"] = near_threshold(
                table, progress[j] * self._period() / (model.quarter % self._period()), thresholds)
            return
        ledger.usage[j]["rebate_near_threshold"] = near_threshold(table, progress[j], thresholds)
        # a capped programme pays pro rata: each lane's payouts scaled into its budget
        paid = table.scale_into(payout(progress[j], thresholds, [r.rate for r in rungs], p.retroactive), p.budget)
        ledger.pay(j, self.instrument, paid.astype(np.float32))
        progress[j] = 0.0


class GrowthRebate(Policy):
    node = "growth_rebate"
    instrument = "growth_rebate"
    booked_as = "contra_revenue"
    columns = {"growth_baseline": Column()}  # the trailing quarterly average growth is measured from

    def _ladder(self, model):
        baseline = model.partners.growth_baseline[self.vendor]
        return ([baseline * (1.0 + r.growth) for r in self.params.rungs], [r.rate for r in self.params.rungs])

    def plan(self, model, offers):
        p = self.params
        if not p.enabled:
            return
        t = model.partners
        t.growth_baseline[self.vendor] = t.revenue_4q[self.vendor] * 0.25  # trailing quarterly average
        thresholds, rates = self._ladder(model)
        offers.incentive[self.vendor] += marginal_rate(t.revenue_trend[self.vendor], thresholds, rates,
                                                       p.retroactive, p.forecast_cv)

    def settle(self, model, offers, sales, ledger):
        if not self.params.enabled:
            return
        thresholds, rates = self._ladder(model)
        paid = payout(sales.revenue[self.vendor], thresholds, rates, self.params.retroactive)
        ledger.pay(self.vendor, self.instrument, paid.astype(np.float32))
