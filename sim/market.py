"""The market: addressable demand, opportunities, wins, deal sizes and the pipeline.

Per partner i, vendor j and segment s, opportunities arrive as a Poisson flow

    lambda_ijs = o_s x capacity_i x mix_is x gate_is x demand_is(t) x effort_ij x (0.3 + 0.7 C_ij) x boost_ij

and each is won with p_ijs = logistic(logit(w_s) + b_C (C_ij - 0.5) + b_E (effort_ij - 0.25)). Won
deals are Poisson(lambda p) (a thinned Poisson flow), their value the sum of lognormal sizes,
and they close 0..D quarters later (high-velocity segments at once, enterprise deals
through the pipeline). All random draws come from per-partner streams (see sim.streams).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from scipy.special import ndtri

from sim.params import SEGMENTS, Scenario
from sim.quarter import FOCAL, Offers, Sales
from sim.streams import COUNT_MAX, LaneStreams, poisson_from_uniform

if TYPE_CHECKING:
    from sim.table import PartnerTable

_FW_TABLE = 65


class Market:
    def __init__(self, params: Scenario):
        self.params = params
        # the closing delays shape the pipeline ring: fixed during a run (params.FIXED_DURING_RUN)
        delays = params.market.close_delay.matrix()
        self.pipeline_quarters = delays.shape[1]
        cdf = np.cumsum(delays, axis=1)
        cdf[:, -1] = 1.0
        self.delay_cdf = cdf.astype(np.float32)
        self.refresh()

    def refresh(self) -> None:
        """Derive again what is kept from the market's parameters: at the start, and when a schedule entry
        changes them (the deal-size tables; the potential kept for the quarter)."""
        sigma = self.params.market.deal_size_sigma.array()
        k = np.maximum(np.arange(_FW_TABLE), 1)
        s2 = np.log1p(np.expm1(sigma[:, None] ** 2) / k[None, :])
        self._fw_mean = self.mean_deal_size()
        self._fw_shift = -0.5 * s2
        self._fw_sd = np.sqrt(s2)
        self._potential_key: tuple | None = None

    def demand_index(self, quarter: int) -> np.ndarray:
        """Relative addressable demand, segments x verticals, growing each quarter."""
        m = self.params.market
        vertical = np.array([m.vertical_demand.get(v, 1.0) for v in m.verticals])
        return np.outer(m.segment_demand.array(), vertical) * (1.0 + m.growth) ** quarter

    def mean_deal_size(self) -> np.ndarray:
        m = self.params.market
        return m.deal_size_median.array() * np.exp(0.5 * m.deal_size_sigma.array() ** 2)

    def rates(self, table: PartnerTable, offers: Offers, quarter: int) -> tuple[np.ndarray, np.ndarray]:
        """Expected opportunities and win probabilities, vendors x segments x partners (float32)."""
        m = self.params.market
        vendors = offers.margin.shape[0]
        partner_demand = self.demand_index(quarter).astype(np.float32) @ table.verticals  # segments x partners
        flow = table.segment_mix * (table.capacity * m.opportunities_per_fte.array()[:, None].astype(np.float32))
        flow *= partner_demand
        # segments that need presales staff are open in proportion to the technical staff per seller
        for s, ratio in enumerate(m.technical_ratio.array()):
            if ratio > 0:
                needed = ratio * table.sales
                flow[s] *= np.minimum(table.technical, needed) / needed  # min(technical / needed, 1), overflow-free
        effort = table.effort[:vendors]
        capability = table.capability
        floor = np.float32(m.capability_floor)
        pursuit = effort * (floor + (1.0 - floor) * capability)
        pursuit *= offers.demand
        if m.focal_effort_scale != 1.0:
            pursuit[FOCAL] *= np.float32(m.focal_effort_scale)
        # at extreme accepted values (MDF bought with the revenue it brings, at the bounds) the product can pass
        # float32's range; opportunities are taken at most COUNT_MAX, where deal counts stop anyway
        with np.errstate(over="ignore"):
            opportunities = pursuit[:, None, :] * flow[None, :, :]
        np.minimum(opportunities, np.float32(COUNT_MAX), out=opportunities)
        base = m.win_base.array().clip(1e-6, 1 - 1e-6)
        edge = m.win_capability * (capability - 0.5) + m.win_effort * (effort - 0.25)
        # logistic(logit(base) + edge) = 1 / (1 + odds_against x e^-edge)
        win = np.exp(-edge)[:, None, :] * ((1.0 - base) / base).astype(np.float32)[None, :, None]
        win += np.float32(1.0)
        np.reciprocal(win, out=win)
        return opportunities, win

    def potential(self, table: PartnerTable, quarter: int) -> np.ndarray:
        """Capacity x addressable demand: revenue a quarter at full effort and reference win rates (float64).

        Kept for the quarter: several policies allocate by it."""
        key = (quarter, table.n, id(table))
        if self._potential_key != key:
            m = self.params.market
            partner_demand = self.demand_index(quarter) @ table.verticals.astype(np.float64)
            per_fte = m.opportunities_per_fte.array() * m.win_base.array() * self.mean_deal_size()
            self._potential = table.capacity * (per_fte[:, None] * table.segment_mix * partner_demand).sum(axis=0)
            self._potential_key = key
        return self._potential

    def expected_revenue(self, table: PartnerTable, offers: Offers, quarter: int) -> np.ndarray:
        """Expected value won and kept, vendors x segments x partners (no randomness)."""
        opportunities, win = self.rates(table, offers, quarter)
        return opportunities * win * self.mean_deal_size()[None, :, None] * offers.kept[:, None, :]

    def fill_pipeline(self, table: PartnerTable, won_value: np.ndarray, quarter: int) -> None:
        """Put the steady-state pipeline in place: what earlier quarters' wins would have left."""
        still_open = 1.0 - np.cumsum(self.params.market.close_delay.matrix(), axis=1)  # segments x delays
        for ahead in range(self.pipeline_quarters - 1):
            slot = (quarter + 1 + ahead) % self.pipeline_quarters
            table.pipeline[slot] = won_value * still_open[:, ahead].clip(min=0.0)[None, :, None]

    def realise(self, table: PartnerTable, offers: Offers, streams: LaneStreams, quarter: int) -> Sales:
        """Draw this quarter's wins, book them into the pipeline and close what is due."""
        vendors = offers.margin.shape[0]
        segments = len(SEGMENTS)
        width = vendors * segments  # vendor x segment cells per partner
        n = table.n
        opportunities, win = self.rates(table, offers, quarter)
        expected_wins = opportunities * win
        # partner-major (partners x cells) is the layout in which the per-partner draws gather cheaply
        by_partner = np.ascontiguousarray(expected_wins.reshape(width, n).T)
        won_rows = poisson_from_uniform(by_partner, streams.uniform_rows("deals.won", quarter, width))
        cells = np.flatnonzero(won_rows)  # the work below is only for cells with a win
        count = won_rows.reshape(-1)[cells]
        partner, cell = np.divmod(cells, width)
        vendor, segment = np.divmod(cell, segments)
        z = ndtri(streams.uniform_at("deals.size", quarter, partner, cell, width))
        value = self.deal_values(count, segment, z)
        # the share of registered deals the vendor's direct sales take never reaches the partner
        kept = offers.kept.reshape(-1)[vendor * n + partner]
        key = vendor if table.lanes == 1 else vendor * table.lanes + table.lane_of(partner)
        direct = np.bincount(key, weights=value * (1.0 - kept), minlength=vendors * table.lanes)
        direct = direct.reshape(vendors, table.lanes)
        value *= kept

        depth = self.pipeline_quarters
        u = streams.uniform_at("deals.delay", quarter, partner, cell, width)
        delay = np.zeros(cells.size, np.int64)
        for k in range(depth - 1):
            delay += u > self.delay_cdf[segment, k]
        ring = table.buffer("pipeline")  # closing quarter x vendor x segment x partner (whole buffer)
        closing = (quarter + delay) % depth
        ring.reshape(-1)[(closing * width + cell) * ring.shape[-1] + partner] += value
        due = table.pipeline[quarter % depth]
        closed = due.copy()
        due[...] = 0.0
        won = np.ascontiguousarray(won_rows.T).reshape(vendors, segments, n)
        return Sales(revenue=closed.sum(axis=1), revenue_by_segment=closed, won_deals=won.sum(axis=1),
                     won_by_segment=won, opportunities=opportunities.sum(axis=1), direct=direct)

    def deal_values(self, count: np.ndarray, segment: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Total value of `count` lognormal deals in `segment` (Fenton-Wilkinson approximation).

        Exact for one deal; the sum of k deals is taken lognormal with the sum's mean and
        variance: s_k^2 = ln(1 + (e^{s^2} - 1) / k), mu_k = ln(k E[X]) - s_k^2 / 2, one normal draw.
        Beyond 64 deals s_k is frozen at its value for 64 (it is already small there).
        """
        k = np.minimum(count, _FW_TABLE - 1)
        return count * self._fw_mean[segment] * np.exp(self._fw_shift[segment, k] + self._fw_sd[segment, k] * z)
