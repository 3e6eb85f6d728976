"""A schedule that validates must run, and must take effect: every value of the tree that may change part-way
through a run, changed at quarter 2, runs with finite metrics in the same columns; every value fixed during a
run (params.FIXED_DURING_RUN), changed by name or inside a table set whole, is refused at load, named.

The leaves are read from the tree itself, as tests/test_bounds.py reads its numbers: a parameter added later
is scheduled here without touching this file.
"""

from __future__ import annotations

import copy
import math
import re
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
import pytest
from pydantic import BaseModel, ValidationError
from test_bounds import Leaf, declared_bounds, ends, every_value_of_a_rival, run_finite

from sim import ChannelModel, ParameterError, metrics
from sim.params import FIXED_DURING_RUN, GROUPS, MARGINAL_LEVERS, SEGMENTS, Change, Scenario, build_scenario
from sim.partners import firm_profile
from sim.tree import Partial, dict_type, submodel, unwrap

PARTNERS, QUARTERS, AT = 40, 4, 2
# the tree the changes start from: a rebate ladder with a rung, so that a list of tables has an item to change; a
# rival stating its whole programme and another a value of it, so that a rival's own values change, and two swap
REFERENCE = build_scenario(None, {"partners.count": PARTNERS, "quarters": QUARTERS,
                                  "vendor.rebate.ladder": [{"threshold": 500_000.0, "rate": 0.05}],
                                  "meta.window": [1, 2], "meta.marginal": ["cam_hours", "mdf"],  # (unset by default)
                                  "meta.groups": ["segment"],
                                  "rivals.each": {"rival_1": every_value_of_a_rival(),
                                                  "rival_2": {"reaction": {"lag": 2}}}})
DUMP = REFERENCE.model_dump()
EXAMPLES = {Change: {"quarter": 1, "set": {}}}  # an item for an empty list of tables the reference has none of


# ---------------------------------------------------------------- the leaves, from the tree


@dataclass(frozen=True)
class Setting:
    """One value of the tree a schedule entry can change: a value, an item of a list, or a list or table of
    tables as a whole (its length, its entries)."""

    location: tuple  # keys and list indices from the root
    owner: type  # the table class that declares it
    field: str
    annotation: Any
    metadata: tuple = ()
    whole: bool = False

    @property
    def name(self) -> str:
        return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in self.location).lstrip(".")

    @property
    def target(self) -> str:
        """The dotted path a schedule entry sets: down to the first list item (an item has no path of its own)."""
        keys = []
        for part in self.location:
            if isinstance(part, int):
                break
            keys.append(part)
        return ".".join(keys)

    @property
    def fixed(self) -> str | None:
        """The path of FIXED_DURING_RUN it lies in, if any."""
        return next((f for f in FIXED_DURING_RUN if self.target == f or self.target.startswith(f + ".")), None)


def settings_of(node: BaseModel, location: tuple = ()) -> list[Setting]:
    """Every value of a tree, walked through its tables, free-key tables and lists."""
    found = []
    for name, info in type(node).model_fields.items():
        value, where = getattr(node, name), (*location, name)
        table, inner = dict_type(info.annotation), unwrap(info.annotation)
        if value is None and isinstance(node, Partial) and table is None and submodel(info.annotation):
            continue  # a table a rival's own programme leaves to the rivals' (REFERENCE's first rival states it)
        if isinstance(value, BaseModel):
            found += settings_of(value, where)
        elif table is not None:
            element = typing.get_args(table)[1]
            if submodel(element):
                for key, sub in (value or {}).items():
                    found += settings_of(sub, (*where, key))
                found.append(Setting(where, type(node), name, info.annotation, whole=True))
            else:  # a table of values by vertical: its first key, or the first vertical
                key = next(iter(value or {}), REFERENCE.market.verticals[0])
                found.append(Setting((*where, key), type(node), name, element))
        elif typing.get_origin(inner) is list:
            element = typing.get_args(inner)[0]
            for index, item in enumerate(value):
                if isinstance(item, BaseModel):
                    found += settings_of(item, (*where, index))
                else:
                    found.append(Setting((*where, index), type(node), name, element))
            found.append(Setting(where, type(node), name, info.annotation, whole=True))
        else:
            found.append(Setting(where, type(node), name, info.annotation, tuple(info.metadata)))
    return found


SETTINGS = settings_of(REFERENCE)


def fields_of(model: type[BaseModel], seen: set | None = None) -> set[tuple[type, str]]:
    """Every (table class, field) that holds a value, from the classes alone."""
    seen = set() if seen is None else seen
    if model in seen or model is Change:  # a schedule entry is a value of the schedule, not a table of the tree
        return set()
    seen.add(model)
    out = set()
    for name, info in model.model_fields.items():
        table, inner = dict_type(info.annotation), unwrap(info.annotation)
        element = (typing.get_args(table)[1] if table is not None else
                   typing.get_args(inner)[0] if typing.get_origin(inner) is list else info.annotation)
        sub = submodel(element)
        if sub is not None:
            out |= fields_of(sub, seen)
        if sub is None or element is not info.annotation:  # a value, or a list or table of tables
            out.add((model, name))
    return out


# ---------------------------------------------------------------- other values


def _get(data: Any, location: tuple) -> Any:
    for part in location:
        data = data[part] if isinstance(data, list) else (data or {}).get(part)
    return data


def _put(data: Any, location: tuple, value: Any) -> Any:
    """`data` (a copy) with the value at `location` replaced."""
    if not location:
        return value
    out = copy.deepcopy(data) if data is not None else {}
    head, *rest = location
    out[head] = _put(out[head] if isinstance(out, list) or head in out else None, tuple(rest), value)
    return out


def _numbers(setting: Setting, current: Any) -> list:
    bounds = declared_bounds(setting.annotation, setting.metadata)
    low, high = ends(Leaf((), setting.owner, setting.field, *bounds))
    kind = bounds[0]
    if current is None or (isinstance(current, float) and math.isinf(current)):
        out = [high, low, (low + high) / 2]
    else:
        far, near = (high, low) if current - low <= high - current else (low, high)
        out = [far, near, current * 2, current / 2, current + 1, current - 1, (low + high) / 2]
    return [kind(min(high, max(low, round(x) if kind is int else x))) for x in out]


def _example(model: type[BaseModel], node: Any = REFERENCE) -> dict | None:
    """An item of a list of tables, for an empty list: one the reference holds elsewhere, or EXAMPLES'."""
    if isinstance(node, model):
        return node.model_dump()
    children = (list(node) if isinstance(node, list) else list(node.values()) if isinstance(node, dict) else
                [getattr(node, name) for name in type(node).model_fields] if isinstance(node, BaseModel) else [])
    found = (_example(model, child) for child in children)
    return next((item for item in found if item is not None), EXAMPLES.get(model) if node is REFERENCE else None)


def _raised(item: dict, model: type[BaseModel]) -> dict:
    """A list item like `item`, each number halfway to its upper bound (a rung above the last)."""
    out = {}
    for name, value in item.items():
        info = model.model_fields[name]
        bounds = declared_bounds(info.annotation, info.metadata)
        if isinstance(value, bool) or bounds[0] not in (int, float):
            out[name] = value
            continue
        high = ends(Leaf((), model, name, *bounds))[1]
        out[name] = bounds[0](value + (high - value) / 2)
    return out


def alternatives(setting: Setting) -> list:
    """Other values for a setting, the likeliest to be accepted first (it may refuse them all)."""
    current = _get(DUMP, setting.location)
    if setting.whole:
        if isinstance(current, dict):  # a table of tables: two entries swap their values
            keys = list(current)
            return [{**current, keys[0]: current[keys[1]], keys[1]: current[keys[0]]}] if len(keys) > 1 else []
        element = typing.get_args(unwrap(setting.annotation))[0]
        model = submodel(element)
        if model is not None:
            longer = _raised(current[-1], model) if current else _example(model)
        else:  # a list of values: one more, at the low end of its bounds (a closing delay of probability 0)
            kind = declared_bounds(element, [])[0]
            longer = (False if kind is bool else "x" if kind is str else
                      _numbers(Setting((), setting.owner, setting.field, element), None)[1])
        return [x for x in ([*current, longer], current[:-1]) if x != current]
    kind, *_, optional, _ = declared_bounds(setting.annotation, setting.metadata)
    if kind is bool:
        out = [not current]
    elif typing.get_origin(kind) is Literal:
        out = list(typing.get_args(kind))
    elif kind in (int, float):
        out = _numbers(setting, current)
    else:  # a name: empty, another, or one the tree knows (a product line, a vertical, a segment)
        out = ["", "x", *REFERENCE.vendor.margin.lines, *REFERENCE.market.verticals, *SEGMENTS, *GROUPS,
               *MARGINAL_LEVERS]
    if optional:
        out.append(None)
    unique = []
    for value in out:
        if value != current and value not in unique:
            unique.append(value)
    return unique


def scheduled(target: str, value: Any, quarter: int = AT) -> dict:
    return {**DUMP, "schedule": [{"quarter": quarter, "set": {target: value}}]}


def target_value(setting: Setting, value: Any) -> Any:
    """What an entry sets at the setting's target for the setting to have `value`."""
    location = setting.location
    inside = location[len(setting.target.split(".")):]
    return _put(_get(DUMP, location[:len(location) - len(inside)]), inside, value)


def first_accepted(setting: Setting) -> tuple[Any, Any] | None:
    """(the value, what the entry sets) of the first alternative a schedule entry may set at quarter 2."""
    for value in alternatives(setting):
        change = target_value(setting, value)
        try:
            build_scenario(scheduled(setting.target, change))
        except (ParameterError, ValidationError):
            continue
        return value, change
    return None


def first_valid(setting: Setting) -> tuple[Any] | None:
    """(the first alternative the tree accepts at the start,): a refusal of its change is about the change."""
    for value in alternatives(setting):
        tree = _put(DUMP, setting.location, value)
        if setting.name == "rivals.program.name":  # the rivals' own programmes go by the rivals' new names
            tree["rivals"]["each"] = {f"{value}_{key.rpartition('_')[2]}": own
                                      for key, own in DUMP["rivals"]["each"].items()}
        try:
            build_scenario(tree)
        except (ParameterError, ValidationError):
            continue
        return (value,)
    return None


CHANGES = {s.name: (s, first_accepted(s)) for s in SETTINGS if s.fixed is None}
TRIED = {name: (s, chosen) for name, (s, chosen) in CHANGES.items() if chosen is not None}
FIXED_CHANGES = {s.name: (s, first_valid(s)) for s in SETTINGS if s.fixed is not None}
FIXED_TRIED = {name: (s, chosen[0]) for name, (s, chosen) in FIXED_CHANGES.items() if chosen is not None}


# what no other value changes alone: one of several that sum to 1 (roles, product-line shares, closing delays), the
# length of a list of one value per tier (it follows the tier names), a rival's lifecycle (the focal vendor's)
ONLY_TOGETHER = (r"partners\.roles\..*", r".*\.margin\.lines\..*\.share", r"market\.close_delay\.\w+\[\d\]",
                 r".*\.tiers\.(names|revenue|certified|margin_points|mdf_weight|cam_coverage)",
                 r"rivals\.program\.(termination|recruitment|loyalty)\.enabled")


def _only_together(names) -> set[str]:
    return {name for name in names if any(re.fullmatch(pattern, name) for pattern in ONLY_TOGETHER)}


def test_every_value_of_the_tree_is_reached_and_every_one_changed_alone_or_with_others():
    missing = fields_of(Scenario) - {(s.owner, s.field) for s in SETTINGS}
    assert not missing, f"values of the tree this test does not reach (add them to REFERENCE): {missing}"
    assert set(CHANGES) - set(TRIED) == _only_together(CHANGES)
    assert len(TRIED) > 250
    assert set(FIXED_CHANGES) - set(FIXED_TRIED) == _only_together(FIXED_CHANGES)
    assert {s.fixed for s, _ in FIXED_TRIED.values()} == set(FIXED_DURING_RUN)


# ---------------------------------------------------------------- what may change runs, and takes effect


def _same_columns_every_quarter(model: ChannelModel) -> None:
    columns = set(metrics.names(model))
    for quarter, row in enumerate(model.lane_kpis[0], start=1):
        assert set(row) == columns, f"quarter {quarter}: {set(row) ^ columns}"


@pytest.mark.parametrize("name", list(TRIED))
def test_a_scheduled_change_to_a_value_that_may_change_runs_finite_and_takes_effect(name):
    setting, (value, change) = TRIED[name]
    model = run_finite(build_scenario(scheduled(setting.target, change)))
    _same_columns_every_quarter(model)
    assert model.kpi_frame().shape == (QUARTERS, len(metrics.names(model)))
    assert _get(model.params.model_dump(), setting.location) == value


# ---------------------------------------------------------------- what is fixed is refused, however it is set


@pytest.mark.parametrize("name", list(FIXED_TRIED))
def test_a_scheduled_change_to_a_fixed_value_is_refused_at_load_naming_it(name):
    setting, value = FIXED_TRIED[name]
    message = f"schedule[0].set: '{setting.fixed}' cannot change part-way through a run"
    keys = setting.target.split(".")
    for depth in range(len(keys), 0, -1):  # the value itself, then every table around it, set whole
        around = ".".join(keys[:depth])
        whole = _put(_get(DUMP, keys[:depth]), setting.location[depth:], value)
        with pytest.raises(ParameterError) as error:
            build_scenario(scheduled(around, whole))
        assert message in str(error.value), (around, str(error.value))


def test_setting_a_fixed_value_to_what_it_already_is_changes_nothing_and_is_accepted():
    build_scenario(scheduled("partners.count", PARTNERS))
    build_scenario(scheduled("rivals", DUMP["rivals"]))


# ---------------------------------------------------------------- the examples that crashed or gave NaN


TWO_TIERS = {"names": ["registered", "gold"], "revenue": [0.0, 500_000.0], "certified": [0.0, 1.5],
             "margin_points": [0.0, 0.02], "mdf_weight": [0.0, 1.5], "cam_coverage": [False, True]}


@pytest.mark.parametrize("changes, fixed", [
    ({f"vendor.tiers.{k}": v for k, v in TWO_TIERS.items()}, "vendor.tiers.names"),
    ({"vendor.tiers": TWO_TIERS}, "vendor.tiers.names"),
    ({f"rivals.program.tiers.{k}": v for k, v in TWO_TIERS.items()}, "rivals.program.tiers.names"),
    ({"vendor.tiers.names": ["a", "b", "c", "d"]}, "vendor.tiers.names"),
    ({"vendor.tiers.names": ["registered", "silver", "gold", "platinum", "diamond"],
      "vendor.tiers.revenue": [0.0, 1e5, 5e5, 2.5e6, 1e7], "vendor.tiers.certified": [0.0, 0.5, 1.5, 3.0, 5.0],
      "vendor.tiers.margin_points": [0.0, 0.01, 0.02, 0.04, 0.05], "vendor.tiers.mdf_weight": [0.0, 1.0, 1.5, 2.0, 2.5],
      "vendor.tiers.cam_coverage": [False, True, True, True, True]}, "vendor.tiers.names"),
    ({"vendor.tiers.names": ["a", "b"]}, "vendor.tiers.names"),  # named before the lists that no longer fit
    ({"market": {**DUMP["market"], "verticals": ["manufacturing", "healthcare"]}}, "market.verticals"),
    ({"vendor": DUMP["vendor"] | {"name": "acme"}}, "vendor.name"),
    ({"rivals": {"count": 3}}, "rivals.count"),
    ({"market.close_delay.enterprise": [0.5, 0.5]}, "market.close_delay"),
], ids=["six_lists_to_two_tiers", "whole_table_two_tiers", "rival_tiers", "renamed", "fifth_tier",
        "names_alone", "whole_market_verticals", "whole_vendor_name", "whole_rivals_count", "close_delay"])
def test_changes_the_run_cannot_follow_are_refused_at_load_naming_what_is_fixed(changes, fixed):
    with pytest.raises(ParameterError) as error:
        build_scenario({"quarters": 8, "schedule": [{"quarter": 2, "set": changes}]})
    assert str(error.value) == f"schedule[0].set: '{fixed}' cannot change part-way through a run"


def _paired(changes: dict, quarter: int, quarters: int = 5, seed: int = 4) -> tuple[ChannelModel, ChannelModel]:
    """The channel as it is, and on the same seed with `changes` from `quarter` on."""
    base = {**DUMP, "quarters": quarters}
    plain = run_finite(build_scenario(base), seed=seed)
    changed = run_finite(build_scenario({**base, "schedule": [{"quarter": quarter, "set": changes}]}), seed=seed)
    return plain, changed


def test_a_scheduled_deal_size_changes_realised_deal_values_from_its_quarter():
    doubled = {s: 2.0 * v for s, v in DUMP["market"]["deal_size_median"].items()}
    # from quarter 2: quarter 3 is the one before a SPIF window, when how many deals a partner holds back
    # answers the SPIF's worth against the deal's
    plain, changed = _paired({"market.deal_size_median": doubled}, quarter=2)
    a, b = plain.kpi_frame(), changed.kpi_frame()
    assert a.iloc[:1].equals(b.iloc[:1]), "the quarters before the change differ"
    # SMB deals close when won: the quarter's SMB revenue is the value of its wins, each deal worth twice as much
    assert (b["won_deals"].iloc[1] == a["won_deals"].iloc[1]) and b["revenue_smb"].iloc[1] == pytest.approx(
        2.0 * a["revenue_smb"].iloc[1], rel=1e-3)
    assert (b["revenue"].iloc[1:] > 1.3 * a["revenue"].iloc[1:]).all()
    # and what a firm derives from deal sizes follows (half as many deals per revenue dollar), founders included
    t = changed.partners
    profile = firm_profile(t.segment_mix.astype(float), t.verticals.astype(float), changed.params)
    np.testing.assert_allclose(t.deals_per_dollar, profile["deals_per_dollar"], rtol=1e-6)


def test_mdf_switched_off_at_quarter_3_spends_nothing_from_quarter_3():
    plain, changed = _paired({"vendor.mdf.enabled": False}, quarter=3)
    spend = changed.kpi_frame()["spend_mdf"]
    assert (spend.iloc[:2] > 0).all() and (spend.iloc[2:] == 0).all()
    assert (changed.kpi_frame()["mdf_claimed"].iloc[2:] == 0).all()
    assert plain.kpi_frame().iloc[:2].equals(changed.kpi_frame().iloc[:2])


def test_presales_time_counted_as_selling_changes_every_firms_capacity_from_its_quarter():
    plain, changed = _paired({"partners.presales_selling": 1.0}, quarter=2, quarters=2)
    t = changed.partners
    np.testing.assert_array_equal(t.capacity, t.sales + t.technical)
    assert changed.kpi_frame()["won_deals"].iloc[1] > plain.kpi_frame()["won_deals"].iloc[1]


def test_a_tier_programme_switched_on_part_way_places_partners_where_they_qualify():
    base = {**DUMP, "vendor": DUMP["vendor"] | {"tiers": DUMP["vendor"]["tiers"] | {"enabled": False}}}
    model = ChannelModel(build_scenario({**base, "schedule": [{"quarter": 3, "set": {"vendor.tiers.enabled": True}}]}),
                         rng=2, agents=False)
    model.run(2)
    assert (model.partners.tier[0] == 0).all()
    model.step()  # quarter 3 is not a review quarter (every 2): the partners are placed as it starts
    assert model.kpis["partners_registered"] < model.kpis["partners"]
    off = ChannelModel(build_scenario(scheduled("vendor.tiers.enabled", False)), rng=2, agents=False)
    off.run()
    assert off.kpis["partners_registered"] == off.kpis["partners"]


def test_a_termination_rule_put_in_force_part_way_counts_failing_quarters_from_then_on():
    plain, changed = _paired({"vendor.termination.rule": "revenue_floor"}, quarter=2, quarters=2)
    assert plain.partners.failing.max() > 1  # quarters without a deal, from the year before the start
    assert changed.partners.failing.max() == 1  # quarter 2 below the floor, the first under the rule


def test_lanes_with_a_schedule_are_bit_for_bit_the_replicates_run_alone():
    changes = {"market.deal_size_median.smb": 24_000.0, "partners.presales_selling": 1.0,
               "vendor.termination.rule": "revenue_floor", "vendor.tiers.enabled": False}
    params = build_scenario({**DUMP, "schedule": [{"quarter": 2, "set": changes}]})
    together = ChannelModel(params, seeds=[5, 6])
    together.run()
    for c, seed in enumerate([5, 6]):
        pd.testing.assert_frame_equal(together.lane_frames()[c], ChannelModel(params, rng=seed).run(),
                                      check_exact=True)
