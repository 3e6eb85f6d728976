"""Partner firms: their state as arrays, the Mesa agent that views one row, and how they decide.

All partners' state lives in one `PartnerTable` (a structure of arrays, one row per live
partner). A `Partner` agent holds only its id and reads and writes its own row, so Mesa's
AgentSet tools (select, groupby, agg) see the same numbers as the arrays. What partners do
each quarter is written once, for all of them, as array operations in this module:
`generate` (who they are), `choose_effort` (where their effort goes) and `update_relationships`
(what CAM time, MDF and selling do to capability and goodwill).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from scipy.special import ndtri

from sim.params import SEGMENTS, Partners, Scenario
from sim.policies import REAL

if TYPE_CHECKING:
    from sim.policies import Offers
    from sim.streams import ChannelStreams, Streams


class PartnerTable:
    """Columns [..., 0:n] are the live partners; the partner is the *last* axis of every column.

    A per-vendor quantity is vendors x partners, so each vendor's row is contiguous and every
    array operation runs along long rows. Removing partners moves the last live partners into
    the holes (O(removed), arrays stay compact); adding grows the buffers geometrically.
    `row_of[pid]` finds a partner's position (-1: gone).

    A table can hold several independent channels side by side (a sweep's replicates): each
    channel is a contiguous block, ordered exactly as it would be alone, so that everything a
    channel computes, sums included, is the same number it would be alone.
    """

    def __init__(self, capacity: int = 64, channels: int = 1):
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_fills", {})
        object.__setattr__(self, "n", 0)
        object.__setattr__(self, "_reserved", max(int(capacity), 1))
        object.__setattr__(self, "row_of", np.full(self._reserved, -1, np.int64))
        object.__setattr__(self, "channels", int(channels))
        object.__setattr__(self, "starts", np.zeros(int(channels) + 1, np.int64))

    # ---- columns

    def add_column(self, name: str, lead: tuple[int, ...] = (), dtype: Any = REAL, fill: Any = 0) -> None:
        """Declare a column of shape lead + (partners,) (idempotent); policies keep their state here."""
        if name in self._buffers:
            return
        buffer = np.empty((*lead, self._reserved), dtype=dtype)
        buffer[...] = fill
        self._buffers[name] = buffer
        self._fills[name] = fill

    @property
    def columns(self) -> list[str]:
        return list(self._buffers)

    def buffer(self, name: str) -> np.ndarray:
        """The whole backing array of a column (spare capacity included)."""
        return self._buffers[name]

    def __getattr__(self, name: str) -> np.ndarray:
        buffers = object.__getattribute__(self, "_buffers")
        try:
            return buffers[name][..., : self.n]
        except KeyError:
            raise AttributeError(f"partner table has no column '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._buffers:
            self._buffers[name][..., : self.n] = value
        else:
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.n

    # ---- channels

    def blocks(self) -> list[tuple[int, int]]:
        """(start, stop) of each channel's rows."""
        return [(int(self.starts[c]), int(self.starts[c + 1])) for c in range(self.channels)]

    def block(self, channel: int) -> PartnerBlock:
        start, stop = self.blocks()[channel]
        return PartnerBlock(self, start, stop)

    def channel_of(self, rows: np.ndarray) -> np.ndarray:
        """The channel of each row."""
        return np.searchsorted(self.starts, rows, side="right") - 1

    # ---- rows

    def append(self, values: dict[str, Any]) -> np.ndarray:
        """Add partners; `values` must hold `pid` (and, with several channels, `channel`); columns not
        given start at their fill. Returns the new partners' rows."""
        pids = np.asarray(values["pid"], dtype=np.int64)
        count = pids.size
        self._reserve(self.n + count, int(pids.max()) + 1 if count else 0)
        rows = np.arange(self.n, self.n + count)
        for name, buffer in self._buffers.items():  # a newcomer starts from the fill, not a leaver's leftovers
            buffer[..., rows] = values[name] if name in values else self._fills[name]
        self.row_of[pids] = rows
        object.__setattr__(self, "n", self.n + count)
        if self.channels == 1:
            self.starts[1] = self.n
            return rows
        channel = np.asarray(values["channel"])
        order, starts = [], [0]
        for c, (start, stop) in enumerate(self.blocks()):  # each channel's newcomers join the end of its block
            order += [np.arange(start, stop), rows[channel == c]]
            starts.append(starts[-1] + (stop - start) + int((channel == c).sum()))
        self._reorder(np.concatenate(order), np.array(starts))
        return self.row_of[pids]

    def remove(self, rows: np.ndarray) -> None:
        """Drop partners, filling the holes with the last live partners (of their channel)."""
        rows = np.unique(np.asarray(rows, dtype=np.int64))
        if rows.size == 0:
            return
        if self.channels > 1:
            order, starts = [], [0]
            for start, stop in self.blocks():
                local = rows[(rows >= start) & (rows < stop)] - start
                kept = self._swap_order(stop - start, local)
                order.append(kept + start)
                starts.append(starts[-1] + kept.size)
            self._reorder(np.concatenate(order), np.array(starts), gone=self._buffers["pid"][rows].copy())
            return
        keep = self.n - rows.size
        pid = self._buffers["pid"]
        gone = pid[rows].copy()
        holes = rows[rows < keep]
        tail = np.setdiff1d(np.arange(keep, self.n), rows, assume_unique=True)
        for buffer in self._buffers.values():
            buffer[..., holes] = buffer[..., tail]
        self.row_of[pid[holes]] = holes
        self.row_of[gone] = -1
        self._buffers["agent"][keep : self.n] = None
        object.__setattr__(self, "n", keep)
        self.starts[1] = keep

    @staticmethod
    def _swap_order(count: int, removed: np.ndarray) -> np.ndarray:
        """Where each remaining row comes from when `removed` rows of `count` are swap-removed."""
        keep = count - removed.size
        order = np.arange(keep)
        holes = removed[removed < keep]
        order[holes] = np.setdiff1d(np.arange(keep, count), removed, assume_unique=True)
        return order

    def _reorder(self, order: np.ndarray, starts: np.ndarray, gone: np.ndarray | None = None) -> None:
        size = order.size
        moved = np.flatnonzero(order != np.arange(size))
        first = int(moved[0]) if moved.size else size  # rows before the first change stay where they are
        order = order[first:]
        for buffer in self._buffers.values():
            buffer[..., first:size] = buffer[..., order]
        if gone is not None:
            self.row_of[gone] = -1
        self._buffers["agent"][size : self.n] = None
        object.__setattr__(self, "n", size)
        self.row_of[self._buffers["pid"][:size]] = np.arange(size)
        object.__setattr__(self, "starts", starts.astype(np.int64))

    def _reserve(self, rows: int, ids: int) -> None:
        if rows > self._reserved:
            capacity = max(rows, int(self._reserved * 1.5) + 16)
            for name, buffer in self._buffers.items():
                grown = np.empty((*buffer.shape[:-1], capacity), dtype=buffer.dtype)
                grown[..., : self._reserved] = buffer
                grown[..., self._reserved :] = 0 if buffer.dtype != object else None
                self._buffers[name] = grown
            object.__setattr__(self, "_reserved", capacity)
        if ids > self.row_of.size:
            grown = np.full(max(ids, int(self.row_of.size * 1.5) + 16), -1, np.int64)
            grown[: self.row_of.size] = self.row_of
            object.__setattr__(self, "row_of", grown)

    @property
    def nbytes(self) -> int:
        return sum(b.nbytes for b in self._buffers.values()) + self.row_of.nbytes


class PartnerBlock:
    """One channel's partners: the table's columns as views of its block (partner-wise code accepts either)."""

    channels = 1

    def __init__(self, table: PartnerTable, start: int, stop: int):
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "offset", start)
        object.__setattr__(self, "n", stop - start)
        object.__setattr__(self, "starts", np.array([0, stop - start]))

    def buffer(self, name: str) -> np.ndarray:
        return self._table.buffer(name)

    def blocks(self) -> list[tuple[int, int]]:
        return [(0, self.n)]

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self._table.buffer(name)[..., self.offset : self.offset + self.n]
        except KeyError:
            raise AttributeError(f"partner table has no column '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._table.buffer(name)[..., self.offset : self.offset + self.n] = value

    def __len__(self) -> int:
        return self.n


def declare_columns(table: PartnerTable, n_vendors: int, n_verticals: int, pipeline_quarters: int) -> None:
    """The columns every partner has (policies add their own). Shapes exclude the partner axis."""
    lines = n_vendors + 1  # each vendor's line plus the partner's own services
    segments = len(SEGMENTS)
    spec: dict[str, tuple[tuple[int, ...], Any]] = {
        "pid": ((), np.int64),  # unique in the model
        "channel": ((), np.int16),  # which of the model's channels the partner belongs to
        "local_id": ((), np.int64),  # its id in its channel: the key of its random draws
        "agent": ((), object),
        "external_id": ((), object),  # a roster's own id
        "name": ((), object),
        "tenure": ((), np.int32),  # quarters with the focal vendor
        "joined": ((), np.int32),  # the quarter it joined (the starting population: before quarter 1)
        "first_deal": ((), np.int32),  # the quarter of its first focal deal (-1: none yet)
        "engaged": ((), bool),  # a recruit that took to the vendor (activation)
        "digital": ((), bool),  # moved to the digital tier: no CAM time, no MDF
        "failing": ((), np.int16),  # consecutive quarters failing the vendor's termination rule
        # who the partner is
        "headcount": ((), REAL),
        "sales": ((), REAL),
        "technical": ((), REAL),
        "marketing": ((), REAL),
        "capacity": ((), REAL),  # selling FTEs: sellers plus part of presales time
        "segment_mix": ((segments,), REAL),
        "verticals": ((n_verticals,), REAL),  # priority weights, sum to 1
        "verticals_unit": ((n_verticals,), REAL),  # the same scaled to length 1 (for alignment)
        "even_fit": ((), REAL),  # cosine of the priorities with an even push
        "velocity": ((), REAL),  # expected won deals a quarter per selling FTE
        "cycle": ((), REAL),  # expected quarters from effort to close
        "deals_per_dollar": ((), REAL),  # expected deals per dollar of revenue (by segment mix)
        "taste": ((lines,), REAL),  # fixed idiosyncratic log-attraction of each line
        # how it works with each vendor
        "effort": ((lines,), REAL),  # shares of capacity; sum to 1
        "capability": ((n_vendors,), REAL),
        "goodwill": ((n_vendors,), REAL),
        "goodwill_change": ((n_vendors,), REAL),
        "conflict": ((n_vendors,), REAL),  # share of its deals the vendor's direct sales took
        "mdf_stock": ((n_vendors,), REAL),  # demand generation bought with MDF, decaying
        # what it sold
        "pipeline": ((pipeline_quarters, n_vendors, segments), REAL),  # won value by closing quarter (ring)
        "revenue": ((n_vendors,), REAL),  # closed this quarter
        "revenue_history": ((4, n_vendors), REAL),  # last four quarters, ring by quarter
        "revenue_4q": ((n_vendors,), REAL),  # their sum
        "revenue_trend": ((n_vendors,), REAL),  # the partner's running estimate of a quarter's sales
        "won_deals": ((n_vendors,), np.int32),  # signed this quarter
        "won_history": ((4,), np.int32),  # focal deals signed, last four quarters
        "incentives": ((n_vendors,), REAL),  # cash received this quarter
        "profit": ((), REAL),  # gross profit this quarter, all lines
        "profit_by_vendor": ((n_vendors,), REAL),
    }
    for name, (lead, dtype) in spec.items():
        table.add_column(name, lead, dtype, fill=None if dtype is object else 0)


# --------------------------------------------------------------------------- who partners are


def softmax(logits: np.ndarray) -> np.ndarray:
    """Shares over the first axis (lines, segments, ...) for each partner (last axis)."""
    weights = np.exp(logits - logits.max(axis=0))
    weights /= weights.sum(axis=0)
    return weights


def generate(params: Scenario, sources: list[tuple[Streams, np.ndarray]], n_vendors: int,
             stream: str = "population", quarter: int = 0, population: Partners | None = None) -> dict[str, np.ndarray]:
    """Draw partner firms: for each (streams, keys) source, firms keyed by `keys` in that channel's
    streams. Each firm's attributes come from its own row of the stream's block, so they do not
    depend on how many other firms are drawn, nor on other channels.

    `population` (default: params.partners) sets the size, segment and vertical distributions;
    recruits use the recruit profile laid over it. The founding population is keyed by the
    partners' ids in their channel; a cohort of recruits has a stream of its own (`stream`,
    `quarter`), keyed by position in the cohort.
    """
    p = population or params.partners
    market = params.market
    n_verticals = len(market.verticals)
    lines = n_vendors + 1
    widths = {"size": 1, "roles": 3, "role_rounding": 2, "segments": 3, "verticals": n_verticals, "taste": lines,
              "capability": n_vendors, "goodwill": n_vendors, "activation": 1}
    width = (sum(widths.values()),)
    block = np.concatenate([streams.uniform(stream, quarter, keys, width) for streams, keys in sources],
                           axis=-1).astype(np.float64)
    keys = np.concatenate([keys for _, keys in sources])
    start = np.cumsum([0, *widths.values()])
    columns = {name: block[start[i]:start[i + 1]] for i, name in enumerate(widths)}

    def uniform(name, lead=()):
        return columns[name].reshape(*lead, keys.size) if lead else columns[name][0]

    def normal(name, lead=()):
        return ndtri(uniform(name, lead))

    # headcount: Pareto truncated to [size_min, size_max], by inversion
    alpha, low, high = p.size_pareto_index, p.size_min, p.size_max
    tail = 1.0 - (low / high) ** alpha
    size = low / (1.0 - uniform("size") * tail) ** (1.0 / alpha)
    headcount = np.maximum(1.0, np.round(size))

    # roles: a logistic-normal split around the mean, rounded stochastically (small firms
    # often have no marketer at all)
    mean_roles = np.log([[p.roles.sales + 1e-9], [p.roles.technical + 1e-9], [p.roles.marketing + 1e-9]])
    role_share = softmax(mean_roles + p.role_spread * normal("roles", (3,)))
    rounding = uniform("role_rounding", (2,))
    technical = np.floor(headcount * role_share[1] + rounding[0])
    marketing = np.floor(headcount * role_share[2] + rounding[1])
    short = np.maximum(0.0, technical + marketing + 1.0 - headcount)  # every firm keeps a seller
    from_technical = np.minimum(short, technical)
    technical -= from_technical
    marketing -= short - from_technical
    sales = headcount - technical - marketing

    # segments: bigger firms sell further upmarket
    log_size = np.log(headcount / low).clip(min=0.0)
    segment_logits = np.stack([np.zeros_like(log_size), -0.7 + 0.55 * p.upmarket_per_log_size * log_size,
                               -2.5 + p.upmarket_per_log_size * log_size])
    segment_mix = softmax(segment_logits + p.segment_spread * normal("segments", (3,)))

    lean = np.log([[p.vertical_mix.get(v, 1.0)] for v in market.verticals])
    verticals = softmax(lean + p.vertical_spread * normal("verticals", (n_verticals,)))

    def logit_normal(mean, spread, name):
        mean = float(np.clip(mean, 0.01, 0.99))
        return 1.0 / (1.0 + np.exp(-(np.log(mean / (1.0 - mean)) + spread * normal(name, (n_vendors,)))))

    return {
        "headcount": headcount,
        "sales": sales,
        "technical": technical,
        "marketing": marketing,
        "capacity": selling_capacity(sales, technical, params),
        "segment_mix": segment_mix,
        "verticals": verticals,
        **firm_profile(segment_mix, verticals, params),
        "engaged": np.ones(keys.size, bool),
        "activation_draw": uniform("activation"),
        "first_deal": np.full(keys.size, -1, np.int32),
        "taste": p.attraction.idiosyncrasy * normal("taste", (lines,)),
        "capability": logit_normal(p.capability.initial, p.capability.spread, "capability"),
        "goodwill": logit_normal(p.goodwill.initial, p.goodwill.spread, "goodwill"),
    }


def selling_capacity(sales: np.ndarray, technical: np.ndarray, params: Scenario) -> np.ndarray:
    """Selling FTEs: the sellers and the share of presales staff time that sells."""
    return sales + params.partners.presales_selling * technical


def firm_profile(segment_mix: np.ndarray, verticals: np.ndarray, params: Scenario) -> dict[str, np.ndarray]:
    """What follows from a firm's segments and verticals: velocity, sales cycle, deals per dollar,
    and its priorities scaled for the alignment cosine."""
    market = params.market
    deals_per_fte = market.opportunities_per_fte.array() * market.win_base.array()
    mean_size = market.deal_size_median.array() * np.exp(0.5 * market.deal_size_sigma.array() ** 2)
    delays = market.close_delay.matrix()
    mean_delay = delays @ np.arange(delays.shape[1])
    length = np.sqrt((verticals * verticals).sum(axis=0))
    value_per_fte = (deals_per_fte * mean_size) @ segment_mix
    return {
        "velocity": deals_per_fte @ segment_mix,
        "cycle": mean_delay @ segment_mix,
        # a firm whose segments give no deals has none per dollar (not 0/0)
        "deals_per_dollar": np.divide(deals_per_fte @ segment_mix, value_per_fte,
                                      out=np.zeros_like(value_per_fte), where=value_per_fte > 0),
        "verticals_unit": verticals / length,
        "even_fit": 1.0 / (np.sqrt(verticals.shape[0]) * length),
    }


# --------------------------------------------------------------------------- how partners decide


def alignment(table: PartnerTable, push: np.ndarray) -> np.ndarray:
    """How far each vendor's push fits each partner, beyond a push spread evenly (vendors x partners).

    Cosine similarity of the partner's vertical priorities with the vendor's push, minus the
    cosine with an even push: no push is neutral, a push toward the partner's verticals is
    positive, a push away from them negative.
    """
    length = np.sqrt((push * push).sum(axis=1, keepdims=True))
    if not (length > 0).all():  # a push of tiny weights underflows: its direction is what counts
        push = push / push.max(axis=1, keepdims=True)
        length = np.sqrt((push * push).sum(axis=1, keepdims=True))
    push_unit = push / length
    fit = push_unit @ table.verticals_unit
    fit -= table.even_fit
    return fit


def attraction_logits(table: PartnerTable, offers: Offers, params: Scenario) -> np.ndarray:
    """log attraction of each line (vendors, then own services), lines x partners.

    Multiplicative competitive interaction (Bell, Keeney & Little 1975): attraction is
    (profit rate / reference)^b_p x exp(b_a x alignment) x capability^b_c x goodwill^b_g x taste.
    """
    a = params.partners.attraction
    n_vendors = offers.margin.shape[0]
    cap_ref = params.partners.capability.initial + 0.05
    good_ref = params.partners.goodwill.initial + 0.05
    logits = np.empty((n_vendors + 1, table.n), dtype=REAL)
    vendor = logits[:n_vendors]
    np.maximum(offers.margin + offers.registration + offers.incentive, 1e-4, out=vendor)
    vendor *= 1.0 / a.reference_profit
    np.log(vendor, out=vendor)
    vendor *= a.profit
    vendor += a.alignment * alignment(table, offers.push)
    vendor += a.capability * np.log((table.capability + 0.05) * (1.0 / cap_ref))
    vendor += a.relationship * np.log((table.goodwill + 0.05) * (1.0 / good_ref))
    logits[n_vendors] = np.log(a.services)
    logits += table.taste
    return logits


def choose_effort(table: PartnerTable, offers: Offers, params: Scenario, inertia: float | None = None) -> None:
    """Each partner re-targets its effort by attraction and moves part of the way there.

    s* = A / sum(A); s <- (1 - theta) s + theta s*. No vendor sets effort directly.
    """
    theta = params.partners.inertia if inertia is None else inertia
    if theta == 0:
        return  # no adjustment at all: effort stays exactly where it is
    target = softmax(attraction_logits(table, offers, params))
    effort = table.effort
    target -= effort
    target *= theta
    effort += target
    effort /= effort.sum(axis=0)  # guard against rounding drift


def update_relationships(table: PartnerTable, offers: Offers, mdf_spent: np.ndarray, params: Scenario,
                         training: np.ndarray | None = None, conflict: np.ndarray | None = None) -> None:
    """Goodwill and capability after a quarter (vendors x partners).

    G' = (1-d_G) G + d_G g0 + (1-G)(a_h h~ + a_M m~) - conflict G   (Nerlove-Arrow, bounded)
    C' = (1-d_C) C + (1-C) x training                                  (learning with lapse)
    with diminishing returns h~ = 1 - exp(-hours / h_half), m~ = 1 - exp(-MDF / m_half).
    """
    g = params.partners.goodwill
    c = params.partners.capability
    n_vendors = offers.margin.shape[0]
    cam = -np.expm1(offers.cam_hours * (-1.0 / g.cam_half_hours))
    mdf = -np.expm1(mdf_spent * (-1.0 / g.mdf_half_dollars))

    goodwill = table.goodwill
    before = goodwill.copy()
    gain = g.cam_effect * cam + g.mdf_effect * mdf
    gain *= 1.0 - goodwill
    goodwill *= 1.0 - g.decay
    goodwill += gain
    goodwill += g.decay * g.baseline
    if conflict is not None:
        goodwill -= conflict * before
    np.clip(goodwill, 0.0, 1.0, out=goodwill)
    table.goodwill_change = goodwill - before

    learning = table.effort[:n_vendors] * (c.self_training * (0.25 + table.technical / table.headcount))
    learning += c.cam_effect * cam
    if training is not None:
        learning += training
    np.minimum(learning, 1.0, out=learning)
    capability = table.capability
    learning *= 1.0 - capability
    capability *= 1.0 - c.decay
    capability += learning
    np.clip(capability, 0.0, 1.0, out=capability)


def record_quarter(table: PartnerTable, offers: Offers, sales, cash: np.ndarray, conflict: np.ndarray,
                   params: Scenario, quarter: int) -> None:
    """Book the quarter into each partner's accounts: revenue, history, cash, profit."""
    n_vendors = offers.margin.shape[0]
    market = params.market
    table.revenue = sales.revenue
    history = table.revenue_history
    history[quarter % 4] = sales.revenue
    table.revenue_4q = history.sum(axis=0)
    trend = table.revenue_trend
    trend *= 0.5
    trend += 0.5 * sales.revenue
    table.won_deals = sales.won_deals
    table.won_history[quarter % 4] = sales.won_deals[0]
    first = (table.first_deal < 0) & (sales.won_deals[0] > 0)
    table.first_deal[first] = quarter
    table.incentives = cash
    by_vendor = (offers.margin + offers.registration) * sales.revenue
    by_vendor += cash
    table.profit_by_vendor = by_vendor
    services = table.effort[n_vendors] * table.capacity
    services *= market.services_margin * market.services_revenue_per_fte * (1.0 + market.growth) ** quarter
    table.profit = by_vendor.sum(axis=0) + services
    table.conflict = conflict
    table.tenure += 1


def leaving(table: PartnerTable, params: Scenario, streams: ChannelStreams, quarter: int) -> np.ndarray:
    """Partners that leave the focal vendor's channel of their own accord this quarter (their rows).

    Quarterly hazard = logistic(k0 - k1 profit share - k2 G - k3 dG + k4 conflict): low profit
    from the vendor, low goodwill and falling goodwill (Palmatier et al. 2013) drive exits.
    """
    e = params.partners.exit
    profit = table.profit
    share = np.where(profit > 0, table.profit_by_vendor[0] / np.maximum(profit, 1e-6), 0.0).clip(0.0, 1.0)
    logit = (e.base - e.profit_share * share - e.goodwill * table.goodwill[0]
             - e.goodwill_change * table.goodwill_change[0] + e.conflict * table.conflict[0])
    hazard = 1.0 / (1.0 + np.exp(-logit))
    return np.flatnonzero(streams.uniform("exit", quarter) < hazard)


# --------------------------------------------------------------------------- the agent


class Partner(mesa.Agent):
    """One partner firm: a view of its column in the model's partner table."""

    def __init__(self, model: mesa.Model, pid: int):
        super().__init__(model)
        self.pid = int(pid)

    @property
    def row(self) -> int:
        """Its position in the partner table (moves when other partners leave)."""
        row = int(self.model.partners.row_of[self.pid])
        if row < 0:
            raise LookupError(f"partner {self.pid} has left the channel")
        return row

    def _get(self, column: str, *index: int) -> Any:
        value = self.model.partners.buffer(column)[(*index, self.row)]
        if isinstance(value, np.generic):
            return value.item()
        return value.copy() if isinstance(value, np.ndarray) else value

    def _set(self, column: str, value: Any, *index: int) -> None:
        self.model.partners.buffer(column)[(*index, self.row)] = value

    # ---- who it is

    headcount = property(lambda self: self._get("headcount"))
    sales_staff = property(lambda self: self._get("sales"))
    technical_staff = property(lambda self: self._get("technical"))
    marketing_staff = property(lambda self: self._get("marketing"))
    capacity = property(lambda self: self._get("capacity"))
    segment_mix = property(lambda self: self._get("segment_mix", slice(None)))
    vertical_priorities = property(lambda self: self._get("verticals", slice(None)))
    velocity = property(lambda self: self._get("velocity"))
    sales_cycle = property(lambda self: self._get("cycle"))
    tenure = property(lambda self: self._get("tenure"))

    @property
    def name(self) -> str:
        """Its name on the roster, or its id."""
        return self._get("name") or f"partner {self.pid}"

    @property
    def segment(self) -> str:
        """The segment it sells to most."""
        return SEGMENTS[int(np.argmax(self.segment_mix))]

    @property
    def vertical(self) -> str:
        """The vertical it cares about most."""
        return self.model.params.market.verticals[int(np.argmax(self.vertical_priorities))]

    @property
    def velocity_class(self) -> str:
        """High velocity: most deals close within the quarter they are worked."""
        return "high" if self.sales_cycle < 0.5 else "low"

    # ---- how it works with the focal vendor (row 0) and the others

    @property
    def effort(self) -> np.ndarray:
        """Shares of its capacity on each vendor's line and, last, its own services."""
        return self._get("effort", slice(None))

    @effort.setter
    def effort(self, shares) -> None:
        shares = np.asarray(shares, dtype=float)
        lines = self.model.partners.buffer("effort").shape[0]
        if shares.shape != (lines,) or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
            raise ValueError(f"effort must be {lines} non-negative shares (vendors, then services) summing to 1")
        self._set("effort", shares, slice(None))

    @property
    def mindshare(self) -> float:
        """Share of its effort on the focal vendor's line."""
        return self._get("effort", 0)

    @property
    def capability(self) -> float:
        return self._get("capability", 0)

    @capability.setter
    def capability(self, value: float) -> None:
        self._set("capability", float(np.clip(value, 0.0, 1.0)), 0)

    @property
    def goodwill(self) -> float:
        return self._get("goodwill", 0)

    @goodwill.setter
    def goodwill(self, value: float) -> None:
        self._set("goodwill", float(np.clip(value, 0.0, 1.0)), 0)

    @property
    def revenue(self) -> float:
        """Focal revenue closed last quarter."""
        return self._get("revenue", 0)

    @property
    def trailing_revenue(self) -> float:
        """Focal revenue over the last four quarters."""
        return self._get("revenue_4q", 0)

    @property
    def profit(self) -> float:
        return self._get("profit")

    @property
    def active(self) -> bool:
        """A focal deal won in the last four quarters."""
        return bool(self._get("won_history", slice(None)).sum() > 0)

    @property
    def tier(self) -> str:
        """Its tier with the focal vendor."""
        return self.model.params.vendor.tiers.names[self._get("tier", 0)]

    @property
    def recruit(self) -> bool:
        """Joined during the run."""
        return self._get("joined") > 0

    def __repr__(self) -> str:
        return f"Partner(pid={self.pid}, headcount={self.headcount:.0f}, mindshare={self.mindshare:.2f})"
