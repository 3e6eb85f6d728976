"""Vendors: the focal vendor and its rivals, one class, each running a program of policies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.policies import Ledger, Offers, Sales, build_program

if TYPE_CHECKING:
    from sim.params import Program

# instruments whose cost is booked against revenue (the rest, like CAM time, is opex)
NOT_CONTRA_REVENUE = {"cam"}


class Vendor(mesa.Agent):
    """A vendor; row `index` of every vendors x partners array (0 is the focal vendor)."""

    def __init__(self, model: mesa.Model, index: int, program: Program, name: str):
        super().__init__(model)
        self.index = index
        self.name = name
        self.program = program
        self.policies = build_program(program, index, model)
        self.revenue = 0.0
        self.net_revenue = 0.0
        self.spend: dict[str, float] = {}

    @property
    def is_focal(self) -> bool:
        return self.index == 0

    def plan_quarter(self, offers: Offers) -> None:
        """Set this quarter's terms: every policy adds its part of the offer."""
        for policy in self.policies:
            policy.offer(self.model, offers)

    def settle(self, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """Pay what the quarter earned and book revenue net of discounts and incentives."""
        for policy in self.policies:
            policy.settle(self.model, offers, sales, ledger)
        j = self.index
        self.spend = dict(ledger.spend[j])
        self.revenue = float(sales.revenue[j].sum(dtype=np.float64))
        discount = float(offers.margin[j].astype(np.float64) @ sales.revenue[j])
        incentives = sum(v for k, v in self.spend.items() if k not in NOT_CONTRA_REVENUE)
        self.net_revenue = self.revenue - discount - incentives

    def __repr__(self) -> str:
        return f"Vendor({self.name!r}, index={self.index})"
