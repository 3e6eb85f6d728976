"""The parameter tree: the single source of every parameter, its default and its bounds.

Every parameter has a dotted path (``vendor.rebate.rate``); the model accepts overrides
by that path written with ``__`` (``vendor__rebate__rate=0.04``), scenario files and the
CLI address the same paths. Where a default comes from practice or the literature, the
comment names the source; MODEL.md explains each one. Walking the paths of a tree (checking, setting,
merging, messages from validation errors) is `sim.tree`'s; here it is given `Scenario` as its root.
"""

from __future__ import annotations

import copy
import math
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_core import core_schema

import sim.tree
from sim.outputs import SLUG_RULE, is_slug
from sim.policies import instruments
from sim.tree import (
    ParameterError,
    Partial,
    child,
    copy_into,
    deep_copy,
    dict_type,
    dump,
    explain,
    merge,
    partial,
    problem_path,
    set_path,
    submodel,
    suggest,
)

SEGMENTS = ("smb", "midmarket", "enterprise")
DEFAULT_VERTICALS = ("manufacturing", "healthcare", "finance", "public_sector", "retail")
VELOCITIES = ("high", "low")
# a partner is high-velocity when its expected sales cycle is under half a quarter: most deals close within the
# quarter they are worked (Partner.velocity_class)
HIGH_VELOCITY_CYCLE = 0.5

# Every number of the tree is bounded, far beyond any real channel but tight enough that the model's
# float32 partner arrays and int32 deal counts stay finite at any combination of accepted values.
MONEY_MAX = 1e12  # dollars: a budget a quarter, a threshold, a revenue requirement, a deal's worth of cash
HEADCOUNT_MAX = 1e5  # people in one partner firm
QUARTERS_MAX = 400  # the longest horizon
PARTNERS_MAX = 2_000_000  # partners in one population
DEMAND_GROWTH_MAX = 1_000.0  # what growth compounded over the horizon may multiply demand by
RECRUITS_MAX = 100_000  # partners recruited a quarter

Share = Annotated[float, Field(ge=0.0, le=1.0)]
Money = Annotated[float, Field(ge=0.0, le=MONEY_MAX)]
Headcount = Annotated[float, Field(ge=1.0, le=HEADCOUNT_MAX)]  # people in a firm
Relative = Annotated[float, Field(ge=0.0, le=1_000.0)]  # a relative weight: 1 is neutral
Lean = Annotated[float, Field(ge=0.001, le=1_000.0)]  # a relative weight whose log is taken
Slope = Annotated[float, Field(ge=0.0, le=20.0)]  # a logit weight or an exponent
Spread = Annotated[float, Field(ge=0.0, le=10.0)]  # a standard deviation on a log or log-odds scale
Effect = Annotated[float, Field(ge=0.0, le=10.0)]  # an effect on a [0, 1] state a quarter (1+ saturates)
ForecastCV = Annotated[float, Field(ge=0.01, le=10.0)]  # a partner's uncertainty about its period revenue
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


@dataclass(frozen=True)
class CapBounds:
    """Bounds of a budget cap: a number above `gt` and at most `le`, or inf for no cap (NaN refused)."""

    gt: float
    le: float

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: float) -> float:
        if math.isnan(value):
            raise ValueError("must be a finite number, or inf for no cap")
        if not value > self.gt:
            raise ValueError(f"must be greater than {self.gt:g}")
        if math.isfinite(value) and value > self.le:
            raise ValueError(f"must be at most {_magnitude(self.le)}, or inf for no cap")
        return value


Cap = Annotated[float, Field(allow_inf_nan=True), CapBounds(gt=0.0, le=MONEY_MAX)]  # a quarter's payouts; inf: none


def _magnitude(value: float) -> str:
    """A large number for a message: 4e16, 6.7e7, 1,000."""
    if value < 1e6:
        return f"{value:,.0f}"
    mantissa, exponent = f"{value:.2g}".split("e")
    return f"{mantissa}e{int(exponent)}"


class Node(BaseModel):
    """A table of the tree: unknown keys are errors, values are checked on assignment, numbers are finite."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- market


class SegmentValues(Node):
    """One relative weight per segment (1 is neutral)."""

    smb: Relative
    midmarket: Relative
    enterprise: Relative

    def array(self) -> np.ndarray:
        return np.array([self.smb, self.midmarket, self.enterprise], dtype=float)


class SegmentShares(SegmentValues):
    """One probability per segment."""

    smb: Share
    midmarket: Share
    enterprise: Share


Opportunities = Annotated[float, Field(ge=0.0, le=500.0)]  # a quarter: ~40 a week is more than anyone works


class SegmentOpportunities(SegmentValues):
    """Opportunities one selling FTE works a quarter at full effort, per segment."""

    smb: Opportunities
    midmarket: Opportunities
    enterprise: Opportunities


DealSize = Annotated[float, Field(ge=1.0, le=1e9)]  # dollars: from $1 to a billion-dollar deal


class SegmentDealSizes(SegmentValues):
    """Median deal size per segment."""

    smb: DealSize
    midmarket: DealSize
    enterprise: DealSize


DealSpread = Annotated[float, Field(ge=0.0, le=3.0)]  # log-sd: 3 puts the mean at 90 x the median


class SegmentDealSpreads(SegmentValues):
    """Log-sd of deal sizes per segment."""

    smb: DealSpread
    midmarket: DealSpread
    enterprise: DealSpread


StaffRatio = Annotated[float, Field(ge=0.0, le=10.0)]  # technical staff per seller


class SegmentStaffRatios(SegmentValues):
    """Technical staff per seller per segment."""

    smb: StaffRatio
    midmarket: StaffRatio
    enterprise: StaffRatio


class SegmentDelays(Node):
    """For each segment, the probability that a won deal closes 0, 1, 2, ... quarters later."""

    smb: list[Share]
    midmarket: list[Share]
    enterprise: list[Share]

    @field_validator("smb", "midmarket", "enterprise")
    @classmethod
    def _a_distribution(cls, value: list[float]) -> list[float]:
        if not 1 <= len(value) <= 8:
            raise ValueError("must list 1 to 8 probabilities (closing 0..7 quarters later)")
        if abs(sum(value) - 1.0) > 1e-6:
            raise ValueError(f"probabilities must sum to 1 (they sum to {sum(value):.4g})")
        return value

    def matrix(self) -> np.ndarray:
        """Segments x delays, padded with zeros to the longest list."""
        rows = [self.smb, self.midmarket, self.enterprise]
        width = max(len(r) for r in rows)
        return np.array([r + [0.0] * (width - len(r)) for r in rows], dtype=float)


class Market(Node):
    """Addressable demand and how deals happen."""

    verticals: list[Name] = Field(default_factory=lambda: list(DEFAULT_VERTICALS), min_length=1, max_length=12)
    # relative addressable demand; cell (segment, vertical) = segment_demand x vertical_demand
    segment_demand: SegmentValues = Field(
        default_factory=lambda: SegmentValues(smb=1.0, midmarket=1.0, enterprise=1.0)
    )
    vertical_demand: dict[Name, Relative] = Field(default_factory=dict)
    growth: Annotated[float, Field(ge=-0.2, le=0.5)] = 0.015  # a quarter: ~6 % a year
    # opportunities one selling FTE works a quarter at full effort (high velocity: many small deals)
    opportunities_per_fte: SegmentOpportunities = Field(
        default_factory=lambda: SegmentOpportunities(smb=8.0, midmarket=3.0, enterprise=0.8)
    )
    # lognormal deal sizes: median and log-sd by segment
    deal_size_median: SegmentDealSizes = Field(
        default_factory=lambda: SegmentDealSizes(smb=12_000.0, midmarket=60_000.0, enterprise=300_000.0)
    )
    deal_size_sigma: SegmentDealSpreads = Field(
        default_factory=lambda: SegmentDealSpreads(smb=0.6, midmarket=0.7, enterprise=0.8)
    )
    # win probability at capability 0.5 and effort share 0.25
    win_base: SegmentShares = Field(
        default_factory=lambda: SegmentShares(smb=0.35, midmarket=0.30, enterprise=0.25)
    )
    win_capability: Slope = 1.5  # logit slope per unit of capability
    capability_floor: Share = 0.3  # share of the opportunity flow an uncertified partner still finds
    # logit slope per unit of effort share; 0: effort acts once, through the concave pursuit (no double count)
    win_effort: Slope = 0.0
    # pursuit = effort share ^ effort_exponent: diminishing returns to selling effort (ADBUDG's concave part,
    # Little 1970); with shared demand it puts revenue's elasticity to effort near 0.34 (Albers, Mantrala &
    # Sridhar 2010)
    effort_exponent: Annotated[float, Field(gt=0.0, le=1.0)] = 0.4
    # shared demand: share of the addressable demand nobody serves at the reference pursuit (saturation)
    unserved_share: Annotated[float, Field(ge=0.01, le=0.99)] = 0.3
    # the vendor's direct sales' pursuit of the shared demand, relative to its partners' reference pursuit
    direct_pursuit: Relative = 1.0
    # size the addressable demand for a channel of this many partners (default: the starting population)
    demand_sized_for: Annotated[int, Field(ge=1, le=PARTNERS_MAX)] | None = None
    # CAM co-selling: logit effect on the win probability of a partner's deals at full CAM time, by segment
    # (deal coaching pays on large, long deals; high-velocity deals move through enablement instead)
    coselling: SegmentValues = Field(default_factory=lambda: SegmentValues(smb=0.0, midmarket=0.05, enterprise=0.1))
    coselling_half_hours: Annotated[float, Field(ge=1.0, le=10_000.0)] = 40.0
    # CAM co-selling: how much larger a partner's deals grow at full CAM time, by segment (scoping and deal
    # coaching enlarge long, complex deals; a high-velocity transaction is what it is)
    coselling_size: SegmentValues = Field(default_factory=lambda: SegmentValues(smb=0.0, midmarket=0.05,
                                                                                enterprise=0.1))
    # technical (presales) staff per seller needed to reach a segment's full opportunity flow
    technical_ratio: SegmentStaffRatios = Field(
        default_factory=lambda: SegmentStaffRatios(smb=0.0, midmarket=0.15, enterprise=0.4)
    )
    close_delay: SegmentDelays = Field(
        default_factory=lambda: SegmentDelays(
            smb=[1.0], midmarket=[0.6, 0.4], enterprise=[0.0, 0.25, 0.35, 0.25, 0.15]
        )
    )
    # an exogenous scale on the focal vendor's selling effort as the market sees it (1: none); partners' choices
    # are untouched. For measuring revenue's elasticity to selling effort (channelsim responses)
    focal_effort_scale: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    # the same for the focal vendor's partners' demand-generation spending (own marketing and MDF)
    demand_generation_scale: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    # the partner's own services line
    services_revenue_per_fte: Money = 50_000.0
    services_margin: Share = 0.35

    @field_validator("verticals")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("vertical names must be unique")
        return value

    @model_validator(mode="after")
    def _deals_can_happen(self) -> Market:
        # a partner's deals per revenue dollar divide by the deals an FTE wins: some segment must give some
        if not (self.opportunities_per_fte.array() * self.win_base.array() > 0).any():
            raise ValueError("opportunities_per_fte x win_base is 0 in every segment: give at least one segment "
                             "opportunities and a chance of winning them")
        return self


# --------------------------------------------------------------------------- partners


class Roles(Node):
    """Mean share of a partner's headcount in each role; they sum to 1."""

    sales: Share = 0.55
    technical: Share = 0.30
    marketing: Share = 0.15

    @model_validator(mode="after")
    def _sum_to_one(self) -> Roles:
        total = self.sales + self.technical + self.marketing
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"sales + technical + marketing must sum to 1 (they sum to {total:.4g})")
        return self


class Attraction(Node):
    """Weights of the attraction model a partner uses to split its effort."""

    # exponent on expected profit per revenue dollar (margin + incentives): with the concave pursuit and shared
    # demand, +5 margin points move partner-sourced revenue by about a tenth, not by tens of percent
    profit: Slope = 1.3
    alignment: Slope = 2.0  # logit weight on cosine(partner verticals, vendor push)
    capability: Slope = 0.5  # exponent on capability with the vendor
    relationship: Slope = 0.35  # exponent on goodwill with the vendor, relative to reference_goodwill
    idiosyncrasy: Spread = 0.45  # s.d. of each partner's fixed taste for each line
    services: Lean = 1.0  # attraction of the partner's own services relative to a reference line
    # profit rate of the reference line (default margin plus incentives)
    reference_profit: Annotated[float, Field(ge=0.01, le=1.0)] = 0.22
    reference_goodwill: Share = 0.5  # the goodwill at which the relationship term is neutral


class Capability(Node):
    """Certification level with each vendor: C' = (1-decay) C + (1-C) x training."""

    initial: Share = 0.45
    spread: Spread = 0.6  # log-odds spread of the starting level across partners and vendors
    decay: Share = 0.125  # certifications lapse after ~2 years without renewal
    self_training: Effect = 0.8  # training partners fund themselves on lines they sell
    cam_effect: Effect = 0.025  # training that CAM time brings (diminishing returns in hours)
    # CAM hours a quarter giving 63 % of enablement's effect on high-velocity business (faster-diminishing returns
    # than deal coaching's goodwill.cam_half_hours)
    enablement_half_hours: Annotated[float, Field(ge=1.0, le=10_000.0)] = 10.0


class Goodwill(Node):
    """Relationship with each vendor (Nerlove-Arrow stock)."""

    initial: Share = 0.5
    spread: Spread = 0.5  # log-odds spread of the starting level across partners and vendors
    decay: Share = 0.15  # 0.10-0.25 a quarter
    baseline: Share = 0.3  # what the portal and programme sustain with no CAM time or MDF
    cam_effect: Effect = 0.03
    # CAM hours a quarter giving 63 % of the full effect
    cam_half_hours: Annotated[float, Field(ge=1.0, le=10_000.0)] = 40.0
    mdf_effect: Effect = 0.01
    mdf_half_dollars: Annotated[float, Field(ge=1.0, le=MONEY_MAX)] = 25_000.0


class Exit(Node):
    """Quarterly hazard of leaving the focal vendor's channel:
    logistic(base - profit_share x s - goodwill x G - goodwill_change x dG + conflict x c)."""

    # the logit stays above -80 at the bounds (base - profit_share - goodwill - goodwill_change): e^80 is finite
    base: Annotated[float, Field(ge=-20.0, le=20.0)] = -2.5
    profit_share: Slope = 2.0  # share of the partner's profit that comes from the focal vendor
    goodwill: Slope = 3.0
    goodwill_change: Slope = 10.0  # falling goodwill predicts exit beyond its level
    conflict: Slope = 5.0


class Partners(Node):
    """The partner population and how a partner decides."""

    count: Annotated[int, Field(ge=1, le=PARTNERS_MAX)] = 500
    # a CSV of real partners (see sim/roster.py); when set it gives the starting population and its count
    roster: str = ""
    # headcount ~ Pareto(index, minimum), truncated. Revenue is more concentrated than headcount
    # (bigger firms sell upmarket and differ in mindshare), so an index of 1.5 on headcount gives
    # the ~80/20 revenue split that an index of 1.16 would give on revenue itself
    size_pareto_index: Annotated[float, Field(gt=0.5, le=5.0)] = 1.5
    size_min: Headcount = 2.0
    size_max: Headcount = 1_000.0
    roles: Roles = Field(default_factory=Roles)
    role_spread: Spread = 0.35  # log-normal spread of each firm's role split around the mean
    presales_selling: Share = 0.5  # share of technical staff time that counts as selling capacity
    # larger firms sell further upmarket: log-odds of enterprise per log(headcount / size_min)
    upmarket_per_log_size: Slope = 0.9
    segment_spread: Spread = 0.8
    # spread of vertical priorities: larger makes more specialists
    vertical_spread: Spread = 1.2
    # how much the population as a whole leans to each vertical (relative; verticals not named get 1)
    vertical_mix: dict[Name, Lean] = Field(default_factory=dict)
    inertia: Share = 0.3  # share of the gap to the target closed each quarter (0.2-0.5)
    attraction: Attraction = Field(default_factory=Attraction)
    capability: Capability = Field(default_factory=Capability)
    goodwill: Goodwill = Field(default_factory=Goodwill)
    exit: Exit = Field(default_factory=Exit)

    @model_validator(mode="after")
    def _size_range(self) -> Partners:
        if self.size_max < self.size_min:
            raise ValueError(f"size_max ({self.size_max}) must be at least size_min ({self.size_min})")
        return self


# --------------------------------------------------------------------------- vendor programs

AllocationRule = Literal["trailing_revenue", "potential", "velocity", "equal", "tier", "segment", "vertical",
                         "recruits"]


def _rising(values: list[float], what: str) -> None:
    if any(b <= a for a, b in zip(values, values[1:], strict=False)):
        raise ValueError(f"{what} must rise ({values})")


class SegmentPoints(Node):
    """Margin points added by segment (may be negative)."""

    smb: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    midmarket: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0
    enterprise: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0

    def array(self) -> np.ndarray:
        return np.array([self.smb, self.midmarket, self.enterprise], dtype=float)


class ProductLine(Node):
    share: Share  # share of the vendor's deal value in this line
    points: Annotated[float, Field(ge=-0.5, le=0.5)] = 0.0  # margin points over the base
    # the vendor's own gross margin on the line before channel costs; none: the programme's `margin.gross_margin`
    gross_margin: Share | None = None


def _default_lines() -> dict[str, ProductLine]:
    # a blended hardware + software vendor: hardware resells at thin margins, software at rich ones. Partner
    # margins with the base 0.20 (domain.md, instruments): hardware 0.08 (resale 1-10 %), software 0.30 (SaaS resale
    # 20-40 %). Gross margins before channel costs, domain.md "Response magnitudes" (public vendor filings):
    # hardware ~35-60 %, software ~75-90 %
    return {"hardware": ProductLine(share=0.6, points=-0.12, gross_margin=0.55),
            "software": ProductLine(share=0.4, points=0.10, gross_margin=0.80)}


class Margin(Node):
    """Front-end margin: the discount off list at which partners buy, by product line and segment."""

    base: Annotated[float, Field(ge=0.0, le=0.9)] = 0.20
    segment_points: SegmentPoints = Field(default_factory=SegmentPoints)
    lines: dict[Name, ProductLine] = Field(default_factory=_default_lines)
    # the vendor's gross margin before channel costs where no product line states its own: the default lines'
    # blend (0.6 x 0.55 + 0.4 x 0.80; domain.md: hardware ~35-60 %, software ~75-90 %, public vendor filings)
    gross_margin: Share = 0.65

    @model_validator(mode="after")
    def _lines_cover_the_business(self) -> Margin:
        if self.lines:
            total = sum(line.share for line in self.lines.values())
            if abs(total - 1.0) > 1e-6:
                raise ValueError(f"product line shares must sum to 1 (they sum to {total:.4g})")
        return self

    def line_points(self) -> float:
        """Margin points of the average deal over its product lines."""
        return sum(line.share * line.points for line in self.lines.values())

    def blended_gross_margin(self) -> float:
        """The vendor's gross margin on the average deal before channel costs: the lines' gross margins weighted by
        their shares (a line that states none, and a programme with no lines, at `gross_margin`)."""
        if not self.lines:
            return self.gross_margin
        return sum(line.share * (self.gross_margin if line.gross_margin is None else line.gross_margin)
                   for line in self.lines.values())


class Rung(Node):
    threshold: Money
    rate: Annotated[float, Field(ge=0.0, le=0.5)]


class Rebate(Node):
    """Back-end volume rebate: `rate` once period revenue reaches `threshold`, then the `ladder` rungs."""

    enabled: bool = True
    rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.03  # 1-5 % kicker
    threshold: Money = 100_000.0  # revenue in the period
    ladder: list[Rung] = Field(default_factory=list)  # further rungs, thresholds rising
    retroactive: bool = True  # paid on the whole amount once a threshold is crossed
    period: Literal["quarter", "year"] = "quarter"
    forecast_cv: ForecastCV = 0.25  # how uncertain a partner is about its period revenue
    # at the end of a period a partner just short of a threshold closes early up to this share of
    # next quarter's pipeline, if that is enough to cross (only a retroactive ladder rewards it)
    pull_forward: Share = 0.5
    budget: Cap = math.inf  # cap on payouts a quarter (pro rata)

    @model_validator(mode="after")
    def _ladder_rises(self) -> Rebate:
        _rising([r.threshold for r in self.rungs()], "rebate thresholds")
        return self

    def rungs(self) -> list[Rung]:
        return [Rung(threshold=self.threshold, rate=self.rate), *self.ladder]


class GrowthRung(Node):
    growth: Annotated[float, Field(ge=-1.0, le=10.0)]  # over the baseline: 0.15 is +15 %
    rate: Annotated[float, Field(ge=0.0, le=0.5)]


class GrowthRebate(Node):
    """Rebate on growth over the trailing four-quarter baseline (~3 % on growth)."""

    enabled: bool = True
    rungs: list[GrowthRung] = Field(default_factory=lambda: [GrowthRung(growth=0.0, rate=0.03)])
    retroactive: bool = False  # False: the rate applies to revenue above the rung; True: to all of it
    forecast_cv: ForecastCV = 0.25

    @model_validator(mode="after")
    def _rungs_rise(self) -> GrowthRebate:
        if not self.rungs:
            raise ValueError("a growth rebate needs at least one rung")
        _rising([r.growth for r in self.rungs], "growth rungs")
        return self


class MDF(Node):
    """Market development funds: accrued as a share of revenue, or a discretionary budget."""

    enabled: bool = True
    mode: Literal["budget", "accrual"] = "budget"
    budget: Money = 500_000.0  # a quarter; ~2 % of channel revenue
    accrual_rate: Annotated[float, Field(ge=0.0, le=0.2)] = 0.02  # of last quarter's revenue (1-4 %)
    allocation: AllocationRule = "trailing_revenue"
    target: str = ""  # the segment or vertical for a targeted allocation
    top_share: Share | None = None  # if set: this share of the budget to the top group, the rest to the others
    top_group: Literal["top20", "top_tier"] = "top20"
    claim_max: Share = 0.9  # share of its allocation a partner with many marketers claims
    # marketers at which a partner claims 63 % of claim_max
    claim_half_marketers: Annotated[float, Field(ge=0.1, le=HEADCOUNT_MAX)] = 2.0
    # long-term elasticity of the opportunity flow to demand generation (the partner's own marketing plus MDF);
    # ~0.24 long-term, ~0.12 short-term (Sethuraman, Tellis & Briesch 2011)
    elasticity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.22
    # how that elasticity leans by segment (weights on the partner's segment mix): demand generation pays more
    # on many small deals than on a few large ones
    segment_weight: SegmentValues = Field(default_factory=lambda: SegmentValues(smb=1.5, midmarket=1.0,
                                                                                enterprise=0.5))
    # 0.3-0.45 a quarter; at most 0.95, a stock of 20 quarters' spend (a half-life of 13 quarters)
    carryover: Annotated[float, Field(ge=0.0, le=0.95)] = 0.4
    # a partner's own demand-generation spending a quarter per marketer (programmes, not salaries): with the default
    # population the order of the MDF it claims (co-op reimburses ~50 % of the partner's cost, so a partner spends
    # about as much as the MDF it claims on the same activity); *calibrated* with `absorption` so that MDF's
    # contribution peaks near the default budget and removing it costs under a tenth of revenue
    reference_dollars: Annotated[float, Field(ge=1.0, le=MONEY_MAX)] = 3_000.0
    # a partner's marketers run only so many campaigns: an MDF stock of `absorption` x its own stock generates as
    # much demand as half of it would without that limit (MDF beyond its capacity buys less and less); 1,000: none
    absorption: Annotated[float, Field(ge=0.01, le=1_000.0)] = 2.0
    # what a partner counts a dollar of MDF worth in its margin terms (co-op pays ~50 % of an activity the partner
    # would not all have run)
    perceived_value: Share = 0.25


class Spif(Node):
    """Cash per won deal on a product line and/or vertical, for a window of quarters."""

    enabled: bool = True
    amount: Money = 500.0  # $50-$1,000 a deal
    line: str = "software"  # product line ("" = every line)
    vertical: str = ""  # vertical ("" = every vertical)
    start: Annotated[int, Field(ge=1, le=QUARTERS_MAX)] = 4  # first quarter of the window
    length: Annotated[int, Field(ge=1, le=40)] = 1  # quarters
    every: Annotated[int, Field(ge=0, le=40)] = 4  # repeat the window every so many quarters (0: once)
    # the most a SPIF moves: the share of next quarter's eligible pipeline closed early in the window's last
    # quarter, and of the eligible deals closing the quarter before a window held back into it
    pull_forward: Share = 0.3
    hold_back: Share = 0.1
    # the SPIF's value to the partner, amount / (partner margin x mean deal size of the segment), at which half of
    # that most moves (share = most x (1 - 2^(-value / half_value))). 0.2: a SPIF about what the partner's seller
    # earns on the deal in commission (resellers commonly pay sellers 20-30 % of the gross profit they book)
    # doubles the seller's take; $50-$1,000 a deal (domain.md) is then a real move on small deals, not on $400k ones
    half_value: Annotated[float, Field(gt=0.0, le=100.0)] = 0.2
    budget: Cap = math.inf  # cap on payouts a quarter (pro rata)

    @model_validator(mode="after")
    def _window_fits_its_cycle(self) -> Spif:
        if self.every and self.length >= self.every:
            raise ValueError(f"length ({self.length}) must be shorter than every ({self.every})")
        return self

    def in_window(self, quarter: int) -> bool:
        if quarter < self.start:
            return False
        offset = quarter - self.start
        return (offset % self.every if self.every else offset) < self.length


class DealRegistration(Node):
    """Extra margin points on deals a partner registered first."""

    enabled: bool = True
    points: Annotated[float, Field(ge=0.0, le=0.5)] = 0.10  # +5-20 points
    propensity: Share = 0.7  # share of deals registered by a partner with full goodwill
    # share of registered deals the vendor's direct sales take (below 1: a partner keeps some of what it registers)
    override_rate: Annotated[float, Field(ge=0.0, le=0.9)] = 0.02
    conflict_effect: Effect = 3.0  # goodwill lost per unit of deal share overridden


class Certification(Node):
    """Certification funding: pays for technical staff to certify."""

    enabled: bool = True
    budget: Money = 50_000.0  # a quarter
    cost: Annotated[float, Field(ge=1.0, le=MONEY_MAX)] = 2_500.0  # per certification
    allocation: AllocationRule = "potential"
    target: str = ""  # the segment or vertical for a targeted allocation
    effect: Effect = 0.3  # capability training per certification per technical head


class CAMs(Node):
    """Channel account managers' time."""

    count: Annotated[int, Field(ge=0, le=100_000)] = 12  # x 8 partners each: the top ~20 % managed
    hours_per_quarter: Annotated[float, Field(ge=0.0, le=1000.0)] = 500.0  # ~2,000 a year
    coverage: Literal["dedicated", "pooled", "digital"] = "dedicated"
    partners_per_cam: Annotated[int, Field(ge=1, le=1000)] = 8  # 7-10 managed partners per CAM
    allocation: AllocationRule = "trailing_revenue"
    target: str = ""  # the segment or vertical for a targeted allocation
    cost_per_hour: Money = 120.0


class Tiers(Node):
    """Partner tiers: requirements, benefits, review."""

    enabled: bool = True
    names: list[Name] = Field(default_factory=lambda: ["registered", "silver", "gold", "platinum"],
                              min_length=1, max_length=8)
    revenue: list[Money] = Field(default_factory=lambda: [0.0, 100_000.0, 500_000.0, 2_500_000.0])  # a year
    certified: list[Annotated[float, Field(ge=0.0, le=HEADCOUNT_MAX)]] = Field(
        default_factory=lambda: [0.0, 0.5, 1.5, 3.0])  # certified technical staff
    margin_points: list[Annotated[float, Field(ge=0.0, le=0.5)]] = Field(
        default_factory=lambda: [0.0, 0.01, 0.02, 0.04])
    mdf_weight: list[Relative] = Field(default_factory=lambda: [0.0, 1.0, 1.5, 2.0])
    cam_coverage: list[bool] = Field(default_factory=lambda: [False, True, True, True])
    review_every: Annotated[int, Field(ge=1, le=8)] = 2  # quarters
    demote_after: Annotated[int, Field(ge=1, le=12)] = 4  # quarters below the tier before demotion
    # partners fund certifications themselves to reach or keep a tier whose year of benefits exceeds their cost
    partners_certify: bool = True
    # what a partner pays per certification (exam, training days); as the vendor's certification.cost, which
    # buys the same certification
    certification_cost: Annotated[float, Field(ge=1.0, le=MONEY_MAX)] = 2_500.0
    # and, slowly (one head a year at most), hire technical staff where the next tier needs more certified heads
    # than they have and its year of benefits exceeds a year of the hire's cost
    partners_hire: bool = True
    technical_hire_cost: Money = 120_000.0  # a presales engineer a year, fully loaded (a modelling choice)

    @model_validator(mode="after")
    def _one_value_per_tier(self) -> Tiers:
        n = len(self.names)
        for name in ("revenue", "certified", "margin_points", "mdf_weight", "cam_coverage"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"{name} needs one value per tier ({n}: {', '.join(self.names)})")
        if len(set(self.names)) != n:
            raise ValueError("tier names must be unique")
        _rising(self.revenue, "tier revenue requirements")
        return self


class Termination(Node):
    """The vendor's rule for ending partnerships (slow, indirect control)."""

    enabled: bool = True
    rule: Literal["revenue_floor", "no_deal"] = "no_deal"
    revenue_floor: Money = 10_000.0  # a quarter
    quarters: Annotated[int, Field(ge=1, le=40)] = 4  # consecutive quarters failing the rule
    grace: Annotated[int, Field(ge=0, le=40)] = 4  # never in the first quarters of tenure
    # "digital": move to a self-serve digital tier (no CAM time, no MDF) instead of ending the partnership
    action: Literal["terminate", "digital"] = "digital"


class RecruitProfile(Node):
    """Who is recruited; an unset value is the population's."""

    size_pareto_index: Annotated[float, Field(gt=0.5, le=5.0)] | None = None
    size_min: Headcount | None = None
    size_max: Headcount | None = None
    upmarket_per_log_size: Slope | None = None
    vertical_spread: Spread | None = None
    vertical_mix: dict[Name, Lean] | None = None


class Recruitment(Node):
    """New partners each quarter: a number, or what a budget buys."""

    enabled: bool = True
    per_quarter: Annotated[int, Field(ge=0, le=RECRUITS_MAX)] = 12
    budget: Money | None = None  # if set, recruits in the order drawn until the budget is spent
    # the reference recruit's cost: a generalist (priorities spread evenly) of reference_headcount people; a recruit
    # costs cost_per_recruit x (headcount / reference_headcount)^cost_size_elasticity x (1 + specialist_cost x s),
    # s its specialisation (0 spread evenly over the verticals, 1 in one vertical)
    cost_per_recruit: Annotated[float, Field(ge=1.0, le=MONEY_MAX)] = 15_000.0
    reference_headcount: Headcount = 5.0  # about the mean firm of the default population (5.7 people)
    # argued: search, vetting and contracting grow with the firm, less than in proportion (square root)
    cost_size_elasticity: Annotated[float, Field(ge=0.0, le=2.0)] = 0.5
    # argued: a full specialist costs twice a generalist (fewer candidates in a vertical, a longer search)
    specialist_cost: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0
    profile: RecruitProfile = Field(default_factory=RecruitProfile)
    activation: Share = 0.75  # chance a recruit ever engages
    # onboarding: opportunity flow x (1 - exp(-(tenure + 1) / ramp)), ramp = ramp_quarters x (headcount /
    # reference_headcount)^ramp_size_elasticity x (1 + cycle) x (1 + specialist_ramp x s): ramp_quarters for the
    # reference recruit closing within the quarter; a longer sales cycle (cycle, quarters) and a specialist's
    # vertical solutions take longer to learn. Calibrated: the median recruit's first deal about 2 quarters after it
    # joins (domain: median ~4.7 months)
    ramp_quarters: Annotated[float, Field(ge=0.1, le=100.0)] = 0.7
    # argued: onboarding reaches about as many of a recruit's sellers a quarter whatever its size, so a larger firm
    # takes proportionally longer to bring the line to all of them (its first quarter's flow is the reference's)
    ramp_size_elasticity: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0
    specialist_ramp: Annotated[float, Field(ge=0.0, le=10.0)] = 1.0  # argued: a full specialist ramps twice as long
    initial_capability: Share = 0.15
    initial_goodwill: Share = 0.45

    @model_validator(mode="after")
    def _budget_buys_few_enough(self) -> Recruitment:
        if self.budget is not None and self.budget // self.cost_per_recruit > RECRUITS_MAX:
            raise ValueError(f"budget = {_magnitude(self.budget)} at cost_per_recruit = {self.cost_per_recruit:g} buys "
                             f"{_magnitude(self.budget // self.cost_per_recruit)} recruits a quarter; at most "
                             f"{RECRUITS_MAX:,} (as per_quarter)")
        return self


class Loyalty(Node):
    """Loyalty bonus: extra front-end margin points for partners with the vendor for `after_quarters` or more."""

    enabled: bool = False
    points: Annotated[float, Field(ge=0.0, le=0.5)] = 0.02  # one tier step (tiers.margin_points)
    after_quarters: Annotated[int, Field(ge=0, le=QUARTERS_MAX)] = 8  # tenure with the vendor: two years


class Reaction(Node):
    """How a rival answers the focal vendor."""

    kind: Literal["none", "match_margin"] = "none"
    lag: Annotated[int, Field(ge=1, le=20)] = 2  # quarters
    share: Annotated[float, Field(ge=0.0, le=2.0)] = 1.0  # of the focal vendor's increase matched


class Program(Node):
    """What a vendor offers its partners. Rivals use the same class."""

    name: Name = "focal"
    margin: Margin = Field(default_factory=Margin)
    rebate: Rebate = Field(default_factory=Rebate)
    growth_rebate: GrowthRebate = Field(default_factory=GrowthRebate)
    mdf: MDF = Field(default_factory=MDF)
    spif: Spif = Field(default_factory=Spif)
    # a second SPIF run beside the first (e.g. a one-off vertical campaign on top of the yearly SPIF); off by default
    spif_campaign: Spif = Field(default_factory=lambda: Spif(enabled=False, line=""))
    deal_registration: DealRegistration = Field(default_factory=DealRegistration)
    certification: Certification = Field(default_factory=Certification)
    cams: CAMs = Field(default_factory=CAMs)
    tiers: Tiers = Field(default_factory=Tiers)
    termination: Termination = Field(default_factory=Termination)
    recruitment: Recruitment = Field(default_factory=Recruitment)
    loyalty: Loyalty = Field(default_factory=Loyalty)
    reaction: Reaction = Field(default_factory=Reaction)
    # relative push over verticals; verticals not named get 1 (an empty table is no push)
    push: dict[Name, Relative] = Field(default_factory=dict)


def _focal_only() -> list[str]:
    """The programme's tables that only the focal vendor runs (their policies declare vendors = "focal")."""
    return [policy.node for policy in instruments() if policy.vendors == "focal"]


def _rival_program() -> Program:
    # rivals run the same incentives; what acts on the channel's partners as such is the focal vendor's
    return Program.model_validate({"name": "rival", **{node: {"enabled": False} for node in _focal_only()}})


# what one rival states of its own programme: any of `Program` but the name (a rival's is `<program.name>_<k>`) and
# the tier names (one list for every rival: a schedule may not change them, FIXED_DURING_RUN)
RivalProgram = partial(Program, frozenset({"name", "tiers.names"}))


def _refuse_focal_only(program: Program, where: str) -> None:
    """Raise ValueError if a rival's `program` runs an instrument only the focal vendor runs."""
    for node in _focal_only():
        if getattr(program, node).enabled:
            raise ValueError(f"{where}.{node}.enabled: rivals do not run {node}, which acts on the simulated "
                             "channel's partners as the focal vendor's; set it to false")


class Rivals(Node):
    """Rival vendors: `count` of them, named `<program.name>_1` .. `_<count>`, each running `program` with what
    `each` states for it laid over it (`each.rival_2.margin.base`); a rival `each` does not name runs `program`."""

    count: Annotated[int, Field(ge=0, le=8)] = 2
    program: Program = Field(default_factory=_rival_program)
    each: dict[Name, RivalProgram] = Field(default_factory=dict)  # type: ignore[valid-type]
    _programs: dict[str, Program] = PrivateAttr(default_factory=dict)  # each rival's, as its policies read it

    @model_validator(mode="after")
    def _focal_instruments_off(self) -> Rivals:
        _refuse_focal_only(self.program, "program")
        return self

    def names(self) -> list[str]:
        return [f"{self.program.name}_{k}" for k in range(1, self.count + 1)]

    def program_of(self, name: str) -> Program:
        """The programme rival `name` runs: one object for the run, kept up to date by `follow`."""
        if not self._programs:
            self._programs = self.resolved()
        return self._programs[name]

    def resolved(self) -> dict[str, Program]:
        """Each rival's programme: `program` with `each[name]` laid over it (a table key by key, a value, a list or
        a table of free keys whole). Raises ValueError naming the path (`rivals.each.<name>...`)."""
        names = self.names()
        for name in self.each:
            if name not in names:
                raise ValueError(f"rivals.each.{name}: no such rival{suggest(name, names)}; the rivals are "
                                 f"{', '.join(names) or 'none'} (rivals.count = {self.count}, named after "
                                 "rivals.program.name)")
        base = self.program.model_dump()
        programs = {}
        for name in names:
            where = f"rivals.each.{name}"
            stated = self.each[name].model_dump() if name in self.each else {}
            try:
                programs[name] = Program.model_validate(merge(base, stated, Program))
            except ValidationError as error:
                raise ValueError("; ".join(f"{where}.{problem}" if problem_path(problem) else f"{where}: {problem}"
                                           for problem in explain(error, Program))) from None
            _refuse_focal_only(programs[name], where)
        return programs

    def follow(self, changed: Rivals) -> None:
        """Each rival's programme takes the values of `changed`'s, in place (its policies hold it)."""
        for name, program in self.programs().items():
            copy_into(program, changed.program_of(name))

    def programs(self) -> dict[str, Program]:
        """Every rival's programme, by name."""
        return {name: self.program_of(name) for name in self.names()}


# --------------------------------------------------------------------------- the tree


Quarter = Annotated[int, Field(ge=1, le=QUARTERS_MAX)]
GROUPS = ("segment", "velocity", "size", "tier", "alignment", "cohort")  # partner groups a report can show
MARGINAL_LEVERS = ("cam_hours", "mdf")  # levers whose next unit's return a report can measure


class Meta(Node):
    # the scenario's name in outputs and in the default output folder out/<name> (default: the file name)
    name: str = ""
    title: str = "Default channel"
    question: str = ""  # the strategist's question the scenario answers
    # its answer card (the first screen of a comparison's report): the question's number in the strategists' list
    # (MODEL.md §1), the KPIs that answer it (the first is the headline), the quarters first..last they are read
    # over (default: the final year), the partner groups whose response it shows (`compare --partners`), whether
    # recruits' time to first deal answers it, and the levers whose next unit's return it measures
    answers: Annotated[int, Field(ge=1, le=10)] | None = None
    kpis: list[str] = Field(default_factory=lambda: ["revenue", "mindshare", "vendor_contribution"], min_length=1)
    window: Annotated[list[Quarter], Field(min_length=1, max_length=2)] | None = None  # [first, last] or [quarter]
    groups: list[str] = Field(default_factory=list)  # of GROUPS
    cohorts: bool = False
    marginal: list[str] = Field(default_factory=list)  # of MARGINAL_LEVERS
    version: str = ""  # the channelsim version a resolved scenario was written by (information only)
    # a CSV of parameter draws written by `channelsim calibrate` (sim/ensemble.py), relative to the file declaring it
    ensemble: str = ""

    @field_validator("kpis", "groups", "marginal")
    @classmethod
    def _once(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))  # each named once

    @field_validator("groups", "marginal")
    @classmethod
    def _known(cls, value: list[str], info):
        allowed = GROUPS if info.field_name == "groups" else MARGINAL_LEVERS
        unknown = [v for v in value if v not in allowed]
        if unknown:
            raise ValueError(f"{', '.join(map(repr, unknown))}: not one of {', '.join(allowed)}")
        return value

    @field_validator("window")
    @classmethod
    def _window_in_order(cls, value):
        if value is not None and value[0] > value[-1]:
            raise ValueError(f"first quarter {value[0]} is after the last {value[-1]}: give [first, last]")
        return value

    def span(self) -> tuple[int, int] | None:
        """The window as (first, last), or None."""
        return (self.window[0], self.window[-1]) if self.window else None

    @field_validator("name")
    @classmethod
    def _safe_name(cls, value: str) -> str:
        if value and not is_slug(value):
            raise ValueError(f"must be a safe name ({SLUG_RULE}), e.g. \"healthcare-spif\"")
        return value


class Run(Node):
    """How a scenario is run from the command line."""

    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 10


# what shapes the run, the population or the model's arrays and metric columns, fixed at the start: a schedule
# entry may not change its value (whether it names the path, a value inside it or a table around it)
FIXED_DURING_RUN = (
    "quarters", "run", "schedule", "meta",
    "market.verticals",  # each partner's priorities, the revenue_<vertical> metrics
    "market.close_delay",  # the pipeline ring's depth, each partner's sales cycle
    "partners.count", "partners.roster",  # the starting population
    "rivals.count",  # the vendors x partners arrays
    "vendor.name", "rivals.program.name",  # the vendors' names: the mindshare_ and revenue_<rival> metrics
    # the tiers, and with them their number: each partner's tier index, the partners_<tier> metrics
    "vendor.tiers.names", "rivals.program.tiers.names",
)
_ABSENT = object()


def _value_at(data: Any, path: str) -> Any:
    """The value at a dotted path of a dumped tree, or _ABSENT where a table given in part leaves it out."""
    for part in path.split("."):
        if not isinstance(data, dict) or part not in data:
            return _ABSENT
        data = data[part]
    return data


def _differs(before: Any, after: Any) -> bool:
    """Whether `after` changes `before`; in a table, only the keys `after` states count (a table given in part
    leaves the rest to its defaults, compared once the tree is validated)."""
    if isinstance(before, dict) and isinstance(after, dict):
        return any(key not in before or _differs(before[key], value) for key, value in after.items())
    return before != after


def fixed_change(before: Mapping[str, Any], after: Mapping[str, Any]) -> str | None:
    """The first path of FIXED_DURING_RUN whose value differs between two dumped trees (None if none does)."""
    for path in FIXED_DURING_RUN:
        was, now = _value_at(before, path), _value_at(after, path)
        if now is not _ABSENT and _differs(was, now):
            return path
    return None


class Probe(Node):
    """A measuring device, not a lever: a small extra of CAM time and MDF given by the focal vendor to one group of
    partners from quarter `start` on, on top of what its programme allocates, for reading marginal returns
    (sim.marginal). The defaults give nothing: the run is the run without it, bit for bit."""

    # the group: partners whose main segment (argmax of the segment mix) is this one; "": every segment
    segment: Literal["", "smb", "midmarket", "enterprise"] = ""
    # and whose velocity class is this one (high: expected sales cycle under HIGH_VELOCITY_CYCLE quarters, as
    # Partner.velocity_class); "": both
    velocity: Literal["", "high", "low"] = ""
    start: Annotated[int, Field(ge=1, le=QUARTERS_MAX)] = 1  # the first quarter the extra is given
    # extra CAM hours a quarter for each partner of the group (none in the digital tier), paid at
    # vendor.cams.cost_per_hour; dedicated coverage gives a managed partner 500 / 8 = 62.5 hours a quarter
    cam_hours: Annotated[float, Field(ge=0.0, le=1000.0)] = 0.0
    # extra MDF dollars a quarter allocated to each partner of the group (none in the digital tier), claimed as MDF is
    # claimed (only what is claimed is spent); the default budget gives an eligible partner a few thousand a quarter
    mdf: Money = 0.0

    def active(self, quarter: int) -> bool:
        """Whether the probe gives anything in `quarter`."""
        return quarter >= self.start and (self.cam_hours > 0 or self.mdf > 0)

    def members(self, segment_mix: np.ndarray, cycle: np.ndarray) -> np.ndarray:
        """Which partners are in the group (a mask over the partner axis), from their segment mix (segments x
        partners) and sales cycle."""
        inside = np.ones(cycle.shape, bool)
        if self.segment:
            inside &= segment_mix.argmax(axis=0) == SEGMENTS.index(self.segment)
        if self.velocity:
            inside &= (cycle < HIGH_VELOCITY_CYCLE) == (self.velocity == "high")
        return inside


class Change(Node):
    """Parameters set from the start of a quarter on: `set` maps dotted paths to values."""

    quarter: Annotated[int, Field(ge=1)]
    set: dict[str, Any]


def applied_order(schedule: list[Change]) -> list[tuple[int, Change]]:
    """The schedule's entries (with their index in the file) in the order a run applies them."""
    return sorted(enumerate(schedule), key=lambda item: item[1].quarter)


class Scenario(Node):
    """Everything a run depends on."""

    meta: Meta = Field(default_factory=Meta)
    run: Run = Field(default_factory=Run)
    quarters: Annotated[int, Field(ge=1, le=QUARTERS_MAX)] = 40
    market: Market = Field(default_factory=Market)
    partners: Partners = Field(default_factory=Partners)
    vendor: Program = Field(default_factory=Program)
    rivals: Rivals = Field(default_factory=Rivals)
    schedule: list[Change] = Field(default_factory=list)  # changes part-way through the run, by quarter
    probe: Probe = Field(default_factory=Probe)  # a small extra for one group of partners, for marginal returns

    @model_validator(mode="after")
    def _cross_references(self) -> Scenario:
        verticals = self.market.verticals
        known = set(verticals)
        programs = [("vendor", self.vendor), ("rivals.program", self.rivals.program)]
        # each rival's own programme, as its vendor will run it; checked where `each` states something
        self.rivals._programs = self.rivals.resolved()
        programs += [(f"rivals.each.{name}", self.rivals.program_of(name)) for name in self.rivals.each]
        tables = [("market.vertical_demand", self.market.vertical_demand),
                  ("partners.vertical_mix", self.partners.vertical_mix)]
        for where, program in programs:
            tables.append((f"{where}.push", program.push))
            if program.recruitment.profile.vertical_mix:
                tables.append((f"{where}.recruitment.profile.vertical_mix", program.recruitment.profile.vertical_mix))
        for where, table in tables:
            for key in table:
                if key not in known:
                    raise ValueError(f"{where}.{key}: unknown vertical{suggest(key, known)}; "
                                     f"verticals are {', '.join(verticals)}")
            if table and where.endswith("push") and not any(table.get(v, 1.0) > 0 for v in known):
                raise ValueError(f"{where}: the push cannot be zero on every vertical")
        for where, program in programs:
            for node in ("spif", "spif_campaign"):
                spif = getattr(program, node)
                if spif.vertical and spif.vertical not in known:
                    raise ValueError(f"{where}.{node}.vertical = {spif.vertical!r}: unknown vertical"
                                     f"{suggest(spif.vertical, known)}; verticals are {', '.join(verticals)}")
                if spif.line and spif.line not in program.margin.lines:
                    lines = ", ".join(program.margin.lines) or "none"
                    raise ValueError(f"{where}.{node}.line = {spif.line!r}: not a product line of {where}.margin."
                                     f"lines{suggest(spif.line, program.margin.lines)} (lines: {lines})")
                if spif.enabled and not spif.every and spif.start > self.quarters:
                    raise ValueError(f"{where}.{node}.start = {spif.start}: the window starts after the horizon "
                                     f"(quarters = {self.quarters})")
            for part in ("mdf", "certification", "cams"):
                rule = getattr(program, part).allocation
                target = getattr(program, part).target
                if rule == "segment" and target not in SEGMENTS:
                    raise ValueError(f"{where}.{part}.target = {target!r}: a segment allocation needs a "
                                     f"segment ({', '.join(SEGMENTS)})")
                if rule == "vertical" and target not in known:
                    raise ValueError(f"{where}.{part}.target = {target!r}: a vertical allocation needs a "
                                     f"vertical ({', '.join(verticals)})")
        return self

    @model_validator(mode="after")
    def _demand_growth_bounded(self) -> Scenario:
        # demand in quarter q is (1 + growth)^q times its start; the cap keeps partner arrays finite
        factor = (1.0 + self.market.growth) ** self.quarters
        if factor > DEMAND_GROWTH_MAX:
            raise ValueError(f"market.growth = {self.market.growth:g} over quarters = {self.quarters} multiplies "
                             f"demand by {_magnitude(factor)}; growth compounded over the horizon may multiply "
                             f"demand by at most {DEMAND_GROWTH_MAX:,.0f} (here: growth up to "
                             f"{DEMAND_GROWTH_MAX ** (1.0 / self.quarters) - 1.0:.4g})")
        return self

    @model_validator(mode="after")
    def _schedule_applies(self) -> Scenario:
        """Each change names a parameter, in the horizon; each entry's changes, applied together in the order the
        run applies them (by quarter, then as listed), leave a valid tree in which nothing of FIXED_DURING_RUN has
        another value than before the entry (compared by value: a table set whole may not change one either)."""
        if not self.schedule:
            return self
        data = self.model_dump()
        data["schedule"] = []
        for index, change in applied_order(self.schedule):
            where = f"schedule[{index}]"
            if change.quarter > self.quarters:
                raise ValueError(f"{where}.quarter = {change.quarter}: after the horizon (quarters = {self.quarters})")
            before = data
            data = copy.deepcopy(before)
            for path, value in change.set.items():
                try:
                    check_path(path)
                except ParameterError as error:
                    raise ValueError(f"{where}.set: {error}") from None
                set_path(data, path, value, Scenario)
            # what the entry states is checked first: a fixed value changed is named even if the rest is invalid
            changed = fixed_change(before, data)
            if changed is None:
                try:
                    data = Scenario.model_validate(data).model_dump()
                except ValidationError as error:
                    raise ValueError(f"{where}: " + "; ".join(explain(error, Scenario))) from None
                changed = fixed_change(before, data)  # and what a table given in part left to its defaults
            if changed is not None:
                raise ValueError(f"{where}.set: '{changed}' cannot change part-way through a run")
        return self

    # ---- paths

    def get(self, path: str) -> Any:
        """The value at a dotted path, as plain Python (tables as dicts)."""
        node: Any = self
        for part in path.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return dump(node)

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new tree with values replaced by dotted path; raises ParameterError."""
        return build_scenario(self.model_dump(), overrides)

    def flat(self) -> dict[str, Any]:
        """Every parameter by dotted path (a table of numbers, like a push, is one parameter)."""
        out: dict[str, Any] = {}

        def walk(prefix: str, node: BaseModel) -> None:
            for name, field in type(node).model_fields.items():
                value = getattr(node, name)
                path = f"{prefix}{name}"
                table = dict_type(field.annotation)
                if value is None and isinstance(node, Partial):
                    continue  # not stated
                if isinstance(value, BaseModel):
                    walk(f"{path}.", value)
                elif table is not None and value and submodel(typing.get_args(table)[1]):
                    for key, sub in value.items():
                        walk(f"{path}.{key}.", sub)
                else:
                    out[path] = dump(value)

        walk("", self)
        return out


# --------------------------------------------------------------------------- paths and overrides


def leaf_type(path: str) -> Any:
    """The Python type a parameter holds (int, float, str, bool, list, ...), from the tree's annotations."""
    annotation: Any = Scenario
    for part in path.split("."):
        model = sim.tree.submodel(annotation)
        if model is not None and part in model.model_fields:
            annotation = model.model_fields[part].annotation
        else:
            args = typing.get_args(sim.tree.unwrap(annotation))
            annotation = args[-1] if args else Any
    annotation = sim.tree.unwrap(annotation)
    return typing.get_origin(annotation) or annotation


def check_path(path: str) -> None:
    """Raise ParameterError unless `path` names a parameter of a scenario."""
    sim.tree.check_path(path, Scenario)


def assign_paths(tree: Scenario, changes: Mapping[str, Any]) -> None:
    """Set parameters of a live tree in place, all at once (policies read their nodes each quarter).

    The changes are validated together first, so changes that are only valid together (a tier list and
    its requirements, two product-line shares) apply; then each value, as validated, is put in place.
    Raises ParameterError, leaving the tree unchanged, if the changed tree is invalid."""
    changed = build_scenario(tree, changes)
    for path in changes:
        *parents, leaf = path.split(".")
        node: Any = tree
        source: Any = changed
        for part in parents:
            if child(node, part) is None:  # an optional table left unset: it is put in place whole
                leaf = part
                break
            node, source = child(node, part), child(source, part)
        value, current = child(source, leaf), child(node, leaf)
        if isinstance(value, BaseModel) and type(current) is type(value):
            copy_into(current, value)  # a whole table: the live node stays the one policies hold
        elif isinstance(node, dict):
            node[leaf] = value
        else:  # validated with the rest of the entry: not checked against the old values of the others
            object.__setattr__(node, leaf, value)
    tree.rivals.follow(changed.rivals)  # each rival's programme, derived from `rivals.program` and `rivals.each`


def build_scenario(base: Scenario | Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Validate a tree (or a dict of one) with dotted-path overrides applied."""
    if isinstance(base, Scenario):
        data = base.model_dump()
    elif base is None:
        data = Scenario().model_dump()
    elif isinstance(base, Mapping):
        data = merge(Scenario().model_dump(), deep_copy(base), Scenario)
    else:
        raise ParameterError([f"a scenario must be a Scenario or a dict, not {type(base).__name__}"])
    for path, value in (overrides or {}).items():
        set_path(data, path, value, Scenario)
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ParameterError(explain(error, Scenario)) from None

