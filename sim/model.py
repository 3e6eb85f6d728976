"""The channel: a focal vendor, its rivals and the partner firms that sell for them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import metrics, roster
from sim.market import Market
from sim.params import Scenario, applied_order, assign_paths, build_scenario
from sim.partners import (
    Partner,
    choose_effort,
    declare_columns,
    firm_profile,
    generate,
    leaving,
    record_quarter,
    selling_capacity,
    softmax,
    update_relationships,
)
from sim.quarter import FOCAL, Ledger, Offers, Sales
from sim.streams import LaneStreams, poisson_from_uniform
from sim.table import PartnerTable
from sim.vendors import Vendor


def resolve_seed(rng: Any) -> int:
    """An integer seed from what Mesa accepts as `rng` (None draws one from the OS)."""
    if rng is None:
        return int(np.random.SeedSequence().generate_state(1, np.uint32)[0])
    if isinstance(rng, (int, np.integer)):
        if rng < 0:
            raise ValueError(f"rng = {rng}: a seed must be a non-negative integer")
        return int(rng)
    if isinstance(rng, np.random.SeedSequence):
        return int(rng.generate_state(1, np.uint32)[0])
    if isinstance(rng, (np.random.Generator, np.random.BitGenerator)):
        generator = rng if isinstance(rng, np.random.Generator) else np.random.Generator(rng)
        return int(generator.integers(2**32))
    raise ValueError(f"rng = {rng!r}: give an integer seed, a SeedSequence, a Generator or None")


def _kpi(model: ChannelModel, name: str) -> float:
    return model.kpis[name]



def metric_names(params: Scenario) -> list[str]:
    """The quarterly metrics a run of `params` has, in column order (named after its verticals, rivals,
    instruments and tiers), from a model of a few partners built and not run."""
    small = build_scenario(params, {} if params.partners.roster else {"partners.count": 5})
    return metrics.names(ChannelModel(small, rng=0))[1:]


class ChannelModel(mesa.Model):
    """One quarter per step.

    ChannelModel(scenario=None, *, rng=None, record_partners=False, **overrides)

    `scenario` is a `Scenario`, a dict of one, or None for the default channel; overrides
    name parameters by dotted path written with `__` (``vendor__rebate__rate=0.04``).

    `seeds=[s1, s2, ...]` instead runs several replicates side by side in one model, one *lane* per
    seed, for sweeps: each is the same, bit for bit, as the channel run alone on its seed, and their
    quarterly metrics come from `lane_frames()`. Such a model keeps no Partner agents.
    """

    def __init__(self, scenario: Scenario | Mapping[str, Any] | None = None, *, rng: Any = None,
                 record_partners: bool = False, seeds: list[int] | None = None, agents: bool | None = None,
                 **overrides: Any):
        if isinstance(scenario, mesa.experimental.scenarios.Scenario):
            scenario = None  # Mesa's own (empty) scenario object, passed by SolaraViz on reset
        params = build_scenario(scenario, {key.replace("__", "."): v for key, v in overrides.items()})
        seeds = [resolve_seed(rng)] if seeds is None else [resolve_seed(s) for s in seeds]
        if not seeds:
            raise ValueError("seeds: give at least one")
        side_by_side = len(seeds) > 1
        super().__init__(rng=seeds[0])
        self.params: Scenario = params
        self.seed = seeds[0]
        self.seeds = seeds
        self.lanes = len(seeds)
        self.agents_kept = (not side_by_side) if agents is None else agents
        self.streams = LaneStreams(seeds)
        self.quarter = 0
        self.market = Market(params)
        self.n_vendors = 1 + params.rivals.count
        self.partners = PartnerTable(capacity=params.partners.count * self.lanes, lanes=self.lanes)
        self.streams.table = self.partners
        declare_columns(self.partners, self.n_vendors, len(params.market.verticals), self.market.pipeline_quarters)
        self._next_pid = 0
        self._next_local = np.zeros(self.lanes, np.int64)

        Vendor(self, FOCAL, params.vendor, name=params.vendor.name)
        for i, name in enumerate(params.rivals.names(), start=1):  # each runs its own programme (rivals.each)
            Vendor(self, i, params.rivals.program_of(name), name=name)
        self.vendors: list[Vendor] = sorted(self.agents_by_type[Vendor], key=lambda v: v.index)

        self.roster = roster.read(params.partners.roster, params) if params.partners.roster else None
        count = len(self.roster) if self.roster is not None else params.partners.count
        keys = np.arange(count, dtype=np.int64)
        founders = generate(params, [(self.streams.lane(c), keys) for c in range(self.lanes)], self.n_vendors)
        del founders["activation_draw"]  # founders are engaged
        if self.roster is not None:  # every lane starts from the same firms
            founders = roster.apply(founders, self.roster, params, self.lanes)
        years = -np.log(np.concatenate([self.streams.lane(c).uniform("population.tenure", 0, keys)
                                        for c in range(self.lanes)]).astype(np.float64))
        founders["tenure"] = 4 + np.floor(12.0 * years).astype(np.int32)  # established partners: 4+ quarters
        founders["joined"] = -founders["tenure"]
        founders["first_deal"] = np.zeros(count * self.lanes, np.int32)  # dealt before the run began
        self.add_partners(self._identify(founders, count))
        self._warm_start(rounds=30 if self.roster is not None else 12)  # a roster's revenue is matched closely
        for vendor in self.vendors:
            vendor.begin()
        self._roster_tiers()
        self.lifecycle_history: list[list[dict[str, float]]] = [[] for _ in range(self.lanes)]

        self.kpis: dict[str, float] = {}  # the quarter just played (the first lane's)
        self.lane_kpis: list[list[dict[str, float]]] = [[] for _ in range(self.lanes)]
        self.last_offers: Offers | None = None  # the records of the quarter just played
        self.last_ledger: Ledger | None = None
        self.datacollector = mesa.DataCollector(
            model_reporters={name: partial(_kpi, name=name) for name in metrics.names(self)}
        )
        self._panel: list[list[pd.DataFrame]] | None = [[] for _ in range(self.lanes)] if record_partners else None
        self._departed: list[np.ndarray] = []  # recruits that left: lane, id, joined, first deal, quarter left
        self.running = True

    # ---- the quarter

    def step(self) -> None:
        """One quarter: each phase a method below, in this order."""
        self.quarter += 1
        self.apply_schedule()  # scenario changes that start this quarter
        offers = self.plan()  # vendors set margins, incentives, MDF, CAM hours, push
        sales = self.sell(offers)  # partners answer the offers with their effort; the market draws deals
        self.time_deals(sales)  # period ends and SPIF windows move closing dates
        ledger = self.settle(offers, sales)  # rebates, SPIFs, MDF claims paid; revenue booked net
        self.book(offers, sales, ledger)  # relationships, capability and partner accounts move on
        trading = self.measure(offers, sales, ledger)  # what the partners did this quarter
        self.review(ledger)  # tiers, terminations, exits, recruits
        self.measure(offers, sales, ledger, after_review=trading)  # the channel at the quarter's end
        if self.quarter >= self.params.quarters:
            self.running = False

    def apply_schedule(self) -> None:
        """This quarter's schedule entries, each at once as validated at load (which refused a change to anything
        fixed during a run); what the model derived from a value an entry changed is derived again."""
        for _, change in applied_order(self.params.schedule):
            if change.quarter == self.quarter:
                previous = self.params.model_copy(deep=True)
                assign_paths(self.params, change.set)
                self._rederive(previous)

    def plan(self) -> Offers:
        """Every vendor's terms for every partner."""
        offers = Offers.empty(self.partners.n, self.n_vendors, len(self.params.market.verticals))
        for vendor in self.vendors:
            vendor.plan(offers)
        return offers

    def sell(self, offers: Offers) -> Sales:
        """Partners choose their effort and the market answers it."""
        choose_effort(self.partners, offers, self.params)
        return self.market.realise(self.partners, offers, self.streams, self.quarter)

    def time_deals(self, sales: Sales) -> None:
        for vendor in self.vendors:
            vendor.time_deals(sales)

    def settle(self, offers: Offers, sales: Sales) -> Ledger:
        ledger = Ledger(self.partners, self.n_vendors)
        for vendor in self.vendors:
            vendor.settle(offers, sales, ledger)
        return ledger

    def book(self, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """What the quarter did to relationships, capability and each partner's accounts."""
        update_relationships(self.partners, offers, ledger.mdf_spent, self.params, training=offers.training,
                             conflict=ledger.conflict)
        record_quarter(self.partners, offers, sales, ledger.cash, ledger.conflict, self.params, self.quarter)

    def measure(self, offers: Offers, sales: Sales, ledger: Ledger,
                after_review: list[dict[str, float]] | None = None) -> list[dict[str, float]]:
        """Each lane's KPIs of the quarter, in two takes. Before the review: what the partners did (returned,
        one dict per lane; and the partner panel, if kept). After it (`after_review`: the KPIs the first take
        returned): who is in the channel at the end, what the programmes spent, who came and went; the
        quarter's KPIs are then complete and recorded."""
        views = self._views(offers, sales, ledger, after_review=after_review is not None)
        if after_review is None:
            trading = [metrics.compute(view) for view in views]
            if self._panel is not None:
                for lane, view in enumerate(views):
                    self._panel[lane].append(metrics.partner_rows(view))
            return trading
        trading = after_review
        for lane, view in enumerate(views):
            view.kpis = trading[lane]
            trading[lane].update(metrics.after_review(view))
            self.lane_kpis[lane].append(trading[lane])
        self.kpis = trading[0]
        self.last_offers, self.last_ledger = offers, ledger
        if self.lanes == 1:
            self.datacollector.collect(self)
        return trading

    def _views(self, offers: Offers, sales: Sales, ledger: Ledger, after_review: bool) -> list[metrics.View]:
        """What the metrics read of each lane (after the review: the partners who stay and join)."""
        trading = not after_review
        table = self.partners
        focal = self.focal
        totals = ledger.by_lane(("spend", "lifecycle") if after_review else ("usage",))  # what each take reads
        names = [v.name for v in self.vendors]
        revenue = [v.revenue.tolist() for v in self.vendors]
        instruments = metrics.instruments(self)
        out = []
        for lane, (start, stop) in enumerate(table.blocks()):
            out.append(metrics.View(
                partners=table if self.lanes == 1 else table.block(lane), quarter=self.quarter, params=self.params,
                vendor_names=names, revenue=[r[lane] for r in revenue],
                net_revenue=float(focal.net_revenue[lane]), direct_revenue=float(focal.direct_revenue[lane]),
                discount=float(focal.discount[lane]),
                offers=offers.block(start, stop) if trading else None,
                sales=sales.block(start, stop, lane) if trading else None,
                ledger=totals[lane], history=self.lifecycle_history[lane], kpis={},
                instruments=instruments,
                mdf_spent=ledger.mdf_spent[:, start:stop] if trading else None))
        return out

    def review(self, ledger: Ledger) -> None:
        """Tiers reviewed and terminations (vendors), voluntary exits (partners), then recruits."""
        start = self.partners.sizes()
        for vendor in self.vendors:
            vendor.review(ledger)
        leavers = leaving(self.partners, self.params, self.streams, self.quarter)
        ledger.count(FOCAL, "exits", leavers)
        self.remove_partners(leavers)
        for vendor in self.vendors:
            vendor.recruit(ledger)
        ledger.lifecycle[FOCAL]["start"] = start

    def _rederive(self, previous: Scenario) -> None:
        """Bring what was derived from the parameters at the start in line with their values now; untouched where
        they did not change (a run with a schedule is, up to its first change, the run without it, bit for bit)."""
        params, table = self.params, self.partners
        if params.market != previous.market:
            self.market.refresh()
        if params.partners.presales_selling != previous.partners.presales_selling:
            sales, technical = table.sales.astype(np.float64), table.technical.astype(np.float64)
            table.capacity = selling_capacity(sales, technical, params)
        segment_mix, verticals = table.segment_mix.astype(np.float64), table.verticals.astype(np.float64)
        profile, was = firm_profile(segment_mix, verticals, params), firm_profile(segment_mix, verticals, previous)
        for name, values in profile.items():  # a firm's deals per dollar follow the deal sizes, ...
            if not np.array_equal(values, was[name]):
                setattr(table, name, values)
        for vendor in self.vendors:
            vendor.parameters_changed()

    def run(self, quarters: int | None = None) -> pd.DataFrame:
        """Run `quarters` more quarters (default: to the horizon) and return the KPI table."""
        end = self.params.quarters if quarters is None else self.quarter + quarters
        while self.quarter < end:
            self.step()
        return self.kpi_frame()

    # ---- partners joining and leaving

    def _identify(self, columns: dict[str, np.ndarray], count: int) -> dict[str, np.ndarray]:
        """Ids for `count` new partners in each lane (lane by lane): unique in the model, and in
        their lane (the key of their draws)."""
        total = count * self.lanes
        columns["pid"] = np.arange(self._next_pid, self._next_pid + total, dtype=np.int64)
        columns["local_id"] = (self._next_local[:, None] + np.arange(count)).ravel()
        columns["lane"] = np.repeat(np.arange(self.lanes, dtype=np.int16), count)
        self._next_pid += total
        self._next_local += count
        return columns

    def add_partners(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        rows = self.partners.append(columns)
        if self.agents_kept:
            self.partners.buffer("agent")[rows] = [Partner(self, pid) for pid in columns["pid"]]
        return rows

    def remove_partners(self, rows: np.ndarray) -> None:
        """Partners at `rows` leave: their Mesa agents are removed and the arrays compacted."""
        if len(rows) == 0:
            return
        t = self.partners
        recruits = np.asarray(rows)[t.joined[rows] > 0]
        if recruits.size:
            self._departed.append(np.stack([t.lane_of(recruits), t.local_id[recruits], t.joined[recruits],
                                            t.first_deal[recruits], np.full(recruits.size, self.quarter)]))
        if self.agents_kept:
            Partner.remove_many(self, self.partners.buffer("agent")[rows])
        self.partners.remove(rows)

    def recruit_partners(self, count: int, recruitment, keep=None) -> np.ndarray:
        """`count` new partners in each lane, drawn from the recruit profile (a cohort's own stream); with `keep`,
        only the candidates keep(columns, lanes) picks (a budget's), lane by lane in the order drawn."""
        profile = {k: v for k, v in recruitment.profile.model_dump().items() if v is not None}
        population = self.params.partners.model_copy(update=profile)
        cohort = np.arange(count, dtype=np.int64)
        columns = generate(self.params, [(self.streams.lane(c), cohort) for c in range(self.lanes)],
                           self.n_vendors, stream="recruits", quarter=self.quarter, population=population)
        engaged = columns.pop("activation_draw") < recruitment.activation
        columns["engaged"] = engaged
        columns["taste"][FOCAL, ~engaged] = -6.0  # a recruit that never takes to the vendor's line
        columns["capability"][FOCAL] = recruitment.initial_capability
        columns["goodwill"][FOCAL] = recruitment.initial_goodwill
        columns["effort"] = softmax(columns["taste"])
        columns["tenure"] = np.zeros(engaged.size, np.int32)
        columns["joined"] = np.full(engaged.size, self.quarter, np.int32)
        columns = self._identify(columns, count)
        if keep is not None:  # the candidates passed over keep their ids unused: every recruit's draws stay its own
            kept = keep(columns, self.lanes)
            columns = {name: values[..., kept] for name, values in columns.items()}
        rows = self.add_partners(columns)
        for vendor in self.vendors:
            vendor.join(rows)
        return rows

    def _warm_start(self, rounds: int = 12) -> None:
        """Start near the steady state, so the first quarters carry no artificial ramp: effort,
        capability and goodwill settled under the opening offers, revenue history and pipeline
        filled with expected values, a year of deal history drawn."""
        table = self.partners
        table.effort = 1.0 / (self.n_vendors + 1)
        target = self._roster_column("trailing_revenue")
        for _ in range(rounds):
            offers = self.plan()
            choose_effort(table, offers, self.params, inertia=1.0)
            expected = self.market.expected_revenue(table, offers, self.quarter)
            revenue = expected.sum(axis=1)
            if target is not None:  # a roster's trailing revenue: tune each partner's taste for the vendor to it
                known = ~np.isnan(target)
                ratio = (target[known] / 4.0 + 1.0) / (revenue[FOCAL, known] + 1.0)
                # a Newton step (d ln revenue / d taste = beta (1 - share): revenue answers effort^beta), damped:
                # capability follows effort, and the partner's pursuit takes a little from its own other lines
                room = np.maximum(1.0 - table.effort[FOCAL, known], 0.05) * self.params.market.effort_exponent
                table.taste[FOCAL, known] += np.clip(0.6 * np.log(ratio) / room, -2.0, 2.0)
                # what effort cannot reach (its returns diminish), the partner's reach into demand does
                saturated = table.effort[FOCAL, known] > 0.6
                table.access[known] *= np.where(saturated, np.clip(ratio, 0.5, 2.0) ** 0.5, 1.0).astype(np.float32)
            table.revenue = revenue
            table.revenue_trend = revenue
            table.revenue_history = revenue
            table.revenue_4q = 4.0 * revenue
            update_relationships(table, offers, offers.mdf, self.params, training=offers.training,
                                 conflict=offers.conflict)
            for vendor in self.vendors:  # e.g. tiers as partners qualify at the start
                vendor.warm_up()
            self._roster_tiers()
        table.goodwill_change = 0.0
        self.market.fill_pipeline(table, expected, self.quarter)
        opportunities, win = self.market.rates(table, offers, self.quarter)
        focal_deals = (opportunities[FOCAL] * win[FOCAL]).sum(axis=0)
        for back in range(4):  # a year of focal deal history, drawn, so activity starts right
            u = self.streams.uniform("warmup.won", back + 1)
            table.won_history[back] = poisson_from_uniform(focal_deals, u)

    def _roster_tiers(self) -> None:
        tiers = self._roster_column("tier")
        if tiers is not None:  # a roster's tiers stand at the start
            known = ~np.isnan(tiers)
            self.partners.tier[FOCAL, known] = tiers[known].astype(np.int8)

    def _roster_column(self, name: str) -> np.ndarray | None:
        if self.roster is None or name not in self.roster:
            return None
        values = self.roster[name].to_numpy(dtype=float)
        return None if np.isnan(values).all() else np.tile(values, self.lanes)  # the founders, lane by lane

    # ---- data

    def kpi_frame(self) -> pd.DataFrame:
        """Quarterly KPIs, one row per quarter (the first lane's, for a model of several)."""
        if self.lanes == 1:
            return self.datacollector.get_model_vars_dataframe()
        return self.lane_frames()[0]

    def lane_frames(self) -> list[pd.DataFrame]:
        """Each lane's quarterly KPIs, in the columns and order of `kpi_frame`."""
        columns = metrics.names(self)
        return [pd.DataFrame(rows, columns=columns) for rows in self.lane_kpis]

    def partner_panel(self, lane: int = 0) -> pd.DataFrame:
        """Partner x quarter panel (tidy), when built with record_partners=True."""
        if self._panel is None:
            raise RuntimeError("build the model with record_partners=True to keep the partner panel")
        if not self._panel[lane]:
            return pd.DataFrame(columns=metrics.PANEL_COLUMNS)
        return pd.concat(self._panel[lane], ignore_index=True)

    def recruit_log(self, lane: int = 0) -> pd.DataFrame:
        """Every partner recruited during the run in `lane`: partner_id, joined (quarter), first_deal (quarter of
        its first focal deal, -1: none), left (quarter it left, -1: still in the channel) and end (the quarter the
        log was read); one row per recruit, in the order of their ids."""
        t = self.partners
        start, stop = t.blocks()[lane]
        here = np.arange(start, stop)[t.joined[start:stop] > 0]
        present = np.stack([np.full(here.size, lane), t.local_id[here], t.joined[here], t.first_deal[here],
                            np.full(here.size, -1)]).astype(np.int64)
        rows = np.concatenate([*(d.astype(np.int64) for d in self._departed), present], axis=1)
        rows = rows[1:, rows[0] == lane]
        log = pd.DataFrame(rows.T, columns=["partner_id", "joined", "first_deal", "left"])
        log["end"] = self.quarter
        return log.sort_values("partner_id", ignore_index=True)

    @property
    def focal(self) -> Vendor:
        return self.vendors[FOCAL]
