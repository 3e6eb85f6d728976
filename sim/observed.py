"""Observed histories: the vendor's channel as it was, quarter by quarter, to calibrate the model against.

Two CSV files with a header row, in the tidy shape channelsim writes its own quarters.csv in.

A history (`read_history`), one row per quarter:

| column | meaning | allowed |
|---|---|---|
| `quarter` | the quarter, 1 the first | required; a whole number, 1 to the horizon, each once; gaps are fine |
| a metric (`revenue`, `revenue_smb`, `won_deals`, ...) | what was observed | a finite number; empty: not observed |
| `scenario`, `replicate` | as channelsim writes them | one value in the file (then dropped): average replicates first |

A partner history (`read_partner_history`), one row per partner and quarter:

| column | meaning | allowed |
|---|---|---|
| `id` | the partner, as the roster names it | required; an id of the roster |
| `quarter` | as above | required; each (id, quarter) once |
| `revenue` | the partner's revenue with the vendor that quarter | required; a finite number >= 0; empty: not observed |

Cells are read as text (`sim.roster.read_table`), so nothing is quietly mended: `nan`, `inf` and `1,000` are refused,
and an empty cell is the one way to say a value is missing. A refusal is an `ObservedError` listing the bad values
found (the first ten, then how many more), each line naming the file, the row (as a spreadsheet counts: the header is
row 1), the column and the value.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import InputError, display
from sim.params import QUARTERS_MAX
from sim.roster import RosterError, read_table
from sim.tree import suggest

SHOWN = 10  # problems listed one by one; the rest are counted
# a number as a person writes it: digits, an optional decimal point and exponent; no thousands separator, no words
NUMBER = r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"  # ASCII digits only
MISSING_WORDS = {"nan", "na", "n/a", "#n/a", "null", "none", "nat", "-", "?"}
INFINITE_WORDS = {"inf", "infinity", "+inf", "-inf", "+infinity", "-infinity"}
SIMULATION = ("scenario", "replicate")  # what channelsim writes beside the metrics of a run
PARTNER_COLUMNS = ("id", "quarter", "revenue")


class ObservedError(InputError):
    """A bad observed history: one line per problem, naming the file, row, column and value."""


def _line(path: Path, message: str, row: int | None = None, column: str | int | None = None) -> str:
    where = display(path)
    if row is not None:
        where += f", row {row}"  # as a spreadsheet counts: the header is row 1
    if isinstance(column, int):
        where += f", column {column}"  # a header cell: its position
    elif column is not None:
        where += f", column '{column}'"
    return f"{where}: {message}"


def _refuse(problems: list[tuple[int, int, str]]) -> ObservedError:
    """The problems in the order a reader meets them (row, then column), the first SHOWN in full."""
    lines = [text for _, _, text in sorted(problems, key=lambda p: (p[0], p[1]))]
    if len(lines) > SHOWN:
        lines = [*lines[:SHOWN], f"... and {len(lines) - SHOWN} more"]
    return ObservedError(lines)


def _first_line_used(path: Path) -> int | None:
    """The line of the first text in the file (1 the first), or None if it holds none."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        for number, line in enumerate(file, start=1):
            if line.strip():
                return number
    return None


def _read(path: Path, shape: str) -> tuple[pd.DataFrame, list[int]]:
    """The file's cells as text and each row's line; `shape` says what the file should hold, for a refusal."""
    if not path.is_file():
        what = "file not found" if not path.exists() else "is not a file" + (" (a folder)" if path.is_dir() else "")
        raise ObservedError([_line(path, what)])
    try:
        first = _first_line_used(path)
        if first is None:
            raise ObservedError([_line(path, f"is empty: {shape}")])
        if first > 1:
            raise ObservedError([_line(path, f"is blank, and the header must be the first row: {shape}", 1)])
        raw, lines = read_table(path)
    except UnicodeDecodeError as error:
        byte = error.object[error.start:error.start + 1].hex()
        raise ObservedError([_line(path, f"is not UTF-8 text (it holds the byte 0x{byte}): save it as "
                                         "'CSV UTF-8'")]) from None
    except OSError as error:
        raise ObservedError([_line(path, f"cannot be read ({error.strerror or error})")]) from None
    except csv.Error as error:
        raise ObservedError([_line(path, f"is not a valid CSV ({error})")]) from None
    except RosterError as error:  # a name twice in the header, a row longer than the header: said the same way
        raise ObservedError(error.problems) from None
    if len(raw.columns) and all(pd.Series(list(raw.columns), dtype=str).str.fullmatch(NUMBER)):
        raise ObservedError([_line(path, f"holds numbers ({', '.join(raw.columns[:4])}"
                                         f"{', ...' if len(raw.columns) > 4 else ''}), not a header: {shape}", 1)])
    return raw, lines


def _header(path: Path, raw: pd.DataFrame, known: Sequence[str], required: Sequence[str],
            problems: list[tuple[int, int, str]]) -> bool:
    """Refuse unknown columns (naming the nearest known one) and name the required ones missing; True if a column
    is unknown."""
    unknown = [(position, name) for position, name in enumerate(raw.columns, start=1) if name not in known]
    for position, name in unknown:
        problems.append((1, position, _line(path, f"unknown column {name!r}{suggest(name, known)}", 1, position)))
    for name in required:
        if name not in raw.columns:
            problems.append((1, len(raw.columns) + 1, _line(path, f"the column '{name}' is required", 1)))
    return bool(unknown)


def _numbers(path: Path, raw: pd.DataFrame, column: str, lines: list[int], problems: list[tuple[int, int, str]],
             allowed: str, bad: Callable[[pd.Series], pd.Series] | None = None,
             required: bool = False) -> pd.Series:
    """A column's numbers (NaN where empty or refused); each refused cell is added to `problems`.

    `bad` marks the finite numbers out of bounds; `allowed` says what is allowed, for the message."""
    position = list(raw.columns).index(column) + 1
    text = raw[column].str.strip()
    empty = (text == "").to_numpy()
    shaped = text.str.fullmatch(NUMBER).to_numpy(dtype=bool)
    value = pd.to_numeric(text.where(shaped), errors="coerce").astype(np.float64)
    finite = np.isfinite(value.to_numpy())
    out = np.zeros(len(text), dtype=bool)
    if bad is not None:
        out = finite & bad(value.where(finite, 0.0)).to_numpy(dtype=bool)
    refused = (~empty & ~(shaped & finite)) | out | (empty & required)
    for row in np.flatnonzero(refused):
        cell = text.iloc[row]
        word = cell.lower()
        if not cell:
            message = f"a {column} is required"
        elif word in MISSING_WORDS and not required:
            message = f"{cell!r} is not allowed: an empty cell is how to say a value is missing"
        elif word in INFINITE_WORDS or (shaped[row] and not finite[row]):
            message = f"{cell!r} is not allowed: not finite"
        elif not shaped[row]:
            message = f"{cell!r} is not a number (digits, '.' for decimals, no thousands separator)"
        else:
            message = f"{cell!r} is not allowed"
        problems.append((lines[row], position, _line(path, f"{message}; allowed: {allowed}", lines[row], column)))
    return value.where(~refused)


def _quarters(path: Path, raw: pd.DataFrame, lines: list[int], quarters: int | None,
              problems: list[tuple[int, int, str]]) -> pd.Series:
    limit = QUARTERS_MAX if quarters is None else quarters
    allowed = f"a whole number from 1 to {limit}" + ("" if quarters is None else f" (the run's {quarters} quarters)")
    return _numbers(path, raw, "quarter", lines, problems, allowed, required=True,
                    bad=lambda q: (q < 1) | (q > limit) | (q != np.floor(q)))


def _repeated(path: Path, keys: pd.DataFrame, lines: list[int], column: str, position: int,
              what: Callable[[tuple], str], problems: list[tuple[int, int, str]]) -> None:
    """Rows whose key (all of `keys`' columns known) was given on an earlier row."""
    known = keys[keys.notna().all(axis=1).to_numpy()]
    again = known.duplicated(keep="first")
    if not again.any():
        return
    line = pd.Series(np.asarray(lines)[keys.notna().all(axis=1).to_numpy()], index=known.index)
    first = line.groupby([known[c] for c in known.columns]).transform("first")
    for index in again.index[again.to_numpy()]:
        key = tuple(known.loc[index])
        problems.append((int(line[index]), position, _line(
            path, f"{what(key)} is given again (first on row {first[index]})", int(line[index]), column)))


def _one_value(path: Path, raw: pd.DataFrame, lines: list[int], column: str, why: str) -> str | None:
    """A refusal if `column` holds more than one value (naming the first row that differs), else None."""
    text = raw[column].str.strip()
    if text.nunique() <= 1:
        return None
    row = int(np.flatnonzero((text != text.iloc[0]).to_numpy())[0])
    values = ", ".join(repr(v) for v in text.unique()[:4]) + (", ..." if text.nunique() > 4 else "")
    return _line(path, f"{text.iloc[row]!r} after {text.iloc[0]!r} on row {lines[0]}: the file {why} "
                       f"({text.nunique()} values: {values})", lines[row], column)


def read_history(path: str | Path, allowed: Sequence[str], quarters: int | None = None) -> pd.DataFrame:
    """An observed history of the channel: a row per quarter, a float column per metric given (file order).

    `allowed` are the model's metric names; `quarters`, if given, the horizon a quarter may not pass. The index is
    the quarter (sorted; gaps kept as gaps); an empty cell is NaN. Raises ObservedError naming every bad value."""
    path = Path(path)
    metrics_allowed = [m for m in allowed if m not in ("quarter", *SIMULATION)]
    shape = "a history needs a header row (quarter and the metrics observed) and a row per quarter"
    raw, lines = _read(path, shape)
    problems: list[tuple[int, int, str]] = []
    unknown = _header(path, raw, ["quarter", *SIMULATION, *metrics_allowed], ["quarter"], problems)
    metrics = [c for c in raw.columns if c in metrics_allowed]
    listed = ", ".join(metrics_allowed)
    if not metrics:
        problems.append((1, len(raw.columns) + 2, _line(path, f"no metric column: give at least one of {listed}", 1)))
    elif unknown:
        problems.append((1, len(raw.columns) + 2, _line(path, f"the columns allowed are quarter, scenario, replicate "
                                                              f"and the metrics {listed}")))
    if problems:
        raise _refuse(problems)
    if raw.empty:
        raise ObservedError([_line(path, f"has no rows under the header: {shape}")])

    # several replicates or scenarios would make every quarter repeat: say why, not "quarter 1 is given again"
    stacked = [p for p in (
        _one_value(path, raw, lines, "replicate", "holds replicates of a simulation: give one series per "
                                                  "quarter, e.g. their mean") if "replicate" in raw else None,
        _one_value(path, raw, lines, "scenario", "holds several scenarios: give one series per quarter, "
                                                 "one scenario's") if "scenario" in raw else None) if p]
    if stacked:
        raise ObservedError(stacked)

    quarter = _quarters(path, raw, lines, quarters, problems)
    values = {m: _numbers(path, raw, m, lines, problems, "a finite number, or an empty cell if not observed")
              for m in metrics}
    _repeated(path, quarter.to_frame(), lines, "quarter", list(raw.columns).index("quarter") + 1,
              lambda key: f"quarter {int(key[0])}", problems)
    if problems:
        raise _refuse(problems)
    history = pd.DataFrame(values)
    if history.isna().all().all():
        raise ObservedError([_line(path, "holds no value: every metric cell is empty (an empty cell is a value not "
                                         "observed); give at least one")])
    history.index = pd.Index(quarter.to_numpy(dtype=np.int64), name="quarter")
    return history.sort_index()


def read_partner_history(path: str | Path, ids: Sequence[str], quarters: int | None = None) -> pd.DataFrame:
    """Each partner's observed revenue by quarter: columns id, quarter (int64), revenue (float64), sorted by id then
    quarter; rows with an empty revenue (not observed) are left out.

    `ids` are the roster's; `quarters`, if given, the horizon. Raises ObservedError naming every bad value."""
    path = Path(path)
    shape = "a partner history needs a header row (id, quarter, revenue) and a row per partner and quarter"
    raw, lines = _read(path, shape)
    problems: list[tuple[int, int, str]] = []
    _header(path, raw, PARTNER_COLUMNS, PARTNER_COLUMNS, problems)
    if problems:
        raise _refuse(problems)
    if raw.empty:
        raise ObservedError([_line(path, f"has no rows under the header: {shape}")])

    roster = set(ids)
    partner = raw["id"].str.strip()
    unknown = (partner == "") | ~partner.isin(roster)
    position = list(raw.columns).index("id") + 1
    for count, row in enumerate(np.flatnonzero(unknown.to_numpy())):
        name = partner.iloc[row]
        # only the first SHOWN can be shown (problems are listed by row): suggest for those, not the whole file
        hint = suggest(name, ids) if count < SHOWN else ""
        message = "an id is required: a partner of the roster" if not name else \
            f"{name!r} is not an id of the roster{hint}"
        problems.append((lines[row], position, _line(path, message, lines[row], "id")))
    quarter = _quarters(path, raw, lines, quarters, problems)
    revenue = _numbers(path, raw, "revenue", lines, problems,
                       "dollars, a finite number >= 0, or an empty cell if not observed", bad=lambda r: r < 0)
    keys = pd.DataFrame({"id": partner.where(~unknown), "quarter": quarter})
    _repeated(path, keys, lines, "quarter", list(raw.columns).index("quarter") + 1,
              lambda key: f"partner {key[0]!r} in quarter {int(key[1])}", problems)
    if problems:
        raise _refuse(problems)
    frame = pd.DataFrame({"id": partner, "quarter": quarter.to_numpy(dtype=np.int64), "revenue": revenue})
    frame = frame[frame["revenue"].notna()]
    if frame.empty:
        raise ObservedError([_line(path, "holds no revenue: every revenue cell is empty (an empty cell is a value "
                                         "not observed); give at least one")])
    return frame.sort_values(["id", "quarter"], kind="stable").reset_index(drop=True)
