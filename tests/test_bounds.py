"""Values that validate must run: every number the tree accepts gives finite metrics, and what it
refuses it refuses at load, saying what is allowed.

The numeric leaves are read from the tree itself (a field's pydantic metadata: ge, gt, le, lt), so
a parameter added later is drawn from its own declared bounds without touching this file.
"""

from __future__ import annotations

import math
import tomllib
import types
import typing
import warnings
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim import ChannelModel, ParameterError
from sim.params import (
    DEMAND_GROWTH_MAX,
    HEADCOUNT_MAX,
    MONEY_MAX,
    Change,
    Scenario,
    build_scenario,
)
from sim.results import resolved_toml
from sim.streams import COUNT_MAX, poisson_from_uniform
from sim.tree import dict_type, submodel, unwrap

# the harness fixes these: the population's size, the horizon and how a run is repeated (they shape the run,
# not the arithmetic of a quarter; the horizon is exercised below, by growth over the longest one)
HARNESS = {"quarters", "partners.count", "run.seed", "run.replicates", "meta.window"}  # meta.window: how a report reads
PARTNERS, QUARTERS = 40, 6


def every_value_of_a_rival() -> dict:
    """A rival's own programme (`rivals.each`) stating every value it may state, each as the rivals' programme has
    it: the tables of a rival's own are reached, and the run is the same."""
    stated = Scenario().rivals.program.model_dump(exclude={"name"})
    del stated["tiers"]["names"]
    return stated


# the tree the draws start from: a rebate ladder with a rung, so that the rung's numbers are leaves too; a rival
# stating its whole programme, so that the numbers of a rival's own are
REFERENCE = build_scenario(None, {"partners.count": PARTNERS, "quarters": QUARTERS,
                                  "vendor.rebate.ladder": [{"threshold": 500_000.0, "rate": 0.05}],
                                  "rivals.each": {"rival_1": every_value_of_a_rival()}})


# ---------------------------------------------------------------- the leaves, from the tree


@dataclass(frozen=True)
class Leaf:
    """One number of the tree: where it is and what its field declares."""

    path: tuple  # keys and list indices from the root
    owner: type  # the table class that declares it
    field: str
    kind: type  # int or float
    low: float
    high: float
    low_open: bool
    high_open: bool
    optional: bool  # None is allowed
    no_cap: bool  # inf is allowed (a budget cap)

    @property
    def name(self) -> str:
        """The dotted path, list items as `[i]`: `vendor.rebate.ladder[0].rate`."""
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.path).lstrip(".")


def declared_bounds(annotation, metadata) -> tuple:
    """(kind, low, high, low_open, high_open, optional, no_cap) from a field's annotation and metadata."""
    optional = False
    found = list(metadata)
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation, *extra = typing.get_args(annotation)
            for item in extra:
                found += getattr(item, "metadata", None) or [item]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            optional = optional or len(args) < len(typing.get_args(annotation))
            annotation = args[0]
        else:
            break
    low, high, low_open, high_open, no_cap = -math.inf, math.inf, False, False, False
    for item in found:
        if getattr(item, "ge", None) is not None:
            low = item.ge
        if getattr(item, "gt", None) is not None:
            low, low_open = item.gt, True
        if getattr(item, "le", None) is not None:
            high = item.le
        if getattr(item, "lt", None) is not None:
            high, high_open = item.lt, True
        no_cap = no_cap or getattr(item, "allow_inf_nan", False)
    return annotation, low, high, low_open, high_open, optional, no_cap


def _is_number(annotation) -> bool:
    kind = declared_bounds(annotation, [])[0]
    return kind in (int, float)


def leaves(node: BaseModel, path: tuple = ()) -> list[Leaf]:
    """Every number of a tree, walked through its tables, free-key tables and lists."""
    found = []
    for name, info in type(node).model_fields.items():
        value = getattr(node, name)
        where = (*path, name)
        if ".".join(map(str, where)) in HARNESS or isinstance(value, str | bool):
            continue
        table = dict_type(info.annotation)
        if isinstance(value, BaseModel):
            found += leaves(value, where)
        elif table is not None:
            element = typing.get_args(table)[1]
            if submodel(element):
                for key, sub in (value or {}).items():
                    found += leaves(sub, (*where, key))
            elif _is_number(element):  # a table of numbers by vertical: its first key, or the first vertical
                key = next(iter(value or {}), REFERENCE.market.verticals[0])
                found.append(Leaf((*where, key), type(node), name, *declared_bounds(element, [])))
        elif typing.get_origin(unwrap(info.annotation)) is list:
            element = typing.get_args(unwrap(info.annotation))[0]
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += leaves(item, (*where, index))
                elif _is_number(element):
                    found.append(Leaf((*where, index), type(node), name, *declared_bounds(element, [])))
        elif _is_number(info.annotation):
            found.append(Leaf(where, type(node), name, *declared_bounds(info.annotation, info.metadata)))
    return found


LEAVES = leaves(REFERENCE)


def number_fields(model: type[BaseModel], seen: set | None = None) -> dict[tuple[type, str], tuple]:
    """The bounds of every numeric field reachable from a table class, by (class, field): from the classes
    alone, so that a number in a list or table the reference tree leaves empty is found too."""
    seen = set() if seen is None else seen
    out = {}
    if model in seen or model is Change:  # a schedule entry sets parameters of the tree, checked there
        return out
    seen.add(model)
    for name, info in model.model_fields.items():
        table = dict_type(info.annotation)
        inner = unwrap(info.annotation)
        if table is not None or typing.get_origin(inner) is list:
            element, metadata = typing.get_args(table)[1] if table is not None else typing.get_args(inner)[0], []
        else:
            element, metadata = info.annotation, info.metadata
        sub = submodel(element)
        if sub is not None:
            out |= number_fields(sub, seen)
        elif _is_number(element):
            out[model, name] = declared_bounds(element, metadata)
    return out


def test_every_number_of_the_tree_declares_finite_bounds_and_is_drawn_here():
    fields = number_fields(Scenario)
    unbounded = [f"{model.__name__}.{name}" for (model, name), (_, low, high, *_) in fields.items()
                 if not (math.isfinite(low) and math.isfinite(high))]
    assert not unbounded, f"numbers without finite bounds: {unbounded}"
    harness = {(type(REFERENCE), "quarters"), (type(REFERENCE.partners), "count"), (type(REFERENCE.run), "seed"),
               (type(REFERENCE.run), "replicates"), (type(REFERENCE.meta), "window")}
    missing = set(fields) - {(leaf.owner, leaf.field) for leaf in LEAVES} - harness
    assert not missing, f"numbers of the tree this test does not reach (add them to REFERENCE): {missing}"
    assert len(LEAVES) > 150


# ---------------------------------------------------------------- drawing values inside the bounds


def ends(leaf: Leaf) -> tuple[float, float]:
    """The lowest and highest values a leaf accepts (inside an open bound, whole numbers for an int)."""
    low = math.nextafter(leaf.low, math.inf) if leaf.low_open else leaf.low
    high = math.nextafter(leaf.high, -math.inf) if leaf.high_open else leaf.high
    if leaf.kind is int:
        return math.ceil(low), math.floor(high)
    return low, high


def values(leaf: Leaf) -> st.SearchStrategy:
    """The extremes of the bounds, uniform draws and, over a wide positive range, log-uniform draws."""
    low, high = ends(leaf)
    if leaf.kind is int:
        options = [st.sampled_from([low, high]), st.integers(low, high)]
        if low >= 0 and high > 100 * max(low, 1):
            options.append(st.floats(math.log(max(low, 1)), math.log(high)).map(
                lambda x: min(high, max(low, round(math.exp(x))))))
    else:
        options = [st.sampled_from([low, high]), st.floats(low, high, allow_nan=False, allow_infinity=False)]
        floor = low if low > 0 else high * 1e-9
        if low >= 0 and high > 1000 * floor:
            options.append(st.floats(math.log(floor), math.log(high)).map(
                lambda x: min(high, max(low, math.exp(x)))))
    if leaf.optional:
        options.append(st.none())
    if leaf.no_cap:
        options.append(st.just(math.inf))
    return st.one_of(options)


def place(data: dict, path: tuple, value) -> None:
    node = data
    for part in path[:-1]:
        if isinstance(node, dict) and node.get(part) is None:  # an optional table left unset (or not stated)
            node[part] = {}
        node = node[part]
    node[path[-1]] = value


def run_finite(params: Scenario, seed: int = 1) -> ChannelModel:
    """Run a scenario to its horizon; every metric of every quarter and every partner number is finite."""
    model = ChannelModel(params, rng=seed, agents=False)
    for _ in range(params.quarters):
        model.step()
        bad = {k: v for k, v in model.kpis.items() if not np.isfinite(v)}
        assert not bad, f"quarter {model.quarter}: {bad}"
    frame = model.kpi_frame()
    assert np.isfinite(frame.to_numpy(dtype=float)).all()
    for name in model.partners.columns:
        column = getattr(model.partners, name)
        if column.dtype.kind == "f":
            assert np.isfinite(column).all(), f"partner column {name} has NaN or inf"
    return model


@pytest.mark.parametrize("end", ["low", "high"])
def test_each_number_at_each_end_of_its_bounds_runs_finite(end):
    """Every leaf alone at its lowest and highest accepted value (one leaf per declared field)."""
    fields = {}
    for leaf in LEAVES:
        fields.setdefault((leaf.owner, leaf.field, leaf.path[-1] if isinstance(leaf.path[-1], int) else None), leaf)
    refused = []
    for leaf in fields.values():
        data = REFERENCE.model_dump()
        place(data, leaf.path, ends(leaf)[0 if end == "low" else 1])
        try:
            params = build_scenario(data)
        except ParameterError as error:  # a combination the tree refuses (a sum, a rising ladder)
            refused.append(str(error))
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            run_finite(params)
    assert len(refused) < len(fields) / 4, refused


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow])
@given(data=st.data())
def test_any_values_the_tree_accepts_give_finite_metrics(data):
    chosen = data.draw(st.lists(st.sampled_from(LEAVES), min_size=1, max_size=8, unique_by=lambda leaf: leaf.path))
    tree = REFERENCE.model_dump()
    for leaf in chosen:
        place(tree, leaf.path, data.draw(values(leaf), label=leaf.name))
    try:
        params = build_scenario(tree)
    except ParameterError:
        assume(False)  # a combination the tree refuses (cross-field checks)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        run_finite(params, seed=data.draw(st.integers(0, 2**31), label="seed"))


# ---------------------------------------------------------------- finite numbers


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf], ids=["nan", "inf", "-inf"])
def test_nan_or_inf_anywhere_is_refused_as_not_a_finite_number(bad):
    for leaf in LEAVES:
        if leaf.kind is int:
            continue
        data = REFERENCE.model_dump()
        place(data, leaf.path, bad)
        if leaf.no_cap and bad == math.inf:
            assert math.isinf(build_scenario(data).get(leaf.name))
            continue
        with pytest.raises(ParameterError) as error:
            build_scenario(data)
        expected = "must be a finite number"
        if leaf.no_cap and math.isnan(bad):
            expected = "must be a finite number, or inf for no cap"
        if leaf.no_cap and bad < 0:
            expected = "must be greater than 0"
        named = (leaf.name, ".".join(map(str, leaf.path)))  # a list item as [0] or, in older messages, .0
        assert any(f"{name} = {bad!r}: {expected}" in str(error.value) for name in named), str(error.value)


def test_a_budget_cap_keeps_inf_for_no_cap_and_the_resolved_scenario_loads_again():
    params = build_scenario(None, {"vendor.spif.budget": 2e5})
    assert params.vendor.rebate.budget == math.inf and params.rivals.program.spif.budget == math.inf
    text = resolved_toml(params, "x.toml")
    assert "budget = inf" in text
    assert build_scenario(tomllib.loads(text.split("\n", 2)[2])) == params
    with pytest.raises(ParameterError, match=r"vendor.rebate.budget = 2000000000000.0: must be at most 1e12, or inf"):
        build_scenario(None, {"vendor.rebate.budget": 2e12})


# ---------------------------------------------------------------- the examples that used to crash


def test_growth_that_would_multiply_demand_beyond_a_thousandfold_is_refused_saying_what_is_allowed():
    with pytest.raises(ParameterError) as error:
        build_scenario(None, {"market.growth": 0.1, "quarters": 400})
    message = str(error.value)
    assert message.startswith("market.growth = 0.1 over quarters = 400 multiplies demand by 3.6e16")
    assert "may multiply demand by at most 1,000" in message
    scheduled = {"quarters": 100, "schedule": [{"quarter": 50, "set": {"market.growth": 0.1}}]}
    with pytest.raises(ParameterError, match="schedule.*market.growth = 0.1 over quarters = 100"):
        build_scenario(scheduled)


@pytest.mark.parametrize("growth", [DEMAND_GROWTH_MAX ** (1 / 400) - 1 - 1e-12, -0.2], ids=["largest", "smallest"])
def test_the_most_extreme_growth_accepted_runs_the_longest_horizon_finite(growth):
    params = build_scenario(None, {"market.growth": growth, "quarters": 400, "partners.count": 20})
    model = run_finite(params)
    if growth > 0:
        assert model.kpi_frame()["revenue"].iloc[-40:].mean() > 100 * model.kpi_frame()["revenue"].iloc[:40].mean()


@pytest.mark.parametrize("overrides, expected", [
    ({"partners.size_min": 1e12, "partners.size_max": 1e12}, "partners.size_min = 1000000000000.0: must be less "
                                                               "than or equal to 100000"),
    ({"market.opportunities_per_fte.smb": 1e300}, "market.opportunities_per_fte.smb = 1e+300: must be less than "
                                                  "or equal to 500"),
    ({"vendor.mdf.budget": 1e300}, "vendor.mdf.budget = 1e+300: must be less than or equal to 1000000000000"),
    ({"vendor.recruitment.budget": 1e12}, "vendor.recruitment: budget = 1e12 at cost_per_recruit = 15000 buys "
                                          "6.7e7 recruits a quarter; at most 100,000"),
    ({"market.opportunities_per_fte": {"smb": 0.0, "midmarket": 0.0, "enterprise": 3.0},
      "market.win_base.enterprise": 0.0}, "market: opportunities_per_fte x win_base is 0 in every segment"),
])
def test_values_that_used_to_overflow_are_refused_at_load(overrides, expected):
    with pytest.raises(ParameterError) as error:
        build_scenario(None, overrides)
    assert expected in str(error.value)


def test_the_biggest_channel_the_tree_accepts_runs_finite():
    """Every magnitude at its bound together: the largest firms, the most opportunities, demand and deals, and MDF
    accrued on revenue feeding the demand that makes it (the one loop that could run away)."""
    most = {"smb": 1_000.0, "midmarket": 1_000.0, "enterprise": 1_000.0}
    params = build_scenario(None, {
        "partners.count": 20, "quarters": 18, "partners.size_min": HEADCOUNT_MAX, "partners.size_max": HEADCOUNT_MAX,
        "market.segment_demand": most, "market.vertical_demand": {"finance": 1_000.0},
        "market.growth": DEMAND_GROWTH_MAX ** (1 / 18) - 1 - 1e-12,
        "market.opportunities_per_fte": {"smb": 500.0, "midmarket": 500.0, "enterprise": 500.0},
        "market.deal_size_median": {"smb": 1e9, "midmarket": 1e9, "enterprise": 1e9},
        "market.deal_size_sigma": {"smb": 3.0, "midmarket": 3.0, "enterprise": 3.0},
        "market.win_base": {"smb": 1.0, "midmarket": 1.0, "enterprise": 1.0},
        "vendor.mdf.mode": "accrual", "vendor.mdf.accrual_rate": 0.2, "vendor.mdf.elasticity": 1.0,
        "vendor.mdf.carryover": 0.95, "vendor.mdf.reference_dollars": 1.0, "vendor.mdf.claim_max": 1.0,
        "vendor.spif.amount": MONEY_MAX, "vendor.spif.line": "", "vendor.mdf.allocation": "equal"})
    model = run_finite(params)
    assert model.kpis["revenue"] > 1e20


def test_mdf_at_the_largest_budget_leaves_mindshare_finite():
    model = run_finite(build_scenario(None, {"partners.count": 20, "quarters": 8, "vendor.mdf.budget": MONEY_MAX,
                                             "vendor.mdf.elasticity": 1.0, "vendor.mdf.carryover": 0.95}))
    assert 0 < model.kpis["mindshare"] <= 1


def test_poisson_counts_stop_at_their_cap_whatever_the_mean():
    mean = np.array([0.0, 2.0, 1e6, 3e8, 1e30, np.float32(3e38)], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        counts = poisson_from_uniform(mean, np.full(mean.size, 0.999, np.float32))
    assert counts.dtype == np.int32 and (counts[3:] == COUNT_MAX).all() and 0 < counts[2] < COUNT_MAX


# ---------------------------------------------------------------- rosters


def test_a_roster_headcount_beyond_the_trees_bound_is_refused_naming_file_row_column_and_value(tmp_path):
    roster = tmp_path / "big.csv"
    roster.write_text("id,sales,technical,marketing,trailing_revenue\nP1,3,1,0,100\nP2,1000000000000,1,0,100\n")
    with pytest.raises(ParameterError) as error:
        ChannelModel(partners__roster=str(roster), quarters=1)
    assert "big.csv, row 3, column 'sales': '1000000000000' is not allowed" in str(error.value)
    assert "100,000" in str(error.value)
    roster.write_text("id,sales,trailing_revenue\nP1,3,1e13\n")
    with pytest.raises(ParameterError, match=r"big.csv, row 2, column 'trailing_revenue': '1e13' is not allowed"):
        ChannelModel(partners__roster=str(roster), quarters=1)


def test_a_roster_at_the_bounds_runs_finite(tmp_path):
    roster = tmp_path / "edge.csv"
    roster.write_text("id,sales,technical,marketing,trailing_revenue\nP1,100000,100000,100000,1e12\n"
                      "P2,1,0,0,0\n")
    run_finite(build_scenario(None, {"partners.roster": str(roster), "quarters": 4}))



def test_a_roster_with_no_priority_in_the_pushed_vertical_runs_finite(tmp_path):
    roster = tmp_path / "no_manufacturing.csv"  # no push: the first vertical counts as pushed
    roster.write_text("id,manufacturing,healthcare,finance,public_sector,retail\nA,0,1,0,0,0\nB,0,0.5,0.5,0,0\n")
    model = run_finite(build_scenario(None, {"partners.roster": str(roster), "quarters": 3,
                                             "vendor.recruitment.enabled": False}))
    assert model.kpis["push_effort_share"] == 0.0


def test_partners_whose_segments_give_no_deals_run_finite(tmp_path):
    roster = tmp_path / "enterprise_only.csv"
    roster.write_text("id,smb,midmarket,enterprise\nA,0,0,1\nB,0,0,1\nC,0.5,0.5,0\n")
    model = run_finite(build_scenario(None, {"partners.roster": str(roster), "quarters": 3,
                                             "market.opportunities_per_fte.enterprise": 0.0}))
    assert model.partners.deals_per_dollar[:2].tolist() == [0.0, 0.0] and model.partners.deals_per_dollar[2] > 0


def test_a_push_of_tiny_weights_points_where_its_weights_point():
    tiny = {v: 1e-300 for v in ("manufacturing", "finance", "public_sector", "retail")} | {"healthcare": 2e-300}
    pushed = run_finite(build_scenario(None, {"partners.count": 40, "quarters": 3, "vendor.push": tiny}))
    scaled = run_finite(build_scenario(None, {"partners.count": 40, "quarters": 3,
                                              "vendor.push": {k: v * 1e300 for k, v in tiny.items()}}))
    assert pushed.kpis["push_effort_share"] == pytest.approx(scaled.kpis["push_effort_share"], rel=1e-6)
