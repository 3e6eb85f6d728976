"""Partner firms: who they are, how they decide, and the Mesa agent that views one of them.

All partners' state lives in one `PartnerTable` (`sim.table`: a structure of arrays, one row per
live partner); this module declares the columns a firm has. A `Partner` agent holds only its id
and reads and writes its own row, so Mesa's AgentSet tools (select, groupby, agg) see the same
numbers as the arrays. What partners do each quarter is written once, for all of them, as array
operations in this module: `generate` (who they are), `choose_effort` (where their effort goes),
`update_relationships` (what CAM time, MDF and selling do to capability and goodwill),
`record_quarter` (their accounts) and `leaving` (who quits).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import mesa
import numpy as np
from mesa.experimental.mesa_signals import ModelSignals
from scipy.special import ndtri

from sim.params import SEGMENTS, Partners, Scenario
from sim.table import REAL, PartnerTable

if TYPE_CHECKING:
    from sim.quarter import Offers
    from sim.streams import LaneStreams, Streams


def declare_columns(table: PartnerTable, n_vendors: int, n_verticals: int, pipeline_quarters: int) -> None:
    """The columns every partner has (policies add their own). Shapes exclude the partner axis."""
    portfolios = n_vendors + 1  # what a partner sells: each vendor's portfolio, and its own services
    segments = len(SEGMENTS)
    spec: dict[str, tuple[tuple[int, ...], Any]] = {
        "local_id": ((), np.int64),  # its id in its lane: the key of its random draws
        "external_id": ((), object),  # a roster's own id
        "name": ((), object),
        "tenure": ((), np.int32),  # quarters with the focal vendor
        "joined": ((), np.int32),  # the quarter it joined (the starting population: before quarter 1)
        "first_deal": ((), np.int32),  # the quarter of its first focal deal (-1: none yet)
        "engaged": ((), bool),  # a recruit that took to the vendor (activation)
        "digital": ((n_vendors,), bool),  # moved to the vendor's digital tier: no CAM time, no MDF
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
        "taste": ((portfolios,), REAL),  # fixed idiosyncratic log-attraction of each portfolio
        # its reach into demand for the focal vendor's line beyond its size (1; a roster's revenue sets it)
        "access": ((), REAL),
        # how it works with each vendor
        "effort": ((portfolios,), REAL),  # shares of capacity; sum to 1
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
        "profit": ((), REAL),  # gross profit this quarter, on everything it sells
        "profit_by_vendor": ((n_vendors,), REAL),
    }
    for name, (lead, dtype) in spec.items():
        table.add_column(name, lead, dtype, fill=None if dtype is object else (1 if name == "access" else 0))


# --------------------------------------------------------------------------- who partners are


def softmax(logits: np.ndarray) -> np.ndarray:
    """Shares over the first axis (portfolios, segments, ...) for each partner (last axis)."""
    weights = np.exp(logits - logits.max(axis=0))
    weights /= weights.sum(axis=0)
    return weights


def generate(params: Scenario, sources: list[tuple[Streams, np.ndarray]], n_vendors: int,
             stream: str = "population", quarter: int = 0, population: Partners | None = None) -> dict[str, np.ndarray]:
    """Draw partner firms: for each (streams, keys) source, firms keyed by `keys` in that lane's
    streams. Each firm's attributes come from its own row of the stream's block, so they do not
    depend on how many other firms are drawn, nor on other lanes.

    `population` (default: params.partners) sets the size, segment and vertical distributions;
    recruits use the recruit profile laid over it. The founding population is keyed by the
    partners' ids in their lane; a cohort of recruits has a stream of its own (`stream`,
    `quarter`), keyed by position in the cohort.
    """
    p = population or params.partners
    market = params.market
    n_verticals = len(market.verticals)
    portfolios = n_vendors + 1
    segments = len(SEGMENTS)
    widths = {"size": 1, "roles": 3, "role_rounding": 2, "segments": segments, "verticals": n_verticals,
              "taste": portfolios,
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
    segment_mix = softmax(segment_logits + p.segment_spread * normal("segments", (segments,)))

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
        "taste": p.attraction.idiosyncrasy * normal("taste", (portfolios,)),
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
    """log attraction of each portfolio (vendors', then own services), portfolios x partners.

    Multiplicative competitive interaction (Bell, Keeney & Little 1975): attraction is
    (profit rate / reference)^b_p x exp(b_a x alignment) x capability^b_c x goodwill^b_g x taste.
    """
    a = params.partners.attraction
    n_vendors = offers.margin.shape[0]
    cap_ref = params.partners.capability.initial + 0.05
    good_ref = a.reference_goodwill + 0.05
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

    G' = (1-d_G) G + d_G g0 + (1-G)(a_h h~ + a_M m~) - conflict G          (Nerlove-Arrow, bounded)
    C' = (1-d_C) C + (1-C) min(1, eta s (0.25 + technical / headcount) + c_h (v e~ + (1 - v) h~) + training)
                                                                          (learning with lapse)
    with diminishing returns h~ = 1 - exp(-hours / h_half), m~ = 1 - exp(-MDF / m_half); eta s (...) is the
    training partners fund themselves on the lines they sell (self_training x effort share s, more with more
    technical staff), c_h (...) what CAM time brings: on the share v of its business in high-velocity (SMB) deals
    through enablement, e~ = 1 - exp(-hours / e_half) with a shorter half (returns diminish faster), on the rest
    through deal coaching (h~); training what certification funding and tier certifying buy.
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
    # CAM time reaches high-velocity partners through enablement, whose returns diminish faster (a few hours of
    # portal and playbook training do most of it); the rest of the partner's business through deal coaching
    enablement = -np.expm1(offers.cam_hours * (-1.0 / c.enablement_half_hours))
    velocity = table.segment_mix[0]  # the share of its business in high-velocity (SMB) deals
    learning += c.cam_effect * (velocity * enablement + (1.0 - velocity) * cam)
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


def leaving(table: PartnerTable, params: Scenario, streams: LaneStreams, quarter: int) -> np.ndarray:
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

    @staticmethod
    def remove_many(model: mesa.Model, agents) -> None:
        """Remove these partners' agents from the model, as `Agent.remove` does one by one.

        When nothing listens for Mesa's agent-removed signal and no dataset tracks partners, that signal has nobody
        to tell (batched or suppressed, it would reach no subscriber either), and the agents leave Mesa's two
        registries in one pass: a tenth of the cost per agent, which at 100,000 partners was a tenth of a quarter's
        step. Otherwise each agent is removed as Mesa removes it, with its signal."""
        if Partner._datasets or model._has_subscribers("agents", ModelSignals.AGENT_REMOVED):
            for agent in agents:
                agent.remove()
            return
        by_type, everyone = model.agents_by_type[Partner]._agents, model._all_agents._agents
        for agent in agents:
            del by_type[agent]
            del everyone[agent]

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
        """Shares of its capacity on each vendor's portfolio and, last, its own services."""
        return self._get("effort", slice(None))

    @effort.setter
    def effort(self, shares) -> None:
        shares = np.asarray(shares, dtype=float)
        portfolios = self.model.partners.buffer("effort").shape[0]
        if shares.shape != (portfolios,) or np.any(shares < 0) or not np.isclose(shares.sum(), 1.0):
            raise ValueError(f"effort must be {portfolios} non-negative shares (vendors, then services) summing to 1")
        self._set("effort", shares, slice(None))

    @property
    def mindshare(self) -> float:
        """Share of its effort on the focal vendor's portfolio."""
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
