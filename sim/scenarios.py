"""Scenario files: TOML, one scenario per file, every parameter addressable by its path.

A file may start with `extends = "baseline.toml"` (relative to the file) and then state only
what it changes; chains are allowed, cycles are not. Tables merge key by key down the chain;
a value, a list or a table of free keys (a push, the product lines) is replaced whole, except
`[[schedule]]`, whose changes accumulate (a child adds to its base's). `[meta]` holds a title
and the question the scenario answers; `[run]` the seed and replicates; `[[schedule]]` tables
change parameters from a given quarter on. `partners.roster` names a CSV relative to the file, as does
`meta.ensemble` (the parameter draws of a calibration, sim/ensemble.py).

Every problem is reported as one line that names the file it comes from, the dotted path,
the bad value and what is allowed (`ScenarioError`).
"""

from __future__ import annotations

import errno
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from sim import roster
from sim.errors import InputError, display
from sim.outputs import slug
from sim.params import Scenario, build_scenario
from sim.tree import ParameterError, dict_type, merge, problem_path, submodel, suggest, unwrap


class ScenarioError(InputError):
    """Bad input in a scenario or roster file: one short line per problem, for people."""


@dataclass
class Loaded:
    """A scenario read from its file(s)."""

    params: Scenario
    path: Path  # the file asked for
    chain: list[Path]  # the files it is made of, the base first
    provenance: dict[str, Path | str] = field(default_factory=dict)  # dotted path -> the file that set it

    @property
    def name(self) -> str:
        """`meta.name`, or the file's name made safe for a folder name."""
        return self.params.meta.name or slug(self.path.stem)

    @property
    def inputs(self) -> list[Path]:
        """Every file the scenario was read from: its chain, its roster and its ensemble of parameter draws."""
        named = (self.params.partners.roster, self.params.meta.ensemble)
        return [*self.chain, *(Path(file) for file in named if file)]


def read_toml(path: Path) -> dict[str, Any]:
    where = display(path)
    try:
        path.resolve(strict=True)
    except (RuntimeError, OSError) as error:  # RuntimeError: Python 3.12's word for a symlink loop
        looped = isinstance(error, RuntimeError) or getattr(error, "errno", None) == errno.ELOOP
        raise ScenarioError([f"{where}: " + ("a symbolic link that loops" if looped else "file not found")]) from None
    if not path.is_file():
        raise ScenarioError([f"{where}: not a file"])
    try:
        text = path.read_text(encoding="utf-8-sig")  # a byte-order mark, as some editors write, is fine
    except (OSError, UnicodeDecodeError) as error:
        raise ScenarioError([f"{where}: cannot be read ({error.__class__.__name__}: {error})"]) from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ScenarioError([f"{where}: TOML syntax error: {error}"]) from None


def unknown_keys(data: Mapping[str, Any], model: type[BaseModel] = Scenario, prefix: str = "") -> list[str]:
    """Problems for keys of `data` that are not parameters (with a suggestion)."""
    problems = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        if key not in model.model_fields:
            where = f" in '{prefix[:-1]}'" if prefix else " at the top level"
            problems.append(f"unknown parameter '{path}'{where}{suggest(key, model.model_fields)}")
            continue
        annotation = unwrap(model.model_fields[key].annotation)
        table = dict_type(annotation)
        if table is not None:
            sub = submodel(typing.get_args(table)[1])
        elif typing.get_origin(annotation) is list:
            sub = submodel(typing.get_args(annotation)[0])
        else:
            sub = submodel(annotation)
        if sub is None:
            continue
        if table is None and isinstance(value, Mapping):
            problems += unknown_keys(value, sub, f"{path}.")
        elif table is not None and isinstance(value, Mapping):
            for name, item in value.items():
                if isinstance(item, Mapping):
                    problems += unknown_keys(item, sub, f"{path}.{name}.")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    problems += unknown_keys(item, sub, f"{path}[{index}].")
    return problems


def leaf_paths(data: Mapping[str, Any], prefix: str = "") -> list[str]:
    paths = []
    for key, value in data.items():
        path = f"{prefix}{key}"
        paths.append(path)
        if isinstance(value, Mapping):
            paths += leaf_paths(value, f"{path}.")
    return paths


def chain_of(path: Path) -> list[tuple[Path, dict[str, Any]]]:
    """The files a scenario is made of, base first, each with its own table (without `extends`)."""
    chain: list[tuple[Path, dict[str, Any]]] = []
    seen: list[Path] = []
    current = path
    while True:
        try:
            resolved = current.resolve()
        except RuntimeError:  # what Path.resolve raises for a symbolic link that loops, and nothing else here
            raise ScenarioError([f"{display(current)}: a symbolic link that loops"]) from None
        if resolved in seen:
            cycle = " -> ".join(display(p) for p in [*seen, resolved])
            raise ScenarioError([f"{display(path)}: 'extends' makes a cycle: {cycle}"])
        seen.append(resolved)
        data = read_toml(current)
        parent = data.pop("extends", None)
        chain.insert(0, (current, data))
        if parent is None:
            return chain
        if not isinstance(parent, str) or not parent.strip():
            raise ScenarioError([f"{display(current)}: extends = {parent!r}: must be the path of another scenario "
                                 "file, relative to this one"])
        try:
            base = (current.parent / parent).resolve()
        except RuntimeError:
            raise ScenarioError([f"{display(current)}: extends = {parent!r}: a symbolic link that loops"]) from None
        if not base.exists():
            raise ScenarioError([f"{display(current)}: extends = {parent!r}: file not found ({display(base)})"])
        current = base


def load(path: str | Path, overrides: Mapping[str, Any] | None = None,
         origins: Mapping[str, str] | None = None) -> Loaded:
    """Read, merge and check a scenario; raises ScenarioError naming the file of each problem.

    `overrides` set parameters by dotted path over the files; a problem with one is blamed on its
    origin in `origins` (a command-line option such as "--quarters"), "--set" by default."""
    path = Path(path)
    chain = chain_of(path)
    merged: dict[str, Any] = Scenario().model_dump()
    provenance: dict[str, Path | str] = {}
    for file, data in chain:
        problems = unknown_keys(data)
        if problems:
            raise ScenarioError([f"{display(file)}: {p}" for p in problems])
        for table, key in (("partners", "roster"), ("meta", "ensemble")):  # files named relative to this one
            named = data[table].get(key) if isinstance(data.get(table), Mapping) else None
            if isinstance(named, str) and named:
                data[table][key] = str((file.parent / named).resolve())
        changes = data.pop("schedule", None)
        merged = merge(merged, data, Scenario)
        if changes is not None:  # schedules accumulate along the chain: a child adds its changes to its base's
            merged["schedule"] = [*merged.get("schedule", []), *(changes if isinstance(changes, list) else [changes])]
            data["schedule"] = changes
        for leaf in leaf_paths(data):
            provenance[leaf] = file
    overrides = dict(overrides or {})
    origins = {leaf: (origins or {}).get(leaf, "--set") for leaf in overrides}
    provenance.update(origins)
    try:
        params = build_scenario(merged, overrides)
    except ParameterError as error:
        raise ScenarioError([_blame(p, provenance, path, origins) for p in error.problems]) from None
    if params.partners.roster:
        origin = _origin("partners.roster", provenance, path)
        try:
            table = roster.read(params.partners.roster, params)
        except roster.RosterError as error:
            raise ScenarioError([f"{origin}: partners.roster: {p}" for p in error.problems]) from None
        params.partners.count = len(table)
    return Loaded(params=params, path=path, chain=[p for p, _ in chain], provenance=provenance)


def _blame(problem: str, provenance: Mapping[str, Path | str], default: Path, origins: Mapping[str, str]) -> str:
    """A problem with the file or option it comes from: `--quarters 0: must be ...` for an option that
    sets one parameter, `file: path = value: must be ...` otherwise."""
    origin = _origin(problem, provenance, default, origins)
    leaf = problem_path(problem)
    option = origin.startswith("--") and origin != "--set"  # an option that sets this one parameter
    if option and origins.get(leaf) == origin and problem.startswith(f"{leaf} = "):
        return f"{origin} {problem.removeprefix(f'{leaf} = ')}"
    if "horizon" in problem and "quarters" in origins and origin != origins["quarters"]:
        problem += f" (quarters set by {origins['quarters']})"
    return f"{origin}: {problem}"


def _origin(problem: str, provenance: Mapping[str, Path | str], default: Path,
            origins: Mapping[str, str] | None = None) -> str:
    """What a problem comes from: an override at or inside its path (the change just made), else the
    file that set its path or the nearest table above."""
    path = problem_path(problem).split("[")[0]
    for leaf in origins or {}:
        if path and (leaf == path or leaf.startswith(f"{path}.")):
            return origins[leaf]
    while path:
        if path in provenance:
            origin = provenance[path]
            return origin if isinstance(origin, str) else display(origin)
        path = path.rpartition(".")[0]
    return display(default)


def validate_file(path: str | Path) -> str:
    """Check a scenario (.toml) or roster (.csv) file without running it; returns a one-line verdict."""
    path = Path(path)
    if path.suffix.lower() == ".csv":
        try:
            table = roster.read(path, Scenario())
        except roster.RosterError as error:
            raise ScenarioError(error.problems) from None
        return (f"{display(path)}: ok (a roster of {len(table)} partner{'' if len(table) == 1 else 's'}, checked "
                "against the default tree)")
    loaded = load(path)
    chain = " <- ".join(display(p) for p in reversed(loaded.chain))
    drawn = ""
    if loaded.params.meta.ensemble:  # read only here and under --ensemble: a run at the calibrated values needs it not
        from sim.ensemble import EnsembleError, read_ensemble

        try:
            draws = read_ensemble(loaded.params.meta.ensemble, loaded.params)
        except EnsembleError as error:
            origin = _origin("meta.ensemble", loaded.provenance, path)
            raise ScenarioError([f"{origin}: meta.ensemble: {p}" for p in error.problems]) from None
        drawn = (f"; an ensemble of {len(draws)} parameter draw{'s' if len(draws) != 1 else ''} over "
                 f"{', '.join(draws.columns)}")
    return f"{display(path)}: ok ({loaded.params.meta.title}; {chain}{drawn})"
