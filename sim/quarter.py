"""The quarter's records: what the vendors offered, what the market sold, what the programmes paid.

A quarter passes three records from phase to phase (see `ChannelModel.step`): the vendors'
`Offers` (planned), the market's `Sales` (sold, then retimed), and the `Ledger` of money and
hours the programmes moved (settled, then the review adds who came and went). Arrays are
vendors x partners unless noted; row 0 is the focal vendor.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from sim.table import REAL, Lanes

FOCAL = 0  # the focal vendor's row in every vendors x partners array


@dataclass
class Offers:
    """What every vendor offers every partner this quarter (vendors x partners unless noted)."""

    margin: np.ndarray  # front-end margin rate on revenue (tier points included)
    registration: np.ndarray  # expected deal-registration points per revenue dollar
    incentive: np.ndarray  # expected incentive per marginal revenue dollar
    mdf: np.ndarray  # MDF allocated, dollars
    cam_hours: np.ndarray  # CAM hours given
    training: np.ndarray  # certification training funded (capability units)
    demand: np.ndarray  # multiplier on the vendor's pursuit at the partner (onboarding ramp)
    generated: np.ndarray  # demand the partner's demand generation creates for itself: a multiplier on its share
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
                   training=zeros(), demand=ones(), generated=ones(), kept=ones(), conflict=zeros(),
                   push=np.ones((vendors, verticals)))


@dataclass
class Sales:
    """What the market produced this quarter (vendors [x segments] x partners)."""

    revenue: np.ndarray  # closed this quarter
    revenue_by_segment: np.ndarray
    won_deals: np.ndarray  # deals signed this quarter (some close later)
    won_by_segment: np.ndarray
    opportunities: np.ndarray  # expected opportunities worked
    direct: np.ndarray  # vendors x lanes: won by the vendor's direct sales (of the shared demand, and registered deals)
    unserved: np.ndarray  # lanes: addressable demand nobody served, dollars at base win rates

    def block(self, start: int, stop: int, lane: int) -> Sales:
        """The sales of partners [start, stop) of `lane` (views)."""
        def part(key, value):
            if key == "direct":
                return value[:, lane:lane + 1]
            return value[lane:lane + 1] if key == "unserved" else value[..., start:stop]
        return Sales(**{k: part(k, v) for k, v in vars(self).items()})


class Ledger:
    """Money and hours moved by the programmes this quarter, and who came and went.

    Per partner: `cash` paid, `mdf_spent`, `conflict` (vendors x partners). Totals are per lane
    (arrays over the model's lanes), by vendor: `spend[vendor][instrument]`, `budget[vendor][instrument]`,
    `usage[vendor][quantity]`, `lifecycle[vendor][event]` (the partners a vendor's channel gained and lost).
    """

    def __init__(self, table: Lanes, vendors: int):
        self.table = table
        self.lanes = table.lanes
        partners = table.n
        self.cash = np.zeros((vendors, partners), dtype=REAL)  # paid to partners (rebates, SPIFs, ...)
        self.mdf_spent = np.zeros((vendors, partners), dtype=REAL)  # MDF claimed and spent on demand generation
        self.conflict = np.zeros((vendors, partners), dtype=REAL)  # goodwill lost to direct-sales overrides
        zeros = lambda: np.zeros(self.lanes)  # noqa: E731
        self.spend: dict[int, dict[str, np.ndarray]] = defaultdict(lambda: defaultdict(zeros))
        self.budget: dict[int, dict[str, np.ndarray]] = defaultdict(dict)
        self.usage: dict[int, dict[str, np.ndarray]] = defaultdict(lambda: defaultdict(zeros))
        self.lifecycle: dict[int, dict[str, np.ndarray]] = defaultdict(lambda: defaultdict(zeros))

    def total(self, values: np.ndarray) -> np.ndarray:
        """Per-lane sums of a per-partner quantity."""
        return self.table.sums(values)

    def pay(self, vendor: int, instrument: str, amounts: np.ndarray) -> None:
        """Cash to partners, counted as the instrument's spend."""
        self.cash[vendor] += amounts
        self.spend[vendor][instrument] += self.total(amounts)

    def charge(self, vendor: int, instrument: str, dollars) -> None:
        """Spend that does not reach partners as cash (CAM time, MDF paid to marketing); one amount for
        every lane, or one per lane."""
        self.spend[vendor][instrument] += dollars

    def count(self, vendor: int, event: str, rows: np.ndarray) -> None:
        """Partners at `rows` joined or left the vendor's channel (or moved within it) by `event`."""
        self.lifecycle[vendor][event] += np.bincount(self.table.lane_of(rows), minlength=self.lanes)

    def by_lane(self, tables: tuple[str, ...] = ("spend", "budget", "usage", "lifecycle")) -> list[dict]:
        """Each lane's totals of `tables`, as plain numbers (an amount given once stands for every lane)."""
        k = self.lanes

        def split(value) -> list[float]:
            array = np.asarray(value, dtype=float)
            if array.shape == (k,):
                return array.tolist()
            return np.broadcast_to(array, (k,)).tolist()

        tables = {name: {v: {key: split(x) for key, x in d.items()} for v, d in getattr(self, name).items()}
                  for name in tables}
        return [{name: {v: {key: (int(x[c]) if name == "lifecycle" else x[c]) for key, x in d.items()}
                        for v, d in table.items()}
                 for name, table in tables.items()} for c in range(k)]
