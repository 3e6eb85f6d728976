"""The parameter tree: the single source of every parameter, its default and its bounds.

Every parameter has a dotted path (``vendor.rebate.rate``); the model accepts overrides
by that path written with ``__`` (``vendor__rebate__rate=0.04``), scenario files and the
CLI address the same paths. Where a default comes from practice or the literature, the
comment names the source; MODEL.md explains each one.
"""

from __future__ import annotations

import difflib
import math
import re
import types
import typing
from collections.abc import Mapping
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SEGMENTS = ("smb", "midmarket", "enterprise")
DEFAULT_VERTICALS = ("manufacturing", "healthcare", "finance", "public_sector", "retail")

Share = Annotated[float, Field(ge=0.0, le=1.0)]
NonNegative = Annotated[float, Field(ge=0.0)]
Positive = Annotated[float, Field(gt=0.0)]
Money = Annotated[float, Field(ge=0.0, allow_inf_nan=False)]
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=40)]


class Node(BaseModel):
    """A table of the tree: unknown keys are errors, values are checked on assignment."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_assignment=True)


# --------------------------------------------------------------------------- market


class SegmentValues(Node):
    """One non-negative number per segment."""

    smb: NonNegative
    midmarket: NonNegative
    enterprise: NonNegative

    def array(self) -> np.ndarray:
        return np.array([self.smb, self.midmarket, self.enterprise], dtype=float)


class SegmentShares(SegmentValues):
    """One probability per segment."""

    smb: Share
    midmarket: Share
    enterprise: Share


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
    vertical_demand: dict[Name, NonNegative] = Field(default_factory=dict)
    growth: Annotated[float, Field(ge=-0.2, le=0.5)] = 0.015  # a quarter: ~6 % a year
    # opportunities one selling FTE works a quarter at full effort (high velocity: many small deals)
    opportunities_per_fte: SegmentValues = Field(
        default_factory=lambda: SegmentValues(smb=8.0, midmarket=3.0, enterprise=0.8)
    )
    # lognormal deal sizes: median and log-sd by segment
    deal_size_median: SegmentValues = Field(
        default_factory=lambda: SegmentValues(smb=12_000.0, midmarket=60_000.0, enterprise=300_000.0)
    )
    deal_size_sigma: SegmentValues = Field(
        default_factory=lambda: SegmentValues(smb=0.7, midmarket=0.8, enterprise=1.0)
    )
    # win probability at capability 0.5 and effort share 0.25
    win_base: SegmentShares = Field(
        default_factory=lambda: SegmentShares(smb=0.35, midmarket=0.30, enterprise=0.25)
    )
    win_capability: NonNegative = 2.0  # logit slope per unit of capability
    win_effort: NonNegative = 1.0  # logit slope per unit of effort share
    # technical (presales) staff per seller needed to reach a segment's full opportunity flow
    technical_ratio: SegmentValues = Field(
        default_factory=lambda: SegmentValues(smb=0.0, midmarket=0.15, enterprise=0.4)
    )
    close_delay: SegmentDelays = Field(
        default_factory=lambda: SegmentDelays(
            smb=[1.0], midmarket=[0.6, 0.4], enterprise=[0.0, 0.25, 0.35, 0.25, 0.15]
        )
    )
    # the partner's own services line
    services_revenue_per_fte: Money = 50_000.0
    services_margin: Share = 0.35

    @field_validator("verticals")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("vertical names must be unique")
        return value


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

    profit: NonNegative = 2.5  # exponent on expected profit per revenue dollar (margin + incentives)
    alignment: NonNegative = 2.0  # logit weight on cosine(partner verticals, vendor push)
    capability: NonNegative = 0.5  # exponent on capability with the vendor
    relationship: NonNegative = 0.5  # exponent on goodwill with the vendor
    idiosyncrasy: NonNegative = 0.6  # s.d. of each partner's fixed taste for each line
    services: Positive = 1.0  # attraction of the partner's own services relative to a reference line
    reference_profit: Positive = 0.22  # profit rate of the reference line (default margin plus incentives)


class Capability(Node):
    """Certification level with each vendor: C' = (1-decay) C + (1-C) x training."""

    initial: Share = 0.45
    spread: NonNegative = 0.6  # log-odds spread of the starting level across partners and vendors
    decay: Share = 0.125  # certifications lapse after ~2 years without renewal
    self_training: NonNegative = 0.8  # training partners fund themselves on lines they sell
    cam_effect: NonNegative = 0.1  # training that CAM time brings (diminishing returns in hours)


class Goodwill(Node):
    """Relationship with each vendor (Nerlove-Arrow stock)."""

    initial: Share = 0.5
    spread: NonNegative = 0.5  # log-odds spread of the starting level across partners and vendors
    decay: Share = 0.15  # 0.10-0.25 a quarter
    baseline: Share = 0.3  # what the portal and programme sustain with no CAM time or MDF
    cam_effect: NonNegative = 0.25
    cam_half_hours: Positive = 40.0  # CAM hours a quarter giving 63 % of the full effect
    mdf_effect: NonNegative = 0.15
    mdf_half_dollars: Positive = 25_000.0


class Partners(Node):
    """The partner population and how a partner decides."""

    count: Annotated[int, Field(ge=1, le=2_000_000)] = 500
    # headcount ~ Pareto(index, minimum), truncated. Revenue is more concentrated than headcount
    # (bigger firms sell upmarket and differ in mindshare), so an index of 1.6 on headcount gives
    # the ~80/20 revenue split that an index of 1.16 would give on revenue itself
    size_pareto_index: Annotated[float, Field(gt=0.5, le=5.0)] = 1.6
    size_min: Annotated[float, Field(ge=1.0)] = 2.0
    size_max: Annotated[float, Field(ge=1.0)] = 1_000.0
    roles: Roles = Field(default_factory=Roles)
    role_spread: NonNegative = 0.35  # log-normal spread of each firm's role split around the mean
    presales_selling: Share = 0.5  # share of technical staff time that counts as selling capacity
    # larger firms sell further upmarket: log-odds of enterprise per log(headcount / size_min)
    upmarket_per_log_size: NonNegative = 0.9
    segment_spread: NonNegative = 0.8
    # spread of vertical priorities: larger makes more specialists
    vertical_spread: NonNegative = 1.2
    # how much the population as a whole leans to each vertical (relative; verticals not named get 1)
    vertical_mix: dict[Name, Positive] = Field(default_factory=dict)
    inertia: Share = 0.3  # share of the gap to the target closed each quarter (0.2-0.5)
    attraction: Attraction = Field(default_factory=Attraction)
    capability: Capability = Field(default_factory=Capability)
    goodwill: Goodwill = Field(default_factory=Goodwill)

    @model_validator(mode="after")
    def _size_range(self) -> Partners:
        if self.size_max < self.size_min:
            raise ValueError(f"size_max ({self.size_max}) must be at least size_min ({self.size_min})")
        return self


# --------------------------------------------------------------------------- vendor programs


class Margin(Node):
    """Front-end margin: the discount off list at which partners buy."""

    base: Annotated[float, Field(ge=0.0, le=0.9)] = 0.20


class Rebate(Node):
    """Back-end volume rebate with one threshold on revenue in a period."""

    enabled: bool = True
    rate: Annotated[float, Field(ge=0.0, le=0.5)] = 0.03  # 1-5 % kicker
    threshold: Money = 100_000.0  # revenue in the period
    retroactive: bool = True  # paid on the whole amount once the threshold is crossed
    period: Literal["quarter", "year"] = "quarter"
    forecast_cv: Positive = 0.25  # how uncertain a partner is about its period revenue
    budget: Annotated[float, Field(gt=0.0)] = math.inf  # cap on payouts a quarter (pro rata)


class MDF(Node):
    """Market development funds: a quarterly budget shared among partners."""

    enabled: bool = True
    budget: Money = 1_000_000.0  # a quarter; ~2 % of channel revenue
    allocation: Literal["trailing_revenue"] = "trailing_revenue"
    elasticity: Annotated[float, Field(ge=0.0, le=1.0)] = 0.12  # short-term demand-generation elasticity
    carryover: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.4  # 0.3-0.45 a quarter
    reference_dollars: Positive = 25_000.0  # a partner's own marketing a quarter per marketer
    perceived_value: Share = 0.5  # what a partner counts a dollar of MDF worth (co-op pays ~50 %)


class CAMs(Node):
    """Channel account managers' time."""

    count: Annotated[int, Field(ge=0, le=100_000)] = 10
    hours_per_quarter: Annotated[float, Field(ge=0.0, le=1000.0)] = 500.0  # ~2,000 a year
    allocation: Literal["equal"] = "equal"
    cost_per_hour: Money = 120.0


class Program(Node):
    """What a vendor offers its partners. Rivals use the same class."""

    name: Annotated[str, Field(min_length=1, max_length=40)] = "focal"
    margin: Margin = Field(default_factory=Margin)
    rebate: Rebate = Field(default_factory=Rebate)
    mdf: MDF = Field(default_factory=MDF)
    cams: CAMs = Field(default_factory=CAMs)
    # relative push over verticals; verticals not named get 1 (an empty table is no push)
    push: dict[Name, NonNegative] = Field(default_factory=dict)


class Rivals(Node):
    """Rival vendors: `count` of them, all running `program`."""

    count: Annotated[int, Field(ge=0, le=8)] = 2
    program: Program = Field(default_factory=lambda: Program(name="rival"))


# --------------------------------------------------------------------------- the tree


class Meta(Node):
    title: str = "Default channel"
    question: str = ""


class Scenario(Node):
    """Everything a run depends on."""

    meta: Meta = Field(default_factory=Meta)
    quarters: Annotated[int, Field(ge=1, le=400)] = 40
    market: Market = Field(default_factory=Market)
    partners: Partners = Field(default_factory=Partners)
    vendor: Program = Field(default_factory=Program)
    rivals: Rivals = Field(default_factory=Rivals)

    @model_validator(mode="after")
    def _verticals_known(self) -> Scenario:
        known = set(self.market.verticals)
        tables = [("market.vertical_demand", self.market.vertical_demand), ("vendor.push", self.vendor.push),
                  ("rivals.program.push", self.rivals.program.push),
                  ("partners.vertical_mix", self.partners.vertical_mix)]
        for where, table in tables:
            for key in table:
                if key not in known:
                    raise ValueError(f"{where}.{key}: unknown vertical{_suggest(key, known)}; "
                                     f"verticals are {', '.join(self.market.verticals)}")
            if table and where.endswith("push") and not any(table.get(v, 1.0) > 0 for v in known):
                raise ValueError(f"{where}: the push cannot be zero on every vertical")
        return self

    # ---- paths

    def get(self, path: str) -> Any:
        node: Any = self
        for part in path.split("."):
            node = node[part] if isinstance(node, dict) else getattr(node, part)
        return node

    def with_overrides(self, overrides: Mapping[str, Any]) -> Scenario:
        """A new tree with values replaced by dotted path; raises ParameterError."""
        return build_scenario(self.model_dump(), overrides)

    def flat(self) -> dict[str, Any]:
        """Every leaf by dotted path."""
        out: dict[str, Any] = {}

        def walk(prefix: str, value: Any) -> None:
            if isinstance(value, dict) and value and not prefix.endswith((".push", "vertical_demand", "vertical_mix")):
                for key, sub in value.items():
                    walk(f"{prefix}.{key}" if prefix else key, sub)
            else:
                out[prefix] = value

        walk("", self.model_dump())
        return out


# --------------------------------------------------------------------------- errors and overrides


class ParameterError(ValueError):
    """Bad parameters: each problem names the path, the value and what is allowed."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("; ".join(problems))


def _suggest(word: str, candidates) -> str:
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The Node class an annotation holds, if any (unwrapping Optional and Annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(annotation):
            found = _submodel(arg)
            if found:
                return found
    return None


def _is_dict(annotation: Any) -> bool:
    return typing.get_origin(annotation) is dict


def check_path(path: str, root: type[BaseModel] = Scenario) -> None:
    """Raise ParameterError unless `path` names a parameter of the tree."""
    node: type[BaseModel] | None = root
    parts = path.split(".")
    for depth, part in enumerate(parts):
        here = ".".join(parts[:depth])
        if node is None:
            raise ParameterError([f"{here} is a value, not a table: '{path}' does not exist"])
        fields = node.model_fields
        if part not in fields:
            where = f"in '{here}'" if here else "at the top level"
            raise ParameterError([f"unknown parameter '{path}' {where}{_suggest(part, fields)}"])
        annotation = fields[part].annotation
        if _is_dict(annotation):
            if depth < len(parts) - 2:
                raise ParameterError([f"'{path}': {'.'.join(parts[:depth + 2])} is a value, not a table"])
            return
        node = _submodel(annotation)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays as Python values (strict validation refuses numpy ints)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def set_path(data: dict, path: str, value: Any) -> None:
    check_path(path)
    parts = path.split(".")
    node = data
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = _plain(value)


def explain(error: ValidationError, data: Mapping[str, Any] | None = None) -> list[str]:
    """Pydantic's errors as one line each: path, bad value, what is allowed."""
    lines = []
    for item in error.errors():
        loc = [str(p) for p in item["loc"] if not str(p).startswith("function-")]
        path = ".".join(loc)
        message = item["msg"]
        message = re.sub(r"^(Value error|Assertion failed), ", "", message)
        message = message.replace("Input should be", "must be")
        if item["type"] == "extra_forbidden":
            parent = ".".join(loc[:-1])
            node = Scenario
            for part in loc[:-1]:
                sub = _submodel(node.model_fields[part].annotation) if part in node.model_fields else None
                node = sub or node
            lines.append(f"unknown parameter '{path}'{_suggest(loc[-1], node.model_fields)}"
                         + (f" in '{parent}'" if parent else ""))
            continue
        if item["type"] == "missing":
            lines.append(f"{path}: required value is missing")
            continue
        value = item.get("input")
        if isinstance(value, (dict, BaseModel)) and item["type"] in ("value_error", "assertion_error"):
            lines.append(f"{path}: {message}" if path else message)
        else:
            lines.append(f"{path} = {value!r}: {message}" if path else message)
    return lines


def build_scenario(base: Scenario | Mapping[str, Any] | None = None,
                   overrides: Mapping[str, Any] | None = None) -> Scenario:
    """Validate a tree (or a dict of one) with dotted-path overrides applied."""
    if isinstance(base, Scenario):
        data = base.model_dump()
    elif base is None:
        data = {}
    elif isinstance(base, Mapping):
        data = _deep_copy(base)
    else:
        raise ParameterError([f"a scenario must be a Scenario or a dict, not {type(base).__name__}"])
    for path, value in (overrides or {}).items():
        set_path(data, path, value)
    try:
        return Scenario.model_validate(data)
    except ValidationError as error:
        raise ParameterError(explain(error, data)) from None


def _deep_copy(data: Mapping[str, Any]) -> dict:
    return {k: _deep_copy(v) if isinstance(v, Mapping) else _plain(v) for k, v in data.items()}
