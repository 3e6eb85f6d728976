"""The parameter tree: one source of defaults, overrides by path, errors that say what is wrong."""

import pytest

from sim import ChannelModel, ParameterError, Scenario
from sim.params import build_scenario, check_path


def test_the_default_tree_is_the_default_channel():
    model = ChannelModel()
    assert model.params == Scenario()
    assert model.partners.n == 500 and model.n_vendors == 3
    assert model.params.market.verticals == ["manufacturing", "healthcare", "finance", "public_sector", "retail"]


def test_overrides_by_dotted_path_written_with_double_underscores():
    model = ChannelModel(partners__count=120, vendor__rebate__rate=0.04, rivals__count=1)
    assert model.params.partners.count == 120
    assert model.params.vendor.rebate.rate == 0.04
    assert model.partners.n == 120 and model.n_vendors == 2


def test_a_tree_or_a_dict_is_accepted():
    tree = Scenario().with_overrides({"partners.count": 50})
    assert ChannelModel(tree).partners.n == 50
    assert ChannelModel({"partners": {"count": 60}}).partners.n == 60
    assert ChannelModel({"partners": {"count": 60}}, partners__count=70).partners.n == 70


def test_an_unknown_name_is_named_with_a_suggestion():
    with pytest.raises(ParameterError) as error:
        ChannelModel(vendor__rebate__rat=0.04)
    assert "vendor.rebate.rat" in str(error.value) and "did you mean 'rate'" in str(error.value)
    with pytest.raises(ParameterError, match="partners.cout.*did you mean 'count'"):
        build_scenario({"partners": {"cout": 3}})


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"vendor.rebate.rate": -0.1}, r"vendor.rebate.rate = -0.1: must be greater than or equal to 0"),
        ({"partners.count": 0}, r"partners.count = 0: must be greater than or equal to 1"),
        ({"partners.inertia": 1.5}, r"partners.inertia = 1.5: must be less than or equal to 1"),
        ({"vendor.margin.base": "high"}, r"vendor.margin.base = 'high': must be a valid number"),
        ({"partners.roles.sales": 0.9}, r"partners.roles: sales \+ technical \+ marketing must sum to 1"),
        ({"vendor.push": {"helthcare": 2.0}},
         r"vendor.push.helthcare: unknown vertical \(did you mean 'healthcare'\?\)"),
        ({"market.close_delay.enterprise": [0.5, 0.6]}, r"market.close_delay.enterprise.*must sum to 1"),
        ({"partners.size_max": 1.0}, r"size_max \(1.0\) must be at least size_min"),
        ({"vendor.rebate.ladder": [{"threshold": 50_000.0, "rate": 0.05}]}, r"rebate thresholds must rise"),
        ({"vendor.tiers.margin_points": [0.0, 0.01]}, r"margin_points needs one value per tier \(4"),
        ({"vendor.spif.line": "softwear"}, r"vendor.spif.line = 'softwear'.*did you mean 'software'"),
        ({"vendor.spif.every": 0, "vendor.spif.start": 60}, r"vendor.spif.start = 60: the window starts after"),
        ({"rivals.program.recruitment.enabled": True}, r"rivals do not run recruitment"),
        ({"vendor.mdf.allocation": "vertical", "vendor.mdf.target": "mining"}, r"vendor.mdf.target = 'mining'"),
        ({"vendor.margin.lines": {"a": {"share": 0.5}}}, r"product line shares must sum to 1"),
        ({"vendor.push.healthcare.x": 1}, r"is a value, not a table"),
    ],
)
def test_a_bad_value_names_the_path_the_value_and_what_is_allowed(overrides, expected):
    with pytest.raises(ParameterError, match=expected):
        build_scenario(None, overrides)


def test_every_path_of_the_tree_is_addressable():
    flat = Scenario().flat()
    assert "vendor.rebate.rate" in flat and "partners.attraction.profit" in flat
    for path in flat:
        check_path(path)
        assert Scenario().get(path) == flat[path]


def test_a_partial_table_keeps_the_defaults_around_it():
    tree = build_scenario(None, {"rivals.program.spif.enabled": False})
    assert tree.rivals.program.name == "rival"
    assert not tree.rivals.program.recruitment.enabled  # the rivals' own default, not the class default
    from_dict = build_scenario({"rivals": {"program": {"margin": {"base": 0.3}}}})
    assert from_dict.rivals.program.margin.base == 0.3 and from_dict.rivals.program.name == "rival"
    assert from_dict.rivals.program.margin.lines == Scenario().rivals.program.margin.lines
    lines = build_scenario({"vendor": {"margin": {"lines": {"services": {"share": 1.0}}}, "spif": {"line": ""}}})
    assert list(lines.vendor.margin.lines) == ["services"]  # a table of free keys is replaced whole


def test_numpy_values_from_a_sweep_are_accepted():
    import numpy as np

    model = ChannelModel(partners__count=np.int64(80), vendor__rebate__rate=np.float64(0.05))
    assert model.partners.n == 80
