"""Dotted paths over any tree of pydantic models, shown on a small one of the tests' own."""

import subprocess
import sys

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.errors import InputError
from sim.tree import ParameterError, check_path, explain, merge, problem_path, set_path


class Table(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Rebate(Table):
    rate: float = Field(default=0.03, ge=0.0, le=0.5)
    threshold: float = 100_000.0


class Line(Table):
    share: float


class Program(Table):
    name: str = "focal"
    rebate: Rebate = Field(default_factory=Rebate)
    ladder: list[Rebate] = Field(default_factory=list)
    lines: dict[str, Line] = Field(default_factory=lambda: {"hardware": Line(share=1.0)})  # a table of tables
    push: dict[str, float] = Field(default_factory=dict)  # a table of values


def test_a_misspelt_name_is_refused_with_the_nearest_name():
    with pytest.raises(ParameterError, match=r"unknown parameter 'rebate.rat' in 'rebate' \(did you mean 'rate'\?\)"):
        check_path("rebate.rat", Program)
    with pytest.raises(ParameterError, match=r"unknown parameter 'rebat' at the top level \(did you mean 'rebate'\?\)"):
        check_path("rebat", Program)
    assert issubclass(ParameterError, InputError)


def test_a_free_key_leads_into_a_table_of_tables_but_ends_a_table_of_values():
    check_path("rebate.rate", Program)
    check_path("lines.software.share", Program)  # any key, then the fields of a Line
    check_path("push.healthcare", Program)
    with pytest.raises(ParameterError, match=r"'push.healthcare.weight': push.healthcare is a value, not a table"):
        check_path("push.healthcare.weight", Program)
    with pytest.raises(ParameterError, match=r"name is a value, not a table: 'name.first' does not exist"):
        check_path("name.first", Program)


def test_setting_a_path_builds_the_tables_on_the_way_with_plain_python_values():
    data: dict = {"rebate": 0.5}  # not a table: replaced by one
    set_path(data, "rebate.rate", np.float64(0.04), Program)
    set_path(data, "lines.software.share", np.int64(1), Program)
    set_path(data, "push.retail", np.array([2.0]), Program)
    assert data == {"rebate": {"rate": 0.04}, "lines": {"software": {"share": 1}}, "push": {"retail": [2.0]}}
    assert type(data["rebate"]["rate"]) is float and type(data["lines"]["software"]["share"]) is int
    with pytest.raises(ParameterError, match="did you mean 'rate'"):
        set_path(data, "rebate.rat", 0.04, Program)


def test_a_merge_keeps_the_defaults_around_a_partial_table_and_replaces_free_keys_whole():
    base = Program().model_dump()
    merged = merge(base, {"rebate": {"rate": 0.05}, "lines": {"software": {"share": 1.0}}, "rebait": 1}, Program)
    assert merged["rebate"] == {"rate": 0.05, "threshold": 100_000.0}  # the threshold stays
    assert merged["lines"] == {"software": {"share": 1.0}}  # the hardware line is gone
    assert merged["rebait"] == 1  # kept, for validation to report
    assert base["rebate"]["rate"] == 0.03  # the base is not changed


def test_a_validation_error_reads_as_the_path_the_value_and_what_is_allowed():
    data = {"rebate": {"rate": 0.9}, "name": True, "ladder": [{"rat": 0.1}], "lines": {"software": {}}}
    with pytest.raises(ValidationError) as error:
        Program.model_validate(data)
    lines = explain(error.value, Program)
    assert "rebate.rate = 0.9: must be less than or equal to 0.5" in lines
    assert "name = true: must be a valid string" in lines  # a bool as TOML writes it
    assert any(line.startswith("unknown parameter 'ladder[0].rat' (did you mean 'rate'?)") for line in lines)
    assert "lines.software.share: required value is missing" in lines
    assert [problem_path(line) for line in lines] == ["name", "rebate.rate", "ladder[0].rat", "lines.software.share"]


def test_the_tree_module_stands_without_the_parameter_tree():
    code = "import sys, sim.tree; assert 'sim.params' not in sys.modules, 'sim.tree loaded sim.params'"
    subprocess.run([sys.executable, "-c", code], check=True)
