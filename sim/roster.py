"""Rosters: a CSV of real partners as the starting population (`partners.roster`).

Columns (a header row, one partner per row; only `id` is required):

| column | meaning | allowed |
|---|---|---|
| `id` | the partner's own identifier | text, unique, not empty |
| `name` | display name | text |
| `smb`, `midmarket`, `enterprise` | segment mix | all three or none; shares in [0, 1] summing to 1 |
| `sales`, `technical`, `marketing` | headcount by role | whole numbers >= 0, at most 100,000; sales >= 1 |
| a column per vertical (`market.verticals`) | vertical priorities | weights >= 0 summing to 1 (missing: 0) |
| `trailing_revenue` | revenue with the vendor over the last four quarters | >= 0, at most 1e12 |
| `tier` | the partner's tier with the vendor | a name from `vendor.tiers.names` |

A column left out is filled from the generator (the scenario's partner distributions); so
is an empty cell of an optional column.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from sim.params import HEADCOUNT_MAX, MONEY_MAX, SEGMENTS, ParameterError, Scenario, _suggest

ROLES = ("sales", "technical", "marketing")


class RosterError(ParameterError):
    """A bad roster: the message names the file and, for a bad value, the row and column."""


def display(path: Path) -> str:
    """A path as short as it is clear: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, RuntimeError, OSError):  # outside the working directory, or a symlink loop
        return str(path)


def _fail(path: Path, message: str, row: int | None = None, column: str | None = None) -> RosterError:
    where = display(path)
    if row is not None:
        where += f", row {row}"  # as a spreadsheet counts: the header is row 1
    if column is not None:
        where += f", column '{column}'"
    return RosterError([f"{where}: {message}"])


def columns_allowed(params: Scenario) -> list[str]:
    return ["id", "name", *SEGMENTS, *ROLES, *params.market.verticals, "trailing_revenue", "tier"]


def header_of(path: Path) -> list[str]:
    """The column names of a CSV file's header row, as written (pandas would rename a duplicate)."""
    with open(path, encoding="utf-8-sig", newline="") as file:
        return [name.strip() for name in next(csv.reader(file), [])]


def read(path: str | Path, params: Scenario) -> pd.DataFrame:
    """Read and check a roster; raises RosterError with the file, row and column of a bad value."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found" if not path.exists() else "not a file")
    try:
        header = header_of(path)
        # utf-8-sig: a byte-order mark, as spreadsheets write, is not part of the first column's name
        raw = pd.read_csv(path, dtype=str, keep_default_na=False, skipinitialspace=True, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(path, f"cannot be read ({error.__class__.__name__}: {error})") from None
    except pd.errors.EmptyDataError:
        raise _fail(path, "is empty: a roster needs a header row and one row per partner") from None
    except pd.errors.ParserError as error:
        raise _fail(path, f"is not a valid CSV ({str(error).strip()})") from None
    for index, column in enumerate(header):
        if column in header[:index]:
            raise _fail(path, f"the column '{column}' appears twice in the header (columns {header.index(column) + 1} "
                              f"and {index + 1})")
    raw.columns = header
    allowed = columns_allowed(params)
    for column in raw.columns:
        if column not in allowed:
            raise _fail(path, f"unknown column '{column}'{_suggest(column, allowed)}; columns are "
                              f"{', '.join(allowed)}")
    if "id" not in raw.columns:
        raise _fail(path, "the column 'id' is required")
    if raw.empty:
        raise _fail(path, "has no partners (only a header row)")
    out = pd.DataFrame(index=raw.index)

    ids = raw["id"].str.strip()
    empty = np.flatnonzero(ids == "")
    if empty.size:
        raise _fail(path, "an id is required", int(empty[0]) + 2, "id")
    duplicated = np.flatnonzero(ids.duplicated().to_numpy())
    if duplicated.size:
        raise _fail(path, f"id {ids.iloc[duplicated[0]]!r} appears twice", int(duplicated[0]) + 2, "id")
    out["id"] = ids
    if "name" in raw.columns:
        out["name"] = raw["name"].str.strip()

    def numbers(column: str, allowed_text: str, low: float = 0.0, high: float = np.inf,
                whole: bool = False) -> pd.Series:
        text = raw[column].str.strip()
        value = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        bad = (text != "") & (value.isna() | (value < low) | (value > high) | ~np.isfinite(value.fillna(0)))
        if whole:
            bad |= value.notna() & (value != np.floor(value.fillna(0)))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise _fail(path, f"{text.iloc[row]!r} is not allowed: {allowed_text}", row + 2, column)
        return value

    def group(columns: list[str], what: str, allowed_text: str) -> None:
        present = [c for c in columns if c in raw.columns]
        if not present:
            return
        values = pd.DataFrame({c: numbers(c, allowed_text, 0.0, 1.0) for c in present})
        blank = values.isna()
        partial = blank.any(axis=1) & ~blank.all(axis=1)
        if partial.any():
            row = int(np.flatnonzero(partial.to_numpy())[0])
            column = values.columns[blank.iloc[row].to_numpy()][0]
            raise _fail(path, f"{what}: give every column or none in a row", row + 2, column)
        total = values.fillna(0).sum(axis=1)
        off = ~blank.all(axis=1) & ((total - 1.0).abs() > 0.01)
        if off.any():
            row = int(np.flatnonzero(off.to_numpy())[0])
            raise _fail(path, f"{what} must sum to 1 (this row sums to {total.iloc[row]:.4g})", row + 2)
        for column in columns:
            out[column] = values[column] if column in values else np.where(blank.all(axis=1), np.nan, 0.0)

    if any(c in raw.columns for c in SEGMENTS):
        missing = [c for c in SEGMENTS if c not in raw.columns]
        if missing:
            raise _fail(path, f"segment mix: give all of {', '.join(SEGMENTS)} (missing {', '.join(missing)})")
    group(list(SEGMENTS), "the segment mix (smb + midmarket + enterprise)", "a share between 0 and 1")
    group(list(params.market.verticals), "vertical priorities", "a weight between 0 and 1")

    for role in ROLES:  # the tree's bound on a firm's headcount, role by role
        if role in raw.columns:
            what = "a whole number of sellers, 1 or more" if role == "sales" else "a whole number of people, 0 or more"
            out[role] = numbers(role, f"{what} (at most {HEADCOUNT_MAX:,.0f})", 1.0 if role == "sales" else 0.0,
                                HEADCOUNT_MAX, whole=True)
    if "trailing_revenue" in raw.columns:
        out["trailing_revenue"] = numbers("trailing_revenue",
                                          f"revenue in dollars, 0 or more (at most {MONEY_MAX:,.0f})", high=MONEY_MAX)
    if "tier" in raw.columns:
        names = params.vendor.tiers.names
        tiers = raw["tier"].str.strip()
        bad = (tiers != "") & ~tiers.isin(names)
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise _fail(path, f"{tiers.iloc[row]!r} is not a tier{_suggest(tiers.iloc[row], names)}; tiers are "
                              f"{', '.join(names)}", row + 2, "tier")
        out["tier"] = tiers.map({n: i for i, n in enumerate(names)})
    return out


def apply(columns: dict[str, np.ndarray], roster: pd.DataFrame, params: Scenario) -> dict[str, np.ndarray]:
    """Lay the roster's values over generated partners (a row each, in roster order)."""
    from sim.partners import firm_profile  # the derived attributes follow the roster's values

    def given(column: str) -> np.ndarray | None:
        if column not in roster:
            return None
        values = roster[column].to_numpy(dtype=float)
        return None if np.isnan(values).all() else values

    for role in ROLES:
        values = given(role)
        if values is not None:
            known = ~np.isnan(values)
            columns[role][known] = values[known]
    columns["headcount"] = columns["sales"] + columns["technical"] + columns["marketing"]
    columns["capacity"] = columns["sales"] + params.partners.presales_selling * columns["technical"]
    for group, name in ((list(SEGMENTS), "segment_mix"), (list(params.market.verticals), "verticals")):
        if all(c in roster for c in group):
            values = roster[group].to_numpy(dtype=float).T
            known = ~np.isnan(values).any(axis=0)
            columns[name][:, known] = values[:, known]
    columns.update(firm_profile(columns["segment_mix"], columns["verticals"], params))
    columns["external_id"] = roster["id"].to_numpy(dtype=object)
    if "name" in roster:
        columns["name"] = roster["name"].to_numpy(dtype=object)
    return columns
