"""Vendors: the focal vendor and its rivals, one class, each running a programme of policies.

A vendor's phases carry the names of its policies' hooks (see `sim.policies.Policy`): the model
calls `vendor.plan(offers)`, and the vendor calls `policy.plan(model, offers)` on each policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np

from sim.policies import booked_as, build_program
from sim.policies.tiers import TierProgram
from sim.quarter import FOCAL, Ledger, Offers, Sales

if TYPE_CHECKING:
    from sim.params import Program


class Vendor(mesa.Agent):
    """A vendor; row `index` of every vendors x partners array (0 is the focal vendor)."""

    def __init__(self, model: mesa.Model, index: int, program: Program, name: str):
        super().__init__(model)
        self.index = index
        self.name = name
        self.program = program
        self.policies = build_program(program, index, model)
        for policy in self.policies:  # the partner columns the policies keep, before any partner exists
            for column, spec in policy.columns.items():
                model.partners.add_column(column, (model.n_vendors,) if spec.per_vendor else (), spec.dtype)
        self.tiers = next(p for p in self.policies if isinstance(p, TierProgram))
        self.revenue = 0.0
        self.net_revenue = 0.0
        self.direct_revenue = 0.0
        self.discount = 0.0
        self.spend: dict[str, float] = {}
        self.margin_history: list[float] = []  # list margin (base + product lines) by quarter

    @property
    def list_margin(self) -> float:
        return self.program.margin.base + self.program.margin.line_points()

    @property
    def is_focal(self) -> bool:
        return self.index == FOCAL

    def warm_up(self) -> None:
        """A round of the warm start has settled partners' effort and relationships."""
        for policy in self.policies:
            policy.warm_up(self.model)

    def begin(self) -> None:
        """The starting population is in place."""
        for policy in self.policies:
            policy.begin(self.model)

    def parameters_changed(self) -> None:
        """A schedule entry has just changed parameters."""
        for policy in self.policies:
            policy.parameters_changed(self.model)

    def plan(self, offers: Offers) -> None:
        """Set this quarter's terms: every policy adds its part of the offer."""
        for policy in self.policies:
            policy.plan(self.model, offers)
        quarter = self.model.quarter
        if quarter < len(self.margin_history):  # the warm start plans quarter 0 several times
            self.margin_history[quarter] = self.list_margin
        else:
            self.margin_history.append(self.list_margin)

    def time_deals(self, sales: Sales) -> None:
        """Partners move closing dates where this vendor's programme makes it pay."""
        for policy in self.policies:
            policy.time_deals(self.model, sales)

    def settle(self, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """Pay what the quarter earned and book revenue net of discounts and the incentives booked against it."""
        for policy in self.policies:
            policy.settle(self.model, offers, sales, ledger)
        j = self.index
        table = self.model.partners
        self.spend = dict(ledger.spend[j])
        self.revenue = ledger.total(sales.revenue[j])
        self.direct_revenue = sales.direct[j].astype(np.float64)
        self.discount = table.dot(offers.margin[j].astype(np.float64), sales.revenue[j])
        contra = booked_as("contra_revenue")
        incentives = sum((v for k, v in self.spend.items() if k in contra), np.zeros(table.lanes))
        self.net_revenue = self.revenue - self.discount - incentives

    def review(self, ledger: Ledger) -> None:
        """End of quarter: tier review, terminations."""
        for policy in self.policies:
            policy.review(self.model, ledger)

    def recruit(self, ledger: Ledger) -> None:
        """End of quarter, after partners have left: new partners."""
        for policy in self.policies:
            policy.recruit(self.model, ledger)

    def join(self, rows: np.ndarray) -> None:
        """Partners at `rows` have just joined."""
        for policy in self.policies:
            policy.join(self.model, rows)

    def __repr__(self) -> str:
        return f"Vendor({self.name!r}, index={self.index})"
