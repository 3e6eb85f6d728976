"""Vendor levers as small policy objects behind one interface.

A vendor's program is a list of policies. Each quarter the model asks every policy to
`offer` (what effort will pay: margin, expected incentives, MDF, CAM hours, push), partners
answer by moving their effort, the market realises sales, and then every policy `settles`
(pays rebates, MDF claims, ...) into the quarter's `Ledger`. The model never names a
specific instrument; adding one is adding a policy class to a family module and to
`build_program`.

The instrument (what is delivered) is kept apart from the allocation rule (who gets it):
see `sim.policies.allocation`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sim import channels

REAL = np.float32  # per-partner quantities: half the memory traffic of float64, ample precision

if TYPE_CHECKING:
    from sim.model import ChannelModel
    from sim.params import Program


@dataclass
class Offers:
    """What every vendor offers every partner this quarter (vendors x partners unless noted)."""

    margin: np.ndarray  # front-end margin rate on revenue (tier points included)
    registration: np.ndarray  # expected deal-registration points per revenue dollar
    incentive: np.ndarray  # expected incentive per marginal revenue dollar
    mdf: np.ndarray  # MDF allocated, dollars
    cam_hours: np.ndarray  # CAM hours given
    training: np.ndarray  # certification training funded (capability units)
    demand: np.ndarray  # multiplier on the partner's opportunity flow (demand generation, onboarding)
    kept: np.ndarray  # share of won value the partner keeps (the rest is taken by direct sales)
    conflict: np.ndarray  # channel conflict the terms carry (goodwill lost per quarter, as a share)
    push: np.ndarray  # vendors x verticals, relative push

    def block(self, start: int, stop: int) -> Offers:
        """The offers to partners [start, stop) (views)."""
        return Offers(**{k: v if k == "push" else v[..., start:stop] for k, v in vars(self).items()})

    @classmethod
    def empty(cls, partners: int, vendors: int, verticals: int) -> Offers:
        def zeros():
            return np.zeros((vendors, partners), dtype=REAL)

        def ones():
            return np.ones((vendors, partners), dtype=REAL)

        return cls(margin=zeros(), registration=zeros(), incentive=zeros(), mdf=zeros(), cam_hours=zeros(),
                   training=zeros(), demand=ones(), kept=ones(), conflict=zeros(), push=np.ones((vendors, verticals)))


@dataclass
class Sales:
    """What the market produced this quarter (vendors [x segments] x partners)."""

    revenue: np.ndarray  # closed this quarter
    revenue_by_segment: np.ndarray
    won_deals: np.ndarray  # deals signed this quarter (some close later)
    won_by_segment: np.ndarray
    opportunities: np.ndarray  # expected opportunities worked
    direct: np.ndarray  # vendors x channels: won value direct sales took from partners' registered deals

    def block(self, start: int, stop: int, channel: int) -> Sales:
        """The sales of partners [start, stop) of `channel` (views)."""
        return Sales(**{k: v[:, channel:channel + 1] if k == "direct" else v[..., start:stop]
                        for k, v in vars(self).items()})


class Ledger:
    """Money and hours moved by the programs this quarter.

    Totals are per channel (arrays over the model's channels): `spend[vendor][instrument]`,
    `budget[vendor][instrument]`, `usage[vendor][quantity]`, `lifecycle[event]`.
    """

    def __init__(self, table, vendors: int):
        self.table = table
        self.channels = table.channels
        partners = table.n
        self.cash = np.zeros((vendors, partners), dtype=REAL)  # paid to partners (rebates, SPIFs, ...)
        self.mdf_spent = np.zeros((vendors, partners), dtype=REAL)  # MDF claimed and spent on demand generation
        self.conflict = np.zeros((vendors, partners), dtype=REAL)  # goodwill lost to direct-sales overrides
        zeros = lambda: np.zeros(self.channels)  # noqa: E731
        self.lifecycle: dict[str, np.ndarray] = defaultdict(zeros)  # recruits, exits, terminations, ...
        self.spend: dict[int, dict[str, np.ndarray]] = defaultdict(lambda: defaultdict(zeros))
        self.budget: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        self.usage: dict[int, dict[str, np.ndarray]] = defaultdict(lambda: defaultdict(zeros))

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per-channel sums of a per-partner quantity."""
        return channels.sums(self.table, values)

    def pay(self, vendor: int, instrument: str, amounts: np.ndarray) -> None:
        """Cash to partners, counted as the instrument's spend."""
        self.cash[vendor] += amounts
        self.spend[vendor][instrument] += self.total(amounts)

    def charge(self, vendor: int, instrument: str, dollars) -> None:
        """Spend that does not reach partners as cash (CAM time, MDF paid to marketing); one amount for
        every channel, or one per channel."""
        self.spend[vendor][instrument] += dollars

    def by_channel(self) -> list[dict]:
        """Each channel's totals, as plain numbers (an amount given once stands for every channel)."""
        k = self.channels

        def split(value) -> list[float]:
            return np.broadcast_to(np.asarray(value, dtype=float), (k,)).tolist()

        tables = {name: {v: {key: split(x) for key, x in d.items()} for v, d in getattr(self, name).items()}
                  for name in ("spend", "budget", "usage")}
        lifecycle = {key: split(x) for key, x in self.lifecycle.items()}
        return [{**{name: {v: {key: x[c] for key, x in d.items()} for v, d in table.items()}
                        for name, table in tables.items()},
                 "lifecycle": {key: int(x[c]) for key, x in lifecycle.items()}} for c in range(k)]


class Policy:
    """One instrument of one vendor's program.

    `params` is the instrument's node of the parameter tree; it is read every quarter, so a
    lever changed during a run (a scenario's schedule) takes effect from the next quarter; what a
    policy keeps from its parameters it derives again in `parameters_changed`.
    """

    instrument: ClassVar[str] = ""  # the spend metric it books to ("" if none)

    def __init__(self, params: Any, vendor: int, model: ChannelModel):
        self.params = params
        self.vendor = vendor
        self.prepare(model)

    def prepare(self, model: ChannelModel) -> None:
        """Declare per-partner state columns this policy keeps (before partners exist)."""

    def begin(self, model: ChannelModel) -> None:
        """Once the starting population is in place."""

    def parameters_changed(self, model: ChannelModel) -> None:
        """A schedule entry has just changed parameters (at the start of a quarter, before the offers)."""

    def offer(self, model: ChannelModel, offers: Offers) -> None:
        """Add this instrument's terms to the vendor's row of `offers`."""

    def timing(self, model: ChannelModel, sales: Sales) -> None:
        """After the market, before payouts: partners move closing dates (period ends, SPIF windows)."""

    def settle(self, model: ChannelModel, offers: Offers, sales: Sales, ledger: Ledger) -> None:
        """Pay out what the quarter's sales earned, into `ledger`."""

    def review(self, model: ChannelModel, ledger: Ledger) -> None:
        """End of quarter: tiers, terminations."""

    def recruit(self, model: ChannelModel, ledger: Ledger) -> None:
        """End of quarter, after partners have left: new partners."""

    def joined(self, model: ChannelModel, rows: np.ndarray) -> None:
        """Partners at `rows` have just joined: set their starting state for this instrument."""


def build_program(program: Program, vendor: int, model: ChannelModel) -> list[Policy]:
    """The policies a vendor runs, in the order they act."""
    from sim.policies.certification import CertificationFunding
    from sim.policies.coverage import CamCoverage
    from sim.policies.dealreg import DealRegistration
    from sim.policies.lifecycle import Recruitment, Termination
    from sim.policies.mdf import MarketDevelopmentFunds
    from sim.policies.pricing import FrontEndMargin
    from sim.policies.push import VerticalPush
    from sim.policies.reactions import MatchMargin
    from sim.policies.rebates import GrowthRebate, VolumeRebate
    from sim.policies.spif import Spif
    from sim.policies.tiers import TierProgram

    return [
        FrontEndMargin(program.margin, vendor, model),
        TierProgram(program.tiers, vendor, model),
        MatchMargin(program.reaction, vendor, model),
        VerticalPush(program, vendor, model),
        DealRegistration(program.deal_registration, vendor, model),
        VolumeRebate(program.rebate, vendor, model),
        GrowthRebate(program.growth_rebate, vendor, model),
        MarketDevelopmentFunds(program.mdf, vendor, model),
        Spif(program, vendor, model),
        CertificationFunding(program.certification, vendor, model),
        CamCoverage(program.cams, vendor, model),
        Termination(program.termination, vendor, model),
        Recruitment(program.recruitment, vendor, model),
    ]
