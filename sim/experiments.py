"""Experiment files: a base scenario, parameters by path, a design, replicates and outputs.

    [meta]
    title = "..."
    question = "..."

    [experiment]
    scenario = "../scenarios/baseline.toml"   # relative to this file
    design = "grid"                           # grid, lhs, sobol or morris
    seed = 7
    replicates = 3
    quarters = 20                              # default: the scenario's

    [outputs]
    quarterly = true                           # every quarter's metrics (quarters.parquet)
    final_year = true                          # final-year KPIs per run (final.parquet)
    partners = false                           # the partner panel (partners.parquet; large)

    [set]                                      # fixed for every run, like --set
    "vendor.mdf.top_group" = "top_tier"

    [parameters."vendor.rebate.rate"]
    range = [0.01, 0.06]                       # or: values = [0.02, 0.04]
    levels = 6                                 # grid: evenly spaced levels of a range

    [parameters."vendor.cams.coverage"]
    values = ["dedicated", "pooled"]           # choices: a grid over them, analysed as categories

An integer parameter's range needs whole-number bounds. `meta`, `run` (the experiment sets seeds and
replicates), `schedule` and `partners.roster` are not swept (NOT_SWEPT says why).

Each run's seed derives from (experiment seed, design point, replicate) through numpy's
SeedSequence, so results do not depend on the executor, the worker count or the completion
order, and replicates are independent.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError, model_validator

from sim.errors import display
from sim.params import Node, Scenario, check_path, leaf_type
from sim.scenarios import ScenarioError, load, read_toml
from sim.streams import derived_seed
from sim.tree import ParameterError, explain, plain


class Meta(Node):
    title: str = "Experiment"
    question: str = ""


class Spec(Node):
    """How to vary one parameter."""

    values: list[Any] | None = None
    range: Annotated[list[float], Field(min_length=2, max_length=2)] | None = None
    levels: Annotated[int, Field(ge=2, le=1000)] | None = None  # grid: evenly spaced levels of the range
    log: bool = False  # spread samples evenly in log space

    @model_validator(mode="after")
    def _one_of(self) -> Spec:
        if (self.values is None) == (self.range is None):
            raise ValueError("give either `values` or `range = [low, high]`")
        if self.values is not None and not self.values:
            raise ValueError("`values` is empty")
        if self.range is not None:
            low, high = self.range
            if not low < high:
                raise ValueError(f"range = {self.range}: low must be below high")
            if self.log and low <= 0:
                raise ValueError(f"range = {self.range}: a log range must be positive")
        return self


class Design(Node):
    scenario: Annotated[str, Field(min_length=1)]
    design: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    replicates: Annotated[int, Field(ge=1, le=10_000)] = 3
    quarters: Annotated[int, Field(ge=1, le=400)] | None = None
    samples: Annotated[int, Field(ge=1, le=1_000_000)] | None = None  # lhs points; sobol N; morris trajectories
    levels: Annotated[int, Field(ge=2, le=50)] = 4  # morris grid levels
    batch: Annotated[int, Field(ge=1, le=10_000)] | None = None  # runs per task (default: about 1 s of work)


class Outputs(Node):
    quarterly: bool = True
    final_year: bool = True
    partners: bool = False


class Analysis(Node):
    kpis: list[str] = Field(default_factory=list)  # what `channelsim analyze` reports first (default: revenue, ...)


class ExperimentFile(Node):
    meta: Meta = Field(default_factory=Meta)
    experiment: Design
    outputs: Outputs = Field(default_factory=Outputs)
    analysis: Analysis = Field(default_factory=Analysis)
    set: dict[str, Any] = Field(default_factory=dict)
    parameters: Annotated[dict[str, Spec], Field(min_length=1)]


@dataclass
class Experiment:
    """A checked experiment: its file, base scenario, design points and runs."""

    path: Path
    spec: ExperimentFile
    base: Scenario  # the scenario with `set` applied (and quarters)
    points: pd.DataFrame  # one row per design point, a column per parameter
    integer: dict[str, bool]
    inputs: list[Path] = field(default_factory=list)  # every file it reads: itself, the scenario chain, the roster
    roster_digest: str | None = None  # sha256 of the roster's bytes, when the base scenario has one

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def parameters(self) -> list[str]:
        return list(self.spec.parameters)

    def runs(self) -> pd.DataFrame:
        """Every run: id, point, replicate, seed (ordered by id)."""
        replicates = self.spec.experiment.replicates
        point = np.repeat(np.arange(len(self.points)), replicates)
        replicate = np.tile(np.arange(replicates), len(self.points))
        seeds = [run_seed(self.spec.experiment.seed, p, r) for p, r in zip(point, replicate, strict=True)]
        return pd.DataFrame({"run": np.arange(point.size), "point": point, "replicate": replicate, "seed": seeds})

    def overrides(self, point: int) -> dict[str, Any]:
        row = self.points.iloc[point]
        return {p: (int(row[p]) if self.integer[p] else plain(row[p])) for p in self.parameters}

    def fingerprint(self) -> str:
        """Identifies the experiment's runs by what they read, not where it lies: the base scenario's
        resolved parameters (the roster by the digest of its bytes), the design, seeds and outputs. Moving
        the inputs elsewhere keeps it; editing the roster or a scenario of the chain changes it. The
        scenario's `run` (its seed and replicates: the experiment sets its own) and `meta` do not shape the
        runs, so they are left out."""
        base = self.base.model_dump(mode="json", exclude={"run", "meta"})
        if self.base.partners.roster:
            base["partners"]["roster"] = self.roster_digest
        content = {"base": base, "points": self.points.to_dict(orient="list"),
                   "experiment": self.spec.experiment.model_dump(exclude={"batch", "scenario"}),
                   "outputs": self.spec.outputs.model_dump()}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def legacy_fingerprint(self) -> str:
        """The fingerprint sweep folders carried before the `.channelsim` marker: it covered the paths of the
        scenario and the roster, not the roster's content. How such a folder is recognised for --resume."""
        content = {"base": self.base.model_dump(mode="json"), "points": self.points.to_dict(orient="list"),
                   "experiment": self.spec.experiment.model_dump(exclude={"batch"}),
                   "outputs": self.spec.outputs.model_dump()}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]

    def problem(self) -> dict[str, Any]:
        """The SALib problem of the design's ranges."""
        specs = self.spec.parameters
        bounds = [[math.log(s.range[0]), math.log(s.range[1])] if s.log else list(s.range) for s in specs.values()]
        return {"num_vars": len(specs), "names": self.parameters, "bounds": bounds}


def run_seed(seed: int, point: int, replicate: int) -> int:
    """The model seed of (experiment seed, design point, replicate)."""
    return derived_seed(seed, point, replicate)


# --------------------------------------------------------------------------- designs

MAX_RUNS = 1_000_000  # runs in one sweep; a bigger design is split into several experiments
# what an experiment may not vary from run to run (a path, and everything under it), and why
NOT_SWEPT = {
    "meta": "it describes the scenario; it is not a parameter of the runs",
    "run": "the experiment sets each run's seed and the replicates ([experiment] seed and replicates)",
    "schedule": "a schedule per run is not supported; give the schedule in the scenario",
    "partners.roster": "a roster per run is not supported (a sweep identifies its roster by content, read "
                       "once); make one experiment per roster",
}


def design_size(spec: ExperimentFile) -> tuple[int, str]:
    """The runs a design makes and how (for a message), counted from the file alone: nothing is built."""
    d = spec.experiment
    k = len(spec.parameters)
    if d.design == "grid":
        sizes = [len(s.values) if s.values is not None else s.levels or 1 for s in spec.parameters.values()]
        points, how = math.prod(sizes), f"a grid of {' x '.join(str(n) for n in sizes)} levels"
    elif d.design == "lhs":
        points, how = d.samples, f"{d.samples} Latin hypercube points"
    elif d.design == "sobol":
        points, how = d.samples * (k + 2), f"Sobol N = {d.samples} x ({k} parameters + 2)"
    else:
        points, how = d.samples * (k + 1), f"Morris {d.samples} trajectories x ({k} parameters + 1)"
    return points * d.replicates, f"{how} x {d.replicates} replicates"


def design_points(spec: ExperimentFile, integer: dict[str, bool]) -> pd.DataFrame:
    d = spec.experiment
    names = list(spec.parameters)
    specs = list(spec.parameters.values())
    if d.design == "grid":
        axes = []
        for s in specs:
            if s.values is not None:
                axes.append(list(s.values))
            else:
                low, high = s.range
                grid = np.geomspace(low, high, s.levels) if s.log else np.linspace(low, high, s.levels)
                axes.append([float(f"{v:.12g}") for v in grid])  # 0.055, not 0.05500000000000001
        mesh = np.meshgrid(*[np.arange(len(a)) for a in axes], indexing="ij")
        index = np.stack([m.ravel() for m in mesh], axis=1)
        points = pd.DataFrame({n: [axes[i][k] for k in index[:, i]] for i, n in enumerate(names)})
    else:
        bounds = np.array([[math.log(s.range[0]), math.log(s.range[1])] if s.log else s.range for s in specs])
        if d.design == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(d=len(specs), seed=np.random.default_rng(d.seed)).random(d.samples)
            sample = bounds[:, 0] + unit * (bounds[:, 1] - bounds[:, 0])
        elif d.design == "sobol":
            from SALib.sample import sobol as sobol_sample

            problem = {"num_vars": len(specs), "names": names, "bounds": bounds.tolist()}
            sample = sobol_sample.sample(problem, d.samples, calc_second_order=False, seed=d.seed)
        else:
            from SALib.sample import morris as morris_sample

            problem = {"num_vars": len(specs), "names": names, "bounds": bounds.tolist()}
            sample = morris_sample.sample(problem, d.samples, num_levels=d.levels, seed=d.seed)
        for i, s in enumerate(specs):
            if s.log:
                sample[:, i] = np.exp(sample[:, i])
        points = pd.DataFrame(sample, columns=names)
    for name in names:
        if integer[name] and points[name].dtype.kind == "f":
            points[name] = np.round(points[name]).astype(np.int64)
    points.insert(0, "point", np.arange(len(points)))
    return points.set_index("point")


# --------------------------------------------------------------------------- reading a file


def load_experiment(path: str | Path) -> Experiment:
    """Read and check an experiment; raises ScenarioError naming the file, the path and the value."""
    path = Path(path)
    where = display(path)
    data = read_toml(path)
    try:
        spec = ExperimentFile.model_validate(data)
    except ValidationError as error:
        problems = []
        for line in explain(error, ExperimentFile):
            line = line.replace("unknown parameter", "unknown key").replace(" at the top level", "")
            problems.append(f"{where}: {line}")
        if "experiment" not in data:
            problems = [f"{where}: an [experiment] table is required (scenario, design, replicates, ...)"]
        raise ScenarioError(problems) from None
    d = spec.experiment
    scenario_path = (path.parent / d.scenario)
    fixed = dict(spec.set)
    if d.quarters is not None:
        fixed["quarters"] = d.quarters
    for key in fixed:
        try:
            check_path(key)
        except ParameterError as error:
            raise ScenarioError([f"{where}: set.{key}: {p}" for p in error.problems]) from None
    own = {key: f"{where}: set" for key in spec.set} | ({"quarters": f"{where}: experiment"} if d.quarters else {})
    try:
        scenario = load(scenario_path, fixed, own)
    except ScenarioError as error:
        raise ScenarioError([p if p.startswith(where) else f"{where}: experiment.scenario = {d.scenario!r}: {p}"
                             for p in error.problems]) from None
    base = scenario.params

    integer = {}
    for name, s in spec.parameters.items():
        try:
            check_path(name)
        except ParameterError as error:
            raise ScenarioError([f"{where}: parameters: {p}" for p in error.problems]) from None
        fixed_by = next((reason for prefix, reason in NOT_SWEPT.items()
                         if name == prefix or name.startswith(f"{prefix}.")), None)
        if fixed_by:
            raise ScenarioError([f"{where}: parameters.{name}: cannot be swept: {fixed_by}"])
        kind = leaf_type(name)
        integer[name] = kind is int
        if integer[name] and s.range is not None and not all(float(v).is_integer() for v in s.range):
            raise ScenarioError([f"{where}: parameters.{name}: range = [{', '.join(f'{v:g}' for v in s.range)}]: "
                                 "an integer parameter needs whole-number bounds"])
        if integer[name] and s.values is not None and any(isinstance(v, float) and not v.is_integer()
                                                          for v in s.values):
            raise ScenarioError([f"{where}: parameters.{name}: values = {s.values}: an integer parameter needs "
                                 "whole numbers"])
        if s.range is not None and kind not in (int, float):
            raise ScenarioError([f"{where}: parameters.{name}: a range needs a numeric parameter "
                                 f"(it holds {getattr(kind, '__name__', kind)}); give `values` instead"])
        if d.design != "grid" and s.range is None:
            raise ScenarioError([f"{where}: parameters.{name}: a {d.design} design samples ranges: give "
                                 f"`range = [low, high]`"])
        if d.design == "grid" and s.range is not None and s.levels is None:
            raise ScenarioError([f"{where}: parameters.{name}: a grid over a range needs `levels` (how many "
                                 "evenly spaced values)"])
        probes = s.values if s.values is not None else s.range
        for value in probes:
            value = int(round(value)) if integer[name] and isinstance(value, float) else value
            try:
                base.with_overrides({name: value})
            except ParameterError as error:
                raise ScenarioError([f"{where}: parameters.{name}: {p}" for p in error.problems]) from None
    if d.design in ("lhs", "sobol", "morris") and d.samples is None:
        what = {"lhs": "design points", "sobol": "the base sample N (runs: N x (parameters + 2))",
                "morris": "trajectories (runs: trajectories x (parameters + 1))"}[d.design]
        raise ScenarioError([f"{where}: experiment.samples is required for a {d.design} design: {what}"])
    if d.design == "grid" and d.samples is not None:
        raise ScenarioError([f"{where}: experiment.samples: a grid takes every combination; `samples` is for "
                             "lhs, sobol and morris designs"])
    if not (spec.outputs.quarterly or spec.outputs.final_year or spec.outputs.partners):
        raise ScenarioError([f"{where}: outputs: every output is off; keep at least one"])
    runs, how = design_size(spec)
    if runs > MAX_RUNS:
        raise ScenarioError([f"{where}: the design makes {runs:,} runs ({how}); a sweep runs at most {MAX_RUNS:,}: "
                             "use fewer levels, samples or replicates, or split it into several experiments"])
    digest = None
    if base.partners.roster:
        try:
            digest = hashlib.sha256(Path(base.partners.roster).read_bytes()).hexdigest()
        except OSError as error:
            raise ScenarioError([f"{where}: partners.roster = {display(Path(base.partners.roster))}: cannot be read "
                                 f"({error.strerror})"]) from None
    points = design_points(spec, integer)
    return Experiment(path=path, spec=spec, base=base, points=points, integer=integer,
                      inputs=[path, *scenario.inputs], roster_digest=digest)

