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
        self._reference: list[np.ndarray] | None = None  # each lane's reference pursuit per cell (set by `size`)
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
        self.derive_demand()

    def demand_index(self, quarter: int) -> np.ndarray:
        """Relative addressable demand, segments x verticals, growing each quarter."""
        m = self.params.market
        vertical = np.array([m.vertical_demand.get(v, 1.0) for v in m.verticals])
        return np.outer(m.segment_demand.array(), vertical) * (1.0 + m.growth) ** quarter

    def mean_deal_size(self) -> np.ndarray:
        m = self.params.market
        return m.deal_size_median.array() * np.exp(0.5 * m.deal_size_sigma.array() ** 2)

    def flow(self, table: PartnerTable) -> np.ndarray:
        """Opportunities a partner's selling FTEs work a quarter at full effort, segments x partners (float32):
        capacity x opportunities per FTE x segment mix, in segments needing presales staff in proportion to the
        technical staff per seller (min(technical / needed, 1))."""
        m = self.params.market
        flow = table.segment_mix * (table.capacity * m.opportunities_per_fte.array()[:, None].astype(np.float32))
        for s, ratio in enumerate(m.technical_ratio.array()):
            if ratio > 0:
                needed = ratio * table.sales
                flow[s] *= np.minimum(table.technical, needed) / needed  # overflow-free
        return flow

    def pursuit(self, table: PartnerTable, offers: Offers) -> np.ndarray:
        """Each vendor's selling pressure at each partner, vendors x partners (float32): a concave power of the
        effort share around an even split e, e (scale x effort / e)^beta (Little 1970; Albers, Mantrala & Sridhar
        2010), times what the partner's certification finds (floor + (1 - floor) C) and the vendor's demand
        multiplier (MDF, ramp)."""
        m = self.params.market
        vendors = offers.margin.shape[0]
        effort = table.effort[:vendors]
        if m.focal_effort_scale != 1.0:
            effort = effort.copy()
            effort[FOCAL] *= np.float32(m.focal_effort_scale)
        even = np.float32(1.0 / (vendors + 1))  # the reference effort share: an even split over the lines
        pursuit = (effort * (1.0 / even)) ** np.float32(m.effort_exponent)
        pursuit *= even
        floor = np.float32(m.capability_floor)
        pursuit *= floor + (1.0 - floor) * table.capability
        pursuit *= offers.demand
        pursuit[FOCAL] *= table.access
        return pursuit

    def rates(self, table: PartnerTable, offers: Offers, quarter: int) -> tuple[np.ndarray, np.ndarray]:
        """Expected opportunities and win probabilities, vendors x segments x partners (float32).

        Opportunities: each seller's pursuit x flow, times what the shared demand of its segment x vertical cells
        gives a unit of pursuit there (`share_of_demand`). Wins: logistic(logit(w_s) + b_C (C - 0.5)
        + b_E (effort - 0.25) + CAM co-selling x (1 - exp(-hours / half)) in the segment)."""
        m = self.params.market
        vendors = offers.margin.shape[0]
        raw = self.pursuit(table, offers)[:, None, :] * self.flow(table)[None, :, :]
        reach = self.share_of_demand(table, raw, quarter)
        # at extreme accepted values (MDF bought with the revenue it brings, at the bounds) the product can pass
        # float32's range; opportunities are taken at most COUNT_MAX, where deal counts stop anyway
        with np.errstate(over="ignore"):
            opportunities = raw * reach[None, :, :]
            opportunities *= offers.generated[:, None, :]
        np.minimum(opportunities, np.float32(COUNT_MAX), out=opportunities)
        capability = table.capability
        base = m.win_base.array().clip(1e-6, 1 - 1e-6)
        edge = m.win_capability * (capability - 0.5)
        if m.win_effort:
            edge += m.win_effort * (table.effort[:vendors] - 0.25)
        edge = np.broadcast_to(edge[:, None, :], opportunities.shape)
        coselling = m.coselling.array()
        if coselling.any() and offers.cam_hours.any():
            hours = -np.expm1(offers.cam_hours * np.float32(-1.0 / m.coselling_half_hours))
            edge = edge + coselling.astype(np.float32)[None, :, None] * hours[:, None, :]
        # logistic(logit(base) + edge) = 1 / (1 + odds_against x e^-edge)
        win = np.exp(-edge) * ((1.0 - base) / base).astype(np.float32)[None, :, None]
        win += np.float32(1.0)
        np.reciprocal(win, out=win)
        return opportunities, win

    # ---- shared demand

    def size(self, table: PartnerTable) -> None:
        """Size each lane's addressable demand from its starting population (once, before the first quarter).

        The reference pursuit of a cell (segment x vertical) is what the partners would put into it at an even
        effort split and the initial capability, summed over the vendors' lines (scaled to
        `demand_sized_for` partners when set). The vendor's direct sales pursue `direct_pursuit` x the focal
        vendor's part of it; the half-saturation K is set so that `unserved_share` of the addressable demand goes
        unserved at the reference."""
        m = self.params.market
        p = self.params.partners
        vendors = 1 + self.params.rivals.count
        even = 1.0 / (vendors + 1)
        per_line = even * (m.capability_floor + (1.0 - m.capability_floor) * p.capability.initial)
        flow = self.flow(table).astype(np.float64)
        verticals = table.verticals.astype(np.float64)
        self._reference = []
        for a, b in table.blocks():
            cells = flow[:, a:b] @ verticals[:, a:b].T  # segments x verticals
            if m.demand_sized_for is not None and b > a:
                cells *= m.demand_sized_for / (b - a)
            self._reference.append(per_line * cells)  # one line's reference pursuit
        self._vendors = vendors
        self.derive_demand()

    def derive_demand(self) -> None:
        """Direct sales' pursuit and the half-saturation of each cell, from the reference pursuit (again when a
        schedule entry changes the market's parameters)."""
        m = self.params.market
        if self._reference is None:
            return
        self._direct = [m.direct_pursuit * ref for ref in self._reference]
        served = 1.0 - m.unserved_share
        self._half = [(self._vendors * ref + direct) * (m.unserved_share / served)
                      for ref, direct in zip(self._reference, self._direct, strict=True)]

    def share_of_demand(self, table: PartnerTable, raw: np.ndarray, quarter: int) -> np.ndarray:
        """What a unit of pursuit wins of the shared demand, segments x partners (float32), and the quarter's
        direct sales and unserved demand (kept, per lane, in dollars at base win rates).

        In each cell c (segment x vertical) the addressable demand A_c is split among all who pursue it, in
        proportion to their pursuit, with saturation: a seller gets A_c x pursuit / (P_c + D_c + K_c), P_c the
        partners' pursuit of every vendor's line, D_c the vendor's direct sales, K_c the demand nobody serves.
        A_c = demand index_c x (P_ref + D + K): at the reference pursuit a unit of pursuit gets the demand index."""
        if self._reference is None:
            self.size(table)
        index = self.demand_index(quarter)
        value = self.params.market.win_base.array() * self.mean_deal_size()  # dollars per opportunity, by segment
        total = raw.sum(axis=0)  # segments x partners
        reach = np.empty_like(total)
        verticals = table.verticals
        self.direct_sales = np.zeros(table.lanes)
        self.unserved = np.zeros(table.lanes)
        for lane, (a, b) in enumerate(table.blocks()):
            pursued = total[:, a:b].astype(np.float64) @ verticals[:, a:b].T.astype(np.float64)
            direct, half = self._direct[lane], self._half[lane]
            addressable = index * (self._vendors * self._reference[lane] + direct + half)
            pursuers = pursued + direct + half
            per_unit = np.divide(addressable, pursuers, out=np.zeros_like(pursuers), where=pursuers > 0)
            reach[:, a:b] = per_unit.astype(np.float32) @ verticals[:, a:b]
            self.direct_sales[lane] = value @ (per_unit * direct).sum(axis=1)
            self.unserved[lane] = value @ (per_unit * half).sum(axis=1)
        return reach

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
        value = opportunities * win * self.mean_deal_size()[None, :, None] * offers.kept[:, None, :]
        size = self.coselling_size(offers)
        return value if size is None else value * size.reshape(value.shape)

    def coselling_size(self, offers: Offers) -> np.ndarray | None:
        """`coselling_size_at` every vendor x segment x partner cell, flattened in that order (None when no deal
        grows)."""
        vendors, n = offers.cam_hours.shape
        shape = (vendors, len(SEGMENTS), n)
        at = np.broadcast_to(np.arange(vendors * n).reshape(vendors, 1, n), shape).reshape(-1)
        segment = np.broadcast_to(np.arange(len(SEGMENTS)).reshape(1, -1, 1), shape).reshape(-1)
        return self.coselling_size_at(offers, at, segment)

    def coselling_size_at(self, offers: Offers, at: np.ndarray, segment: np.ndarray) -> np.ndarray | None:
        """How much CAM co-selling enlarges a vendor's deals at a partner in a segment, at the cells given (`at` =
        vendor x partners + partner): 1 + x_s (1 - exp(-hours / half)) (None when no deal grows)."""
        m = self.params.market
        growth = m.coselling_size.array()
        if not growth.any() or not offers.cam_hours.any():
            return None
        hours = -np.expm1(np.take(offers.cam_hours, at).astype(np.float64) * (-1.0 / m.coselling_half_hours))
        return 1.0 + np.take(growth, segment) * hours

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
        cells = np.flatnonzero(won_rows != 0)  # the work below is only for cells with a win (a mask: 5x faster)
        count = np.take(won_rows, cells)
        partner = cells // width  # (floor division by a number and a product: faster than np.divmod)
        cell = cells - partner * width
        vendor = cell // segments
        segment = cell - vendor * segments
        z = ndtri(streams.uniform_at("deals.size", quarter, partner, cell, width))
        value = self.deal_values(count, segment, z)
        size = self.coselling_size_at(offers, vendor * n + partner, segment)  # per cell, or None
        if size is not None:
            value *= size
        # the share of registered deals the vendor's direct sales take never reaches the partner
        kept = np.take(offers.kept, vendor * n + partner)
        key = vendor if table.lanes == 1 else vendor * table.lanes + table.lane_of(partner)
        direct = np.bincount(key, weights=value * (1.0 - kept), minlength=vendors * table.lanes)
        direct = direct.reshape(vendors, table.lanes).astype(np.float64)  # (no wins: bincount gives integers)
        direct[FOCAL] += self.direct_sales  # what the vendor's direct sales won of the shared demand
        value *= kept

        depth = self.pipeline_quarters
        self.book_wins(table, streams, quarter, partner, cell, segment, count, z, value, kept, key, direct, size)
        due = table.pipeline[quarter % depth]
        closed = due.copy()
        due[...] = 0.0
        won = np.ascontiguousarray(won_rows.T).reshape(vendors, segments, n)
        return Sales(revenue=closed.sum(axis=1), revenue_by_segment=closed, won_deals=won.sum(axis=1),
                     won_by_segment=won, opportunities=opportunities.sum(axis=1), direct=direct,
                     unserved=self.unserved.copy())

    def deal_values(self, count: np.ndarray, segment: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Total value of `count` lognormal deals in `segment` (Fenton-Wilkinson approximation).

        Exact for one deal; the sum of k deals is taken lognormal with the sum's mean and
        variance: s_k^2 = ln(1 + (e^{s^2} - 1) / k), mu_k = ln(k E[X]) - s_k^2 / 2, one normal draw.
        Beyond 64 deals s_k is frozen at its value for 64 (it is already small there).
        """
        k = np.minimum(count, _FW_TABLE - 1)
        at = segment * _FW_TABLE + k  # flat places in the tables: np.take is several times faster than [segment, k]
        spread = np.take(self._fw_shift, at) + np.take(self._fw_sd, at) * z
        return count * np.take(self._fw_mean, segment) * np.exp(spread)

    def book_wins(self, table: PartnerTable, streams: LaneStreams, quarter: int, partner: np.ndarray,
                  cell: np.ndarray, segment: np.ndarray, count: np.ndarray, z: np.ndarray, value: np.ndarray,
                  kept: np.ndarray, key: np.ndarray, direct: np.ndarray, size: np.ndarray | None = None) -> None:
        """Put the quarter's wins (one entry per partner x vendor x segment cell with a win) into the pipeline ring.

        A segment with a single closing delay closes its cells' `value` then, with no draw. Elsewhere each won
        deal closes on its own date: the cell's `count` is split over the delays (a multinomial drawn as
        conditional binomials, `binomial_from_uniform`, from one uniform: each binomial's outcome is read off it
        and the uniform rescaled within that outcome's interval, a fresh uniform for the next) and each delay's
        deals get their own value (the Fenton-Wilkinson sum of that many deals with its own normal draw: the first
        delay's is the cell's `z`, the last's what is left of the split's uniform, those between their own). A
        single deal takes its delay from the inverse of the delay distribution and keeps the cell's value. The
        bucket values replace the cell's single draw in the partner's share and in the direct share (`direct`,
        vendors x lanes, corrected in place); `size` (per cell, or None) scales every value, as it scaled the cell's.
        The draws are the partner's own ("deals.split", a column per vendor x
        segment x draw): they do not depend on other partners or on how many lanes run.
        """
        segments = len(SEGMENTS)
        width = direct.shape[0] * segments
        depth = self.pipeline_quarters
        buffer = table.buffer("pipeline")  # closing quarter x vendor x segment x partner (whole buffer)
        ring = buffer.reshape(-1)
        slot = ((quarter + np.arange(depth)) % depth) * (width * buffer.shape[-1])  # where each delay closes
        place = cell * buffer.shape[-1] + partner  # the cell's place in a closing quarter
        at_once, spread, columns = self._delay_plan()
        delay = at_once[segment]
        spread_over = delay < 0
        if not spread_over.any():
            ring[slot[delay] + place] += value
            return
        # index arrays, not boolean masks, to pick cells: several times faster at these densities
        now = np.flatnonzero(~spread_over)
        ring[slot[np.take(delay, now)] + np.take(place, now)] += np.take(value, now)
        later = np.flatnonzero(spread_over)  # the work below is only for cells spread over several delays
        partner, cell, segment, count, value, place = (np.take(a, later)
                                                       for a in (partner, cell, segment, count, value, place))
        # the cells' draws in one gather (rows stay ascending by partner): the split's uniform, then (two deals or
        # more) a normal per delay between the first and the last
        draws_per_cell = np.ones(segments, np.int64)
        first_column = np.zeros(segments, np.int64)
        for s, active, _, first in spread:
            draws_per_cell[s], first_column[s] = active.size - 1, first
        need = np.where(count > 1, draws_per_cell[segment], 1)
        start = np.cumsum(need) - need
        entry = np.repeat(np.arange(later.size), need)
        column = (cell // segments * columns + first_column[segment])[entry] + np.arange(entry.size) - start[entry]
        u = streams.uniform_at("deals.split", quarter, partner[entry], column, direct.shape[0] * columns)
        # one deal: its delay is the inverse of the segment's delay distribution at the uniform, its value the cell's
        one = np.flatnonzero(count == 1)
        lag = np.zeros(one.size, np.int64)
        u_one, segment_one = u[start[one]], segment[one]
        for k in range(depth - 1):
            lag += u_one > self.delay_cdf[:, k][segment_one]
        ring[slot[lag] + place[one]] += value[one]
        many = np.flatnonzero(count > 1)
        if not many.size:
            return
        z, kept, key = (np.take(a, later[many]) for a in (z, kept, key))
        scale = np.ones(many.size) if size is None else np.take(size, later[many])
        unkept_change = -self.deal_values(count[many], segment[many], z) * scale  # their single draws, replaced below
        for s, active, conditional, _ in spread:
            rows = np.flatnonzero(segment[many] == s)
            if not rows.size:
                continue
            cells = many[rows]
            first = start[cells]
            left = count[cells].astype(np.int64)
            rest = u[first].astype(np.float64)
            for b, after in enumerate(active):
                if b < conditional.size:
                    n_b, rest = self.binomial_from_uniform(left, conditional[b], rest, rest=True)
                    left = left - n_b
                else:
                    n_b = left
                # the first delay's normal is the cell's own, the last's what is left of the split's uniform
                normal = z[rows] if b == 0 else ndtri(rest if b == conditional.size else u[first + b])
                v = self.deal_values(n_b, s, normal) * scale[rows]
                unkept_change[rows] += v
                ring[slot[after] + place[cells]] += v * kept[rows]
        direct += np.bincount(key, weights=unkept_change * (1.0 - kept), minlength=direct.size).reshape(direct.shape)

    def _delay_plan(self) -> tuple[np.ndarray, list[tuple[int, np.ndarray, np.ndarray, int]], int]:
        """How each segment's deals close (fixed during a run, kept): the delay of a segment with one possible delay
        (-1 elsewhere); for the others (segment, possible delays, the conditional probabilities of all but the last,
        first column of its draws in a vendor's block of "deals.split"); the block's width."""
        plan = getattr(self, "_delay_plan_kept", None)
        if plan is None:
            delays = self.params.market.close_delay.matrix()
            at_once = np.full(len(delays), -1, np.int64)
            spread = []
            columns = 0
            for s, row in enumerate(delays):
                active = np.flatnonzero(row > 0)
                if active.size == 1:
                    at_once[s] = active[0]
                    continue
                shares = row[active] / row[active].sum()
                unassigned = 1.0 - np.cumsum(shares) + shares  # the share not yet given to an earlier delay
                spread.append((s, active, (shares / unassigned)[:-1], columns))
                columns += active.size - 1  # the split's uniform and a normal per delay between the first and last
            plan = self._delay_plan_kept = (at_once, spread, columns)
        return plan

    _binomial_cdf: dict[float, np.ndarray] = {}  # p -> the CDFs of Binomial(n, p), n = 0.._BINOMIAL_EXACT

    @classmethod
    def binomial_from_uniform(cls, trials: np.ndarray, p: float, u: np.ndarray, rest: bool = False):
        """Binomial(trials, p) counts by inversion of the CDF at `u`, element-wise (one p), monotone in `u`; with
        `rest`, also where `u` fell within its count's interval of the CDF, rescaled to (0, 1): a uniform
        independent of the count, for the next draw.

        Exact up to _BINOMIAL_EXACT trials: one search of `u` in the CDF of its number of trials, the CDFs of every
        n kept for p, end to end (row n shifted by 2n), so the search is one vectorised call; above it the normal
        quantile with continuity and Cornish-Fisher skewness corrections, x = n p + sd z + (1 - 2p)(z^2 - 1) / 6
        + 1/2, the count floor(x) clipped to [0, n] and the rest x - floor(x) (about uniform: sd > 5 there). For
        p > 1/2 the count is n minus the count of failures (p^n would underflow).
        """
        trials = np.asarray(trials, np.int64)
        u = np.asarray(u, np.float64)
        if p <= 0.0 or p >= 1.0:
            counts = np.zeros(trials.shape, np.int64) if p <= 0.0 else trials.copy()
            return (counts, u) if rest else counts
        if p > 0.5:
            failures, leftover = cls.binomial_from_uniform(trials, 1.0 - p, 1.0 - u, rest=True)
            return (trials - failures, 1.0 - leftover) if rest else trials - failures
        out = np.zeros(trials.shape, np.int64)
        leftover = u.copy() if rest else None
        top = _BINOMIAL_EXACT
        small = np.flatnonzero(trials <= top)
        if small.size:
            cdf = cls._binomial_cdf.get(p)
            if cdf is None:
                n = np.arange(top + 1, dtype=np.float64)
                pmf = (1.0 - p) ** n  # P(0) for every n
                table = np.ones((top + 1, top + 2))
                table[:, 0] = pmf
                for k in range(top):
                    pmf = pmf * np.maximum(n - k, 0.0) / (k + 1) * (p / (1.0 - p))
                    table[:, k + 1] = table[:, k] + pmf
                table[np.arange(top + 2)[None, :] >= n[:, None]] = 1.0  # at most n: the last step is exact
                cdf = cls._binomial_cdf[p] = (table + 2.0 * n[:, None]).reshape(-1)
            n = trials[small]
            shifted = u[small] + 2.0 * n
            at = np.searchsorted(cdf, shifted)
            out[small] = at - n * (top + 2)
            if rest:
                below = np.where(out[small] > 0, cdf[at - 1], 2.0 * n)
                leftover[small] = np.clip((shifted - below) / np.maximum(cdf[at] - below, 1e-300), 1e-12, 1 - 1e-12)
        big = np.flatnonzero(trials > top)
        if big.size:
            n = trials[big].astype(np.float64)
            z = ndtri(u[big])
            x = n * p + np.sqrt(n * p * (1.0 - p)) * z + (1.0 - 2.0 * p) * (z * z - 1.0) / 6.0 + 0.5
            out[big] = np.clip(np.floor(x), 0.0, n)
            if rest:
                leftover[big] = np.clip(x - np.floor(x), 1e-12, 1 - 1e-12)
        return (out, leftover) if rest else out


_BINOMIAL_EXACT = 128  # trials up to which binomial counts are drawn exactly (a 129 x 130 table per probability)
