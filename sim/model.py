"""The channel: a focal vendor, its rivals and the partner firms that sell for them."""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import mesa
import numpy as np
import pandas as pd

from sim import metrics
from sim.market import Market
from sim.params import Scenario, build_scenario
from sim.partners import (
    Partner,
    PartnerTable,
    choose_effort,
    declare_columns,
    generate,
    record_quarter,
    update_relationships,
)
from sim.policies import Ledger, Offers, Sales
from sim.streams import Streams, poisson_from_uniform
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


class ChannelModel(mesa.Model):
    """One quarter per step.

    ChannelModel(scenario=None, *, rng=None, record_partners=False, **overrides)

    `scenario` is a `Scenario`, a dict of one, or None for the default channel; overrides
    name parameters by dotted path written with `__` (``vendor__rebate__rate=0.04``).
    """

    def __init__(self, scenario: Scenario | Mapping[str, Any] | None = None, *, rng: Any = None,
                 record_partners: bool = False, **overrides: Any):
        if isinstance(scenario, mesa.experimental.scenarios.Scenario):
            scenario = None  # Mesa's own (empty) scenario object, passed by SolaraViz on reset
        params = build_scenario(scenario, {key.replace("__", "."): v for key, v in overrides.items()})
        seed = resolve_seed(rng)
        super().__init__(rng=seed)
        self.params: Scenario = params
        self.seed = seed
        self.streams = Streams(seed)
        self.quarter = 0
        self.market = Market(params)
        self.n_vendors = 1 + params.rivals.count
        self.partners = PartnerTable(capacity=params.partners.count)
        declare_columns(self.partners, self.n_vendors, len(params.market.verticals), self.market.pipeline_quarters)
        self._next_pid = 0

        Vendor(self, 0, params.vendor, name=params.vendor.name)
        for i in range(params.rivals.count):
            Vendor(self, i + 1, params.rivals.program, name=f"{params.rivals.program.name}_{i + 1}")
        self.vendors: list[Vendor] = sorted(self.agents_by_type[Vendor], key=lambda v: v.index)

        self.add_partners(generate(params, self.streams, self._new_pids(params.partners.count), self.n_vendors))
        self._warm_start()

        self.kpis: dict[str, float] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={name: partial(_kpi, name=name) for name in metrics.names(self)}
        )
        self._panel: list[pd.DataFrame] | None = [] if record_partners else None
        self.running = True

    # ---- the quarter

    def step(self) -> None:
        self.quarter += 1
        offers = self.plan_programs()  # vendors set margins, incentives, MDF, CAM hours, push
        sales = self.work_the_market(offers)  # partners answer the offers; deals happen
        ledger = self.settle_money(offers, sales)  # rebates, MDF claims paid
        self.book_quarter(offers, sales, ledger)  # relationships and partner accounts move on
        self.kpis = metrics.compute(self, offers, sales, ledger)
        self.datacollector.collect(self)
        if self._panel is not None:
            self._panel.append(metrics.partner_rows(self))
        if self.quarter >= self.params.quarters:
            self.running = False

    def plan_programs(self) -> Offers:
        offers = Offers.empty(self.partners.n, self.n_vendors, len(self.params.market.verticals))
        for vendor in self.vendors:
            vendor.plan_quarter(offers)
        return offers

    def work_the_market(self, offers: Offers) -> Sales:
        """Partners choose their effort and the market answers it."""
        choose_effort(self.partners, offers, self.params)
        return self.market.realise(self.partners, offers, self.streams, self.quarter)

    def book_quarter(self, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """What the quarter did to relationships, capability and each partner's accounts."""
        update_relationships(self.partners, offers, ledger.mdf_spent, self.params, training=offers.training)
        record_quarter(self.partners, offers, sales, ledger.cash, self.params, self.quarter)

    def settle_money(self, offers: Offers, sales: Sales) -> Ledger:
        ledger = Ledger(self.partners.n, self.n_vendors)
        for vendor in self.vendors:
            vendor.settle(offers, sales, ledger)
        return ledger

    def run(self, quarters: int | None = None) -> pd.DataFrame:
        """Run `quarters` more quarters (default: to the horizon) and return the KPI table."""
        end = self.params.quarters if quarters is None else self.quarter + quarters
        while self.quarter < end:
            self.step()
        return self.kpi_frame()

    # ---- partners joining

    def _new_pids(self, count: int) -> np.ndarray:
        pids = np.arange(self._next_pid, self._next_pid + count, dtype=np.int64)
        self._next_pid += count
        return pids

    def add_partners(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        rows = self.partners.append(columns)
        self.partners._buffers["agent"][rows] = [Partner(self, pid) for pid in columns["pid"]]
        return rows

    def _warm_start(self, rounds: int = 8) -> None:
        """Start near the steady state, so the first quarters carry no artificial ramp: effort,
        capability and goodwill settled under the opening offers, revenue history and pipeline
        filled with expected values, a year of deal history drawn."""
        table = self.partners
        table.effort = 1.0 / (self.n_vendors + 1)
        for _ in range(rounds):
            offers = self.plan_programs()
            choose_effort(table, offers, self.params, inertia=1.0)
            expected = self.market.expected_revenue(table, offers, self.quarter)
            revenue = expected.sum(axis=1)
            table.revenue = revenue
            table.revenue_trend = revenue
            table.revenue_history = revenue
            table.revenue_4q = 4.0 * revenue
            table.mdf_stock = offers.mdf / (1.0 - self.params.vendor.mdf.carryover)
            update_relationships(table, offers, offers.mdf, self.params, training=offers.training)
        self.market.fill_pipeline(table, expected, self.quarter)
        opportunities, win = self.market.rates(table, offers, self.quarter)
        focal_deals = (opportunities[0] * win[0]).sum(axis=0)
        for back in range(4):  # a year of focal deal history, drawn, so activity starts right
            u = self.streams.uniform("warmup.won", back + 1, table.pid)
            table.won_history[back] = poisson_from_uniform(focal_deals, u)

    # ---- data

    def kpi_frame(self) -> pd.DataFrame:
        """Quarterly KPIs, one row per quarter."""
        return self.datacollector.get_model_vars_dataframe()

    def partner_panel(self) -> pd.DataFrame:
        """Partner x quarter panel (tidy), when built with record_partners=True."""
        if self._panel is None:
            raise RuntimeError("build the model with record_partners=True to keep the partner panel")
        if not self._panel:
            return pd.DataFrame(columns=metrics.PANEL_COLUMNS)
        return pd.concat(self._panel, ignore_index=True)

    @property
    def focal(self) -> Vendor:
        return self.vendors[0]
