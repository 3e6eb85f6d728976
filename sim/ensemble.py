"""Ensembles: the parameter draws a calibration keeps, run so that an answer carries the calibration's uncertainty.

`channelsim calibrate` writes `ensemble.csv` beside `calibrated.toml`, whose `[meta]` names it (`ensemble =
"ensemble.csv"`, relative to the file, as a roster is). A CSV with a header row, one draw a row:

| column | meaning | allowed |
|---|---|---|
| `draw` | the draw's number | required; whole numbers 0 to n-1, each once |
| `trial` | the calibration's trial the draw comes from | required; a whole number |
| `mismatch` | the draw's mismatch with the history | required; a finite number |
| a parameter's dotted path (`market.effort_exponent`) | its value in the draw | one or more; a number the tree takes |

`channelsim run` and `compare` with `--ensemble K` run each scenario's R replicates under K draws chosen from the
file without replacement by a generator seeded from the base seed (`CHOICE_KEY`: the same seed, the same draws):
unit j = 0..K*R-1 runs draw number j // R of the K chosen on seed `runner.replicate_seed(seed, j)`, so every unit has
its own seed and unit j has the same draw and seed in every compared scenario (differences stay paired).

Cells are read as text (`sim.roster.read_table`), so nothing is quietly mended; a refusal is an `EnsembleError`
naming the file, the row (as a spreadsheet counts: the header is row 1), the column, the value and what is allowed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from sim.errors import InputError, display
from sim.params import Scenario, check_path, leaf_type
from sim.roster import RosterError, read_table
from sim.streams import derived_seed
from sim.tree import ParameterError, plain

if TYPE_CHECKING:
    from sim.scenarios import Loaded

COLUMNS = ("draw", "trial", "mismatch")  # before the parameters' columns
# the spawn key of the generator that chooses the draws ("ENS"), apart from the replicates' keys 0, 1, 2, ...
CHOICE_KEY = 0x454E53
# what shapes a run rather than the channel's behaviour: not a parameter a calibration fits
NOT_FITTED = ("meta", "run", "quarters", "schedule")


class EnsembleError(InputError):
    """A bad ensemble, or `--ensemble` asked of scenarios it does not fit: one line per problem."""


def _fail(path: Path, message: str, row: int | None = None, column: str | None = None) -> EnsembleError:
    where = display(path)
    if row is not None:
        where += f", row {row}"
    if column is not None:
        where += f", column '{column}'"
    return EnsembleError(f"{where}: {message}")


def _integer(path: str) -> bool:
    """Whether the parameter at a (checked) path holds whole numbers."""
    return leaf_type(path) is int


def read_ensemble(path: str | Path, params: Scenario) -> pd.DataFrame:
    """Read and check an ensemble against the tree `params`; the parameter columns (dotted paths) as numbers, one
    row per draw, indexed by `draw` in order. Raises EnsembleError naming the file, row, column, value and what is
    allowed."""
    path = Path(path)
    layout = "draw, trial, mismatch, then one column per fitted parameter named by its dotted path"
    if not path.is_file():
        raise _fail(path, "file not found" if not path.exists() else "not a file")
    try:
        if not path.read_text(encoding="utf-8-sig").strip():
            raise _fail(path, f"is empty: an ensemble needs a header row ({layout}) and one row per draw")
        raw, line_of = read_table(path)
    except RosterError as error:
        raise EnsembleError(error.problems) from None
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(path, f"cannot be read ({error.__class__.__name__}: {error})") from None
    except csv.Error as error:
        raise _fail(path, f"is not a valid CSV ({error})") from None
    for column in COLUMNS:
        if column not in raw.columns:
            raise _fail(path, f"the column '{column}' is required (the columns: {layout})")
    fitted = [c for c in raw.columns if c not in COLUMNS]
    if not fitted:
        raise _fail(path, f"has no parameter columns (the columns: {layout}, e.g. market.effort_exponent)")
    for column in fitted:
        try:
            check_path(column)
        except ParameterError as error:
            raise _fail(path, f"not a parameter: {'; '.join(error.problems)}", column=column) from None
        if column.split(".")[0] in NOT_FITTED:
            raise _fail(path, "sets how a run is made, not a parameter of the channel a calibration fits",
                        column=column)
    if raw.empty:
        raise _fail(path, "has no draws (only a header row)")

    values = pd.DataFrame(index=raw.index)
    for column in raw.columns:
        text = raw[column].str.strip()
        value = pd.to_numeric(text.replace("", np.nan), errors="coerce")  # 'nan', '1,000', 'x': NaN
        whole = column in ("draw", "trial") or (column in fitted and _integer(column))
        bad = value.isna() | ~np.isfinite(value.fillna(0))
        if whole:
            bad |= value.fillna(0) != np.floor(value.fillna(0))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            shown = repr(text.iloc[row]) if text.iloc[row] else "an empty cell"
            raise _fail(path, f"{shown} is not allowed: must be {'a whole number' if whole else 'a finite number'}",
                        line_of[row], column)
        values[column] = value.astype(np.int64) if whole else value.astype(float)
    held = len(values)
    seen: dict[int, int] = {}
    for index, number in enumerate(values["draw"].astype(int)):
        if not 0 <= number < held:
            raise _fail(path, f"draw {number} is not allowed: draws are numbered 0 to {held - 1} (the file holds "
                              f"{held})", line_of[index], "draw")
        if number in seen:
            raise _fail(path, f"draw {number} appears twice (also row {seen[number]})", line_of[index], "draw")
        seen[number] = line_of[index]

    for index, draw in enumerate(values[fitted].to_dict("records")):
        try:
            params.with_overrides(draw)
        except ParameterError as whole:
            for column, value in draw.items():  # the cell the tree refuses alone, else the row's values together
                try:
                    params.with_overrides({column: value})
                except ParameterError as error:
                    raise _fail(path, f"{raw[column].iloc[index].strip()!r} is not allowed: "
                                      f"{'; '.join(error.problems)}", line_of[index], column) from None
            raise _fail(path, f"the values of this row are not allowed together: {'; '.join(whole.problems)}",
                        line_of[index]) from None
    table = values[fitted].set_index(values["draw"].astype(int).rename("draw")).sort_index()
    return table


def choose(ensemble: pd.DataFrame, k: int, seed: int) -> list[int]:
    """The numbers of `k` draws of `ensemble`, without replacement, in the order the units take them: the same for
    the same base seed."""
    rng = np.random.default_rng(derived_seed(seed, CHOICE_KEY))
    return [int(ensemble.index[i]) for i in rng.choice(len(ensemble), size=k, replace=False)]


@dataclass
class Draws:
    """The parameter draws a run takes: unit j runs draw `numbers[j // replicates]`, `overrides[j // replicates]`."""

    path: Path  # the ensemble file
    held: int  # the draws the file holds
    numbers: list[int]  # the draws chosen
    overrides: list[dict[str, Any]]  # each chosen draw as {dotted path: value}
    replicates: int  # R, the replicates of each draw

    @property
    def k(self) -> int:
        return len(self.numbers)

    @property
    def units(self) -> int:
        return self.k * self.replicates

    def label(self) -> str:
        """`R replicates x K parameter draws`, as a run's line and notes say it."""
        return (f"{self.replicates} replicate{'s' if self.replicates != 1 else ''} x {self.k} parameter "
                f"draw{'s' if self.k != 1 else ''}")


def _option(k: int) -> str:
    return f"--ensemble {k}"


def for_runs(loaded: Sequence[Loaded], k: int) -> Draws:
    """The draws `--ensemble k` runs the scenarios of a run or comparison under, on the first one's seed and
    replicates; raises EnsembleError (naming the option and the file) unless every scenario is, or extends, one
    calibration, leaves the parameters it fitted to it and takes every chosen draw, and k is 1 to the draws held."""
    option = _option(k)
    if k < 1:
        raise EnsembleError(f"{option}: must be greater than or equal to 1")
    first = loaded[0].params
    uncalibrated = [item for item in loaded if not item.params.meta.ensemble]
    if uncalibrated:
        raise EnsembleError([f"{option}: {display(item.path)} does not come from a calibration (it names no "
                             "meta.ensemble): --ensemble needs a scenario that is, or extends, a calibrated.toml"
                             for item in uncalibrated])
    files = {Path(item.params.meta.ensemble).resolve() for item in loaded}
    if len(files) > 1:
        listed = "; ".join(f"{display(item.path)} takes {display(item.params.meta.ensemble)}" for item in loaded)
        raise EnsembleError(f"{option}: the scenarios name different ensembles ({listed}); a comparison pairs its "
                            "runs on one ensemble: every scenario must be, or extend, the same calibrated.toml")
    path = files.pop()
    declarer = loaded[0].provenance.get("meta.ensemble", loaded[0].path)
    try:
        ensemble = read_ensemble(path, first)
    except EnsembleError as error:
        shown = declarer if isinstance(declarer, str) else display(declarer)
        raise EnsembleError([f"{shown}: meta.ensemble: {p}" for p in error.problems]) from None
    if k > len(ensemble):
        raise EnsembleError(f"{option}: {display(path)} holds {len(ensemble)} draw{'s' if len(ensemble) != 1 else ''}; "
                            f"K must be between 1 and {len(ensemble)}")
    problems = []
    for item in loaded:
        problems += _set_after(item, list(ensemble.columns), option, path)
    if problems:
        raise EnsembleError(problems)
    numbers = choose(ensemble, k, first.run.seed)
    overrides = [{column: plain(value) for column, value in row.items()}  # each column its type (whole numbers)
                 for row in ensemble.loc[numbers].to_dict("records")]
    for item in loaded:
        for number, draw in zip(numbers, overrides, strict=True):
            try:
                item.params.with_overrides(draw)
            except ParameterError as error:
                raise EnsembleError(f"{option}: draw {number} of {display(path)} does not fit "
                                    f"{display(item.path)}: {'; '.join(error.problems)}") from None
    return Draws(path, len(ensemble), numbers, overrides, first.run.replicates)


def _set_after(item: Loaded, fitted: list[str], option: str, path: Path) -> list[str]:
    """Problems for the fitted parameters a scenario sets itself after the calibration that fitted them (in a file
    later in its chain than the one naming the ensemble, or by an option): the draws would overwrite its value."""
    chain = [p.resolve() for p in item.chain]
    declarer = item.provenance.get("meta.ensemble", item.path)
    after = chain.index(declarer.resolve()) if isinstance(declarer, Path) and declarer.resolve() in chain else -1
    problems = []
    for column in fitted:
        origin = item.provenance.get(column)
        if origin is None:
            continue
        if isinstance(origin, str):  # an option: --set
            problems.append(f"{option}: {origin} {column}={item.params.get(column)!r}: the calibration fitted "
                            f"{column} (a column of {display(path)}), so the draws would overwrite that value; leave "
                            "it out, or run without --ensemble to run at it")
        elif origin.resolve() in chain and chain.index(origin.resolve()) > after:
            problems.append(f"{option}: {display(origin)} sets {column} = {item.params.get(column)!r} after the "
                            f"calibration ({display(declarer)}), but the calibration fitted it (a column of "
                            f"{display(path)}): the draws would overwrite that value; remove it from "
                            f"{display(origin)}, or run without --ensemble to run at it")
    return problems
