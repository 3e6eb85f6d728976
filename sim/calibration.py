"""Calibration files: a base scenario, a vendor's observed history, the parameters to fit and the targets.

    [meta]
    title = "Fit to our channel, 2019-2024"

    [calibration]
    scenario = "our_channel.toml"       # the base scenario (a roster scenario is the normal case); relative
    observed = "history.csv"            # quarter + metric columns, as channelsim's quarters.csv
    partners = "partner_revenue.csv"    # optional: id, quarter, revenue (ids of the roster)
    fit = [1, 16]                       # the quarters fitted, first and last
    holdout = [17, 24]                  # optional: quarters held out, after the fitted ones
    trials = 200
    replicates = 4                      # every trial on the same replicate seeds (common random numbers)
    seed = 7
    sampler = "tpe"                     # Optuna's TPE, or "cmaes"
    batch = 8                           # trials asked at once: the results do not depend on the workers
    tolerance = 0.05                    # optional: trials within 5 % of the best are consistent with the history
                                        # (default: within what the calibrated model's own histories show)
    check = 99                          # the calibrated model's own histories (the default; at least 19)

    [parameters."market.opportunities_per_fte.smb"]   # any number of the scenario, by its dotted path
    low = 4.0
    high = 16.0
    guess = 8.0                         # optional: the first trial
    log = true                          # optional: search in log space

    [targets.revenue]                   # a column of the observed file
    weight = 1.0
    distance = "relative"               # sum |model - observed| / sum |observed|; or "normal"
    [targets.won_deals]
    distance = "normal"                 # -log N(observed; model, sd) a quarter: on its own scale, so weigh it
    sd = 40.0                           # the observation's s.d.; without it, estimated from the residuals

    [targets.partner_revenue]           # the partner file: each partner's revenue over the fitted quarters
    weight = 0.5

Files are relative to the calibration file. Everything is checked before any run: each problem names
the file, the path and the value, and what is allowed (exit 2, nothing written).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import Field, ValidationError, model_validator

from sim import observed
from sim.errors import display
from sim.experiments import NOT_SWEPT
from sim.params import QUARTERS_MAX, Node, Quarter, Scenario, check_path, leaf_type
from sim.scenarios import ScenarioError, load, read_toml
from sim.tree import ParameterError, explain, suggest

PARTNER_TARGET = "partner_revenue"  # the target of the partner file
# what a calibration may not fit, beyond what a sweep may not vary, and why
NOT_FITTED = {**NOT_SWEPT,
              "quarters": "the horizon is set by the quarters fitted and held out",
              "partners.count": "the population is the base scenario's (its roster's, normally)"}


class Meta(Node):
    title: str = "Calibration"
    question: str = ""


class Setup(Node):
    scenario: Annotated[str, Field(min_length=1)]
    observed: Annotated[str, Field(min_length=1)]
    partners: Annotated[str, Field(min_length=1)] | None = None
    fit: Annotated[list[Quarter], Field(min_length=2, max_length=2)]
    holdout: Annotated[list[Quarter], Field(min_length=1, max_length=2)] | None = None
    trials: Annotated[int, Field(ge=1, le=100_000)] = 200
    replicates: Annotated[int, Field(ge=1, le=1_000)] = 4
    seed: Annotated[int, Field(ge=0, lt=2**63)] = 1
    sampler: Literal["tpe", "cmaes"] = "tpe"
    batch: Annotated[int, Field(ge=1, le=1_000)] = 8
    tolerance: Annotated[float, Field(gt=0, le=10)] | None = None
    profile: Annotated[int, Field(ge=3, le=50)] = 9  # levels of each parameter's profile (the verdict)
    # replicates of the calibrated model beyond the trials' own: histories it makes itself, which say what a fit
    # consistent with one history looks like (the ensemble, the verdicts), and the fit figure's band
    check: Annotated[int, Field(ge=19, le=1_000)] = 99

    @model_validator(mode="after")
    def _quarters_in_order(self) -> Setup:
        if self.fit[0] > self.fit[1]:
            raise ValueError(f"fit = {self.fit}: the first quarter is after the last; give [first, last]")
        if self.holdout is not None:
            if self.holdout[0] > self.holdout[-1]:
                raise ValueError(f"holdout = {self.holdout}: the first quarter is after the last; give [first, last]")
            if self.holdout[0] <= self.fit[1]:
                raise ValueError(f"holdout = {self.holdout}: held-out quarters come after the fitted ones (fit ends "
                                 f"at quarter {self.fit[1]})")
        return self


class Parameter(Node):
    low: float
    high: float
    guess: float | None = None
    log: bool = False

    @model_validator(mode="after")
    def _range(self) -> Parameter:
        if not self.low < self.high:
            raise ValueError(f"low = {self.low:g}, high = {self.high:g}: low must be below high")
        if self.log and self.low <= 0:
            raise ValueError(f"low = {self.low:g}: a log range must be positive")
        if self.guess is not None and not self.low <= self.guess <= self.high:
            raise ValueError(f"guess = {self.guess:g}: must lie within [{self.low:g}, {self.high:g}]")
        return self


class Target(Node):
    weight: Annotated[float, Field(gt=0, le=1e6)] = 1.0
    distance: Literal["relative", "normal"] = "relative"
    sd: Annotated[float, Field(gt=0)] | None = None

    @model_validator(mode="after")
    def _sd_for_normal(self) -> Target:
        if self.sd is not None and self.distance != "normal":
            raise ValueError(f"sd = {self.sd:g}: an s.d. is for distance = \"normal\"")
        return self


class CalibrationFile(Node):
    meta: Meta = Field(default_factory=Meta)
    calibration: Setup
    parameters: Annotated[dict[str, Parameter], Field(min_length=1)]
    targets: Annotated[dict[str, Target], Field(min_length=1)]


@dataclass
class Calibration:
    """A checked calibration: its file, the base scenario (run over the quarters fitted and held out), the
    observed history and the parameters to fit."""

    path: Path
    spec: CalibrationFile
    scenario: Path  # the base scenario's file
    base: Scenario
    history: pd.DataFrame  # index quarter, a column per observed metric
    partner_history: pd.DataFrame | None  # id, quarter, revenue
    integer: dict[str, bool]
    inputs: list[Path] = field(default_factory=list)  # every file it reads
    digests: dict[str, str] = field(default_factory=dict)  # what the runs read, by content
    base_inputs: list[Path] = field(default_factory=list)  # the base scenario's files: its chain and roster

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def parameters(self) -> list[str]:
        return list(self.spec.parameters)

    @property
    def fit(self) -> tuple[int, int]:
        return self.spec.calibration.fit[0], self.spec.calibration.fit[1]

    @property
    def holdout(self) -> tuple[int, int] | None:
        held = self.spec.calibration.holdout
        return (held[0], held[-1]) if held else None

    @property
    def columns(self) -> list[str]:
        """The observed metrics the targets compare (the partner target aside)."""
        return [t for t in self.spec.targets if t != PARTNER_TARGET]

    def fingerprint(self) -> str:
        """What the trials depend on: the base scenario (files by the digest of their bytes), the observed
        data, the parameters, targets, quarters, replicates, seed, sampler and batch. Not the trial count (a
        calibration resumed with more trials goes on), nor how the ensemble is chosen or the figures made."""
        base = self.base.model_dump(mode="json", exclude={"run", "meta"})
        if self.base.partners.roster:
            base["partners"]["roster"] = self.digests["roster"]
        setup = self.spec.calibration.model_dump(exclude={"trials", "tolerance", "check", "scenario", "observed",
                                                          "partners", "profile"})
        content = {"base": base, "setup": setup, "data": {k: v for k, v in self.digests.items() if k != "roster"},
                   "parameters": {k: v.model_dump() for k, v in self.spec.parameters.items()},
                   "targets": {k: v.model_dump() for k, v in self.spec.targets.items()}}
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()[:16]


def is_calibration(data: dict[str, Any]) -> bool:
    return "calibration" in data


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_calibration(path: str | Path) -> Calibration:
    """Read and check a calibration file and everything it names; raises ScenarioError naming the file, the
    path and the value."""
    path = Path(path)
    where = display(path)
    data = read_toml(path)
    try:
        spec = CalibrationFile.model_validate(data)
    except ValidationError as error:
        problems = [f"{where}: {line.replace('unknown parameter', 'unknown key').replace(' at the top level', '')}"
                    for line in explain(error, CalibrationFile)]
        if "calibration" not in data:
            problems = [f"{where}: a [calibration] table is required (scenario, observed, fit, ...)"]
        raise ScenarioError(problems) from None
    setup = spec.calibration
    horizon = (setup.holdout or setup.fit)[-1]
    scenario_path = path.parent / setup.scenario
    try:
        loaded = load(scenario_path, {"quarters": horizon}, {"quarters": f"{where}: calibration.fit/holdout"})
    except ScenarioError as error:
        raise ScenarioError([p if p.startswith(where) else f"{where}: calibration.scenario = {setup.scenario!r}: {p}"
                             for p in error.problems]) from None
    base = loaded.params
    integer = _check_parameters(spec, base, where)
    from sim.model import metric_names

    metrics = metric_names(base)
    # a longer history is welcome: the quarters after the last fitted or held out are not read
    history = _read(observed.read_history, path.parent / setup.observed, where, "observed", metrics)
    history = history[history.index <= horizon]
    partner_history = None
    roster_ids: list[str] = []
    if setup.partners is not None:
        if not base.partners.roster:
            raise ScenarioError([f"{where}: calibration.partners = {setup.partners!r}: a partner history is keyed "
                                 f"by a roster's ids, and {display(scenario_path)} has no partners.roster"])
        from sim import roster

        roster_ids = list(roster.read(base.partners.roster, base)["id"].astype(str))
        partner_history = _read(observed.read_partner_history, path.parent / setup.partners, where, "partners",
                                roster_ids)
        partner_history = partner_history[partner_history["quarter"] <= horizon]
    _check_targets(spec, history, partner_history, metrics, where)
    inputs = [path, *loaded.inputs, path.parent / setup.observed]
    digests = {"observed": _digest(path.parent / setup.observed)}
    if setup.partners is not None:
        inputs.append(path.parent / setup.partners)
        digests["partners"] = _digest(path.parent / setup.partners)
    if base.partners.roster:
        digests["roster"] = _digest(Path(base.partners.roster))
    return Calibration(path=path, spec=spec, scenario=scenario_path, base=base, history=history,
                       partner_history=partner_history, integer=integer, inputs=inputs, digests=digests,
                       base_inputs=list(loaded.inputs))


BASE = "base.json"  # beside calibrated.toml: the digests of the base scenario's files when it was fitted


def base_record(calibration: Calibration) -> bytes:
    """What `changed_since` compares: each of the base scenario's files by the digest of its bytes."""
    return json.dumps({"files": {str(p.resolve()): _digest(p) for p in calibration.base_inputs}}, indent=2).encode()


def changed_since(loaded) -> list[str]:
    """Notes for each calibrated.toml in a scenario's chain whose base scenario's files changed since the
    calibration (its values were fitted to the earlier ones)."""
    notes = []
    for file in loaded.chain:
        record = file.parent / BASE
        if file.name != "calibrated.toml" or not record.exists():
            continue
        try:
            files = json.loads(record.read_text())["files"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        changed = []
        for name, digest in files.items():
            try:
                now = _digest(Path(name))
            except OSError:
                now = None
            if now != digest:
                changed.append(display(Path(name)) + ("" if now else " (gone)"))
        if changed:
            notes.append(f"note: {display(file)} was fitted to its base scenario as it was; since then "
                         f"{', '.join(changed)} changed, so its fitted values may no longer fit: calibrate again")
    return notes


def _read(reader, file: Path, where: str, key: str, *args):
    try:
        return reader(file, *args)
    except observed.ObservedError as error:
        raise ScenarioError([f"{where}: calibration.{key}: {p}" for p in error.problems]) from None


def _check_parameters(spec: CalibrationFile, base: Scenario, where: str) -> dict[str, bool]:
    integer = {}
    problems = []
    for name, p in spec.parameters.items():
        try:
            check_path(name)
        except ParameterError as error:
            problems += [f"{where}: parameters: {line}" for line in error.problems]
            continue
        reason = next((why for prefix, why in NOT_FITTED.items() if name == prefix or name.startswith(f"{prefix}.")),
                      None)
        if reason:
            problems.append(f"{where}: parameters.{name}: cannot be fitted: {reason}")
            continue
        kind = leaf_type(name)
        if kind not in (int, float):
            problems.append(f"{where}: parameters.{name}: a calibration fits numbers; it holds "
                            f"{getattr(kind, '__name__', kind)}")
            continue
        integer[name] = kind is int
        values = {"low": p.low, "high": p.high} | ({"guess": p.guess} if p.guess is not None else {})
        for key, value in values.items():
            if integer[name] and not float(value).is_integer():
                problems.append(f"{where}: parameters.{name}.{key} = {value:g}: a whole number parameter needs a "
                                "whole number")
                continue
            try:
                base.with_overrides({name: int(value) if integer[name] else float(value)})
            except ParameterError as error:
                problems += [f"{where}: parameters.{name}.{key}: {line}" for line in error.problems]
    if problems:
        raise ScenarioError(problems)
    return integer


def _check_targets(spec: CalibrationFile, history: pd.DataFrame, partner_history: pd.DataFrame | None,
                   metrics: list[str], where: str) -> None:
    setup = spec.calibration
    first, last = setup.fit
    problems = []
    for name, target in spec.targets.items():
        if name == PARTNER_TARGET:
            if partner_history is None:
                problems.append(f"{where}: targets.{name}: needs a partner history (calibration.partners)")
            elif not partner_history["quarter"].between(first, last).any():
                problems.append(f"{where}: targets.{name}: the partner history has no revenue in the fitted quarters "
                                f"{first}-{last}")
            continue
        if name not in metrics:
            problems.append(f"{where}: targets.{name}: not a metric of the model{suggest(name, metrics)}; a target is "
                            f"a column of the observed file, or {PARTNER_TARGET}")
            continue
        if name not in history:
            problems.append(f"{where}: targets.{name}: {display(Path(setup.observed))} has no column {name!r} (it has "
                            f"{', '.join(history.columns)})")
            continue
        fitted = history.loc[(history.index >= first) & (history.index <= last), name].dropna()
        if fitted.empty:
            problems.append(f"{where}: targets.{name}: no observed value in the fitted quarters {first}-{last}")
        elif target.distance == "relative" and (fitted == 0).all():
            problems.append(f"{where}: targets.{name}: distance = \"relative\" divides by the observed values, which "
                            f"are all 0 in the fitted quarters {first}-{last}; use distance = \"normal\"")
        elif target.distance == "normal" and target.sd is None and len(fitted) < 2:
            problems.append(f"{where}: targets.{name}: an s.d. estimated from the residuals needs 2 or more observed "
                            "quarters; give sd")
    if setup.holdout is not None:
        held = history.loc[(history.index >= setup.holdout[0]) & (history.index <= setup.holdout[-1])]
        columns = [t for t in spec.targets if t in held.columns]
        if columns and held[columns].dropna(how="all").empty:
            problems.append(f"{where}: calibration.holdout = {setup.holdout}: the observed history has no value of "
                            f"any target in these quarters (it ends at quarter {int(history.index.max())}); hold out "
                            "quarters it has, or leave holdout out")
    if partner_history is not None and PARTNER_TARGET not in spec.targets:
        problems.append(f"{where}: calibration.partners: the partner history is read but no target uses it; add "
                        f"[targets.{PARTNER_TARGET}]")
    if (setup.holdout or setup.fit)[-1] > QUARTERS_MAX:
        problems.append(f"{where}: calibration: at most {QUARTERS_MAX} quarters")
    if problems:
        raise ScenarioError(problems)
