"""The package's shape: imports flow one way, and the policy registry is the only list of instruments."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

from sim import policies
from sim.model import ChannelModel
from sim.policies import PROGRAM, Policy, booked_as, instruments

PACKAGE = Path(__file__).resolve().parent.parent / "sim"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str, is_package: bool) -> set[str]:
    """Modules of `sim` that `module` imports anywhere (function bodies included), outside TYPE_CHECKING blocks."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolved against this module's package
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            found.add(source)
            found.update(f"{source}.{alias.name}" for alias in node.names)  # `from sim import report`
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph() -> nx.DiGraph:
    files = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for module, path in files.items():
        for target in _imports(ast.parse(path.read_text()), module, path.name == "__init__.py"):
            if target in files and target != module:
                graph.add_edge(module, target)
    return graph


def test_the_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph.number_of_nodes() > 20 and graph.has_edge("sim.model", "sim.quarter")
    cycles = list(nx.simple_cycles(graph))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles)


def test_the_cycle_check_sees_a_cycle():
    graph = import_graph()
    graph.add_edge("sim.quarter", "sim.model")  # what a record module importing the model would do
    assert list(nx.simple_cycles(graph))


# the rooms of ARCHITECTURE.md, top to bottom: a module imports modules of its own room or below
ROOMS = [
    ["sim.cli"],
    ["sim.analysis", "sim.bench", "sim.results", "sim.sweep", "sim.runner", "sim.report", "sim.responses", "sim.app",
     "sim.results_view", "sim.serve", "sim.marginal", "sim.responders", "sim.cohorts",
     "sim.answers", "sim.calibrate", "sim.calibration_report"],
    ["sim.scenarios", "sim.experiments", "sim.observed", "sim.calibration", "sim.ensemble"],
    ["sim.model", "sim.vendors", "sim.roster", "sim.metrics", "sim.market", "sim.partners"],
    ["sim.policies.*"],
    ["sim.params", "sim.tree"],
    ["sim.policies", "sim.quarter"],
    ["sim.table", "sim.streams"],
    ["sim.errors", "sim.outputs", "sim"],
]


def _room(module: str) -> int:
    for level, room in enumerate(ROOMS):
        if module in room or ("sim.policies.*" in room and module.startswith("sim.policies.")):
            return level
    raise AssertionError(f"{module} is in no room of ARCHITECTURE.md")


def test_imports_flow_down_through_the_rooms():
    graph = import_graph()
    upward = [f"{a} -> {b}" for a, b in graph.edges if _room(b) < _room(a)]
    assert not upward, "imports against the rooms of ARCHITECTURE.md: " + "; ".join(upward)


def test_the_model_and_the_market_do_not_depend_on_the_instruments():
    """The records, the storage, the market and partners reach no instrument's module, not even through another
    module; the model reaches them only through the vendors that run them."""
    graph = import_graph()
    instruments = {m for m in graph if m.startswith("sim.policies.")}
    for module in ("sim.market", "sim.partners", "sim.quarter", "sim.table", "sim.metrics"):
        assert not instruments & nx.descendants(graph, module), module
    for module in ("sim.model", "sim.market", "sim.partners", "sim.quarter", "sim.table", "sim.metrics"):
        assert not {m for m in graph.successors(module) if m.startswith("sim.policies")}, module


# --------------------------------------------------------------------------- the registry


def test_every_registered_policy_declares_itself():
    classes = instruments()
    assert len(classes) == len(PROGRAM)
    for policy in classes:
        assert issubclass(policy, Policy)
        assert policy.vendors in ("all", "focal", "rivals"), policy
        if policy.instrument:  # it spends: how the spend is booked is said
            assert policy.booked_as in ("contra_revenue", "operating"), policy
        else:  # margin points: in the discount
            assert policy.booked_as is None, policy
        for name, column in policy.columns.items():
            assert isinstance(column, policies.Column), (policy, name)


def test_booking_is_declared_once_and_covers_every_spend_metric():
    model = ChannelModel(rng=1, partners__count=60, quarters=2)
    model.run()
    spent = {c.removeprefix("spend_") for c in model.kpi_frame().columns if c.startswith("spend_")}
    spent -= {"total", "pct_revenue"}
    contra, operating = booked_as("contra_revenue"), booked_as("operating")
    assert spent == contra | operating and not contra & operating
    assert {"cam", "recruitment", "certification"} == operating


def test_a_policy_runs_only_for_the_vendors_it_declares():
    model = ChannelModel(rng=1, partners__count=40, quarters=1, rivals__count=2)
    for vendor in model.vendors:
        kinds = {type(p).vendors for p in vendor.policies}
        assert ("focal" in kinds) == vendor.is_focal and ("rivals" in kinds) == (not vendor.is_focal)
        names = [type(p).__name__ for p in vendor.policies]
        order = [entry.rsplit(".", 1)[1] for entry in PROGRAM]
        assert names == [n for n in order if n in names]  # in the registry's order


@pytest.mark.parametrize("vendors", ["focal", "rivals", "all"])
def test_runs_for(vendors):
    class Probe(Policy):
        pass

    Probe.vendors = vendors
    assert Probe.runs_for(0) == (vendors != "rivals")
    assert Probe.runs_for(1) == (vendors != "focal")
