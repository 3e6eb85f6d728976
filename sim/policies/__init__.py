"""Vendor levers as small policy objects behind one interface, and the registry of them.

A vendor's programme is a list of policies, one per instrument, in the order of `PROGRAM`. Each
quarter the model runs its phases (`ChannelModel.step`) and, in each, calls every vendor's
policies by the phase's name: `plan` (add this instrument's terms to the `Offers`: margin,
expected incentives, MDF, CAM hours, push), `time_deals` (move closing dates in the `Sales`),
`settle` (pay what the quarter earned into the `Ledger`), `review` (tiers, terminations) and
`recruit`; `join` when partners join (and, before the run, `warm_up` and `begin`; `parameters_changed`
after a schedule entry). The model never names a specific instrument; policies read the tier
programme's benefits through `vendor.tiers`.

Adding an instrument is one file in this package, a class that declares what the model needs
to know of it (its parameter node, the partner columns it keeps, how its spend is booked and
which vendors run it), and one line in `PROGRAM`. The instrument (what is delivered) is kept
apart from the allocation rule (who gets it): see `sim.policies.allocation`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np

from sim.quarter import FOCAL, Ledger, Offers, Sales
from sim.table import REAL

if TYPE_CHECKING:
    from sim.model import ChannelModel

# Every instrument a vendor runs, in the order they act each quarter: "module.Class" in this package.
PROGRAM = (
    "pricing.FrontEndMargin",
    "tiers.TierProgram",
    "reactions.MatchMargin",
    "push.VerticalPush",
    "dealreg.DealRegistration",
    "rebates.VolumeRebate",
    "rebates.GrowthRebate",
    "mdf.MarketDevelopmentFunds",
    "spif.Spif",
    "spif.SpifCampaign",
    "certification.CertificationFunding",
    "coverage.CamCoverage",
    "lifecycle.Termination",
    "lifecycle.Recruitment",
    "loyalty.LoyaltyBonus",
)

Booking = Literal["contra_revenue", "operating"]


@dataclass(frozen=True)
class Column:
    """A partner column a policy keeps: one value per partner, or one per vendor and partner."""

    dtype: Any = REAL
    per_vendor: bool = True


class Policy:
    """One instrument of one vendor's programme.

    Declared by each instrument, in its class:
    - `node`: the programme's parameter table it reads (``"rebate"`` is ``vendor.rebate`` for the focal
      vendor, ``rivals.program.rebate`` for a rival); None for the whole programme. `params` reads it
      afresh, so a lever changed during a run (a scenario's schedule) takes effect from the next
      quarter; what a policy keeps from its parameters it derives again in `parameters_changed`;
    - `instrument`: the spend metric it books to (``spend_<instrument>``); "" if it spends nothing of its
      own (margin points are a price concession: they are in the discount, netted from revenue);
    - `booked_as`: how its spend is booked (an instrument with a spend metric must say; one without, must
      not): "contra_revenue" (paid to partners, netted from revenue: rebates, MDF, SPIFs, registration
      points) or "operating" (a cost of the vendor's own: CAM time, recruiting, training bought for partners);
    - `vendors`: "all", "focal" (only the focal vendor runs it: its channel's lifecycle) or "rivals";
    - `columns`: the partner columns it keeps (declared before any partner exists).
    State a policy carries from one phase to the next is set in its `__init__`.
    """

    node: ClassVar[str | None] = None
    instrument: ClassVar[str] = ""
    booked_as: ClassVar[Booking | None] = None
    vendors: ClassVar[Literal["all", "focal", "rivals"]] = "all"
    columns: ClassVar[dict[str, Column]] = {}

    def __init__(self, program: Any, vendor: int, model: ChannelModel):
        self.program = program
        self.vendor = vendor

    @property
    def params(self) -> Any:
        return self.program if self.node is None else getattr(self.program, self.node)

    @classmethod
    def runs_for(cls, vendor: int) -> bool:
        return cls.vendors == "all" or (cls.vendors == "focal") == (vendor == FOCAL)

    # ---- hooks, in the order of a run and of a quarter (every one may be left out)

    def warm_up(self, model: ChannelModel) -> None:
        """Each round of the warm start (before the run): take the state partners settle into."""

    def begin(self, model: ChannelModel) -> None:
        """Once the starting population is in place."""

    def parameters_changed(self, model: ChannelModel) -> None:
        """A schedule entry has just changed parameters (at the start of a quarter, before the plan)."""

    def plan(self, model: ChannelModel, offers: Offers) -> None:
        """Add this instrument's terms to the vendor's row of `offers`."""

    def time_deals(self, model: ChannelModel, sales: Sales) -> None:
        """After the market, before payouts: partners move closing dates (period ends, SPIF windows)."""

    def settle(self, model: ChannelModel, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """Pay out what the quarter's sales earned, into `ledger`."""

    def review(self, model: ChannelModel, ledger: Ledger) -> None:
        """End of quarter: tiers, terminations."""

    def recruit(self, model: ChannelModel, ledger: Ledger) -> None:
        """End of quarter, after partners have left: new partners."""

    def join(self, model: ChannelModel, rows: np.ndarray) -> None:
        """Partners at `rows` have just joined: set their starting state for this instrument."""


@cache
def instruments() -> tuple[type[Policy], ...]:
    """The policy classes of `PROGRAM`, in order."""
    classes = []
    for entry in PROGRAM:
        module, name = entry.rsplit(".", 1)
        classes.append(getattr(import_module(f"{__name__}.{module}"), name))
    return tuple(classes)


@cache
def booked_as(booking: Booking) -> frozenset[str]:
    """The spend metrics (instruments) booked so."""
    return frozenset(policy.instrument for policy in instruments() if policy.instrument and policy.booked_as == booking)


def build_program(program: Any, vendor: int, model: ChannelModel) -> list[Policy]:
    """The policies a vendor runs, in the order they act."""
    return [policy(program, vendor, model) for policy in instruments() if policy.runs_for(vendor)]
