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

from sim.errors import display
from sim.params import HEADCOUNT_MAX, MONEY_MAX, SEGMENTS, Scenario
from sim.partners import firm_profile, selling_capacity
from sim.tree import ParameterError, suggest

ROLES = ("sales", "technical", "marketing")


class RosterError(ParameterError):
    """A bad roster: the message names the file and, for a bad value, the row and column."""


def _fail(path: Path, message: str, row: int | None = None, column: str | None = None) -> RosterError:
    where = display(path)
    if row is not None:
        where += f", row {row}"  # as a spreadsheet counts: the header is row 1
    if column is not None:
        where += f", column '{column}'"
    return RosterError([f"{where}: {message}"])


def columns_allowed(params: Scenario) -> list[str]:
    return ["id", "name", *SEGMENTS, *ROLES, *params.market.verticals, "trailing_revenue", "tier"]


def read_table(path: Path) -> tuple[pd.DataFrame, list[int]]:
    """A CSV file's cells as text, and the line of the file each row is on (as a spreadsheet counts).

    Read with the csv module rather than pandas, so that what pandas would quietly mend is named:
    a column name given twice, a row with more cells than the header has columns (an unquoted comma
    in a name). A byte-order mark is not part of the first name; blank lines are skipped; a row with
    fewer cells has the rest empty; an unnamed column with nothing in it (a trailing comma) is dropped.
    """
    where = display(path)
    # utf-8-sig: a byte-order mark, as spreadsheets write, is not part of the first column's name
    with open(path, encoding="utf-8-sig", newline="") as file:
        reader = csv.reader(file, skipinitialspace=True, strict=True)
        header = [name.strip() for name in next(reader, [])]
        rows, lines = [], []
        for cells in reader:
            if not cells or (len(cells) == 1 and not cells[0].strip()):
                continue
            if len(cells) > len(header):
                raise RosterError([f"{where}, row {reader.line_num}: {len(cells)} cells for {len(header)} columns "
                                   "(a comma inside a value needs the value in double quotes)"])
            rows.append(cells + [""] * (len(header) - len(cells)))
            lines.append(reader.line_num)
    if not header:
        raise RosterError([f"{where}: is empty: a roster needs a header row and one row per partner"])
    for index, column in enumerate(header):
        if column and column in header[:index]:
            raise RosterError([f"{where}: the column '{column}' appears twice in the header (columns "
                               f"{header.index(column) + 1} and {index + 1})"])
    table = pd.DataFrame(rows, columns=range(len(header)), dtype=object)
    keep = [i for i, name in enumerate(header) if name or (table[i].str.strip() != "").any()]
    for i in keep:
        if not header[i]:
            raise RosterError([f"{where}: column {i + 1} has no name in the header but holds values"])
    table = table[keep]
    table.columns = [header[i] for i in keep]
    return table.astype(str), lines


def read(path: str | Path, params: Scenario) -> pd.DataFrame:
    """Read and check a roster; raises RosterError with the file, row and column of a bad value."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, "file not found" if not path.exists() else "not a file")
    try:
        raw, line_of = read_table(path)
    except (OSError, UnicodeDecodeError) as error:
        raise _fail(path, f"cannot be read ({error.__class__.__name__}: {error})") from None
    except csv.Error as error:
        raise _fail(path, f"is not a valid CSV ({error})") from None
    allowed = columns_allowed(params)
    for column in raw.columns:
        if column not in allowed:
            raise _fail(path, f"unknown column '{column}'{suggest(column, allowed)}; columns are "
                              f"{', '.join(allowed)}")
    if "id" not in raw.columns:
        raise _fail(path, "the column 'id' is required")
    if raw.empty:
        raise _fail(path, "has no partners (only a header row)")
    out = pd.DataFrame(index=raw.index)

    ids = raw["id"].str.strip()
    empty = np.flatnonzero(ids == "")
    if empty.size:
        raise _fail(path, "an id is required", line_of[int(empty[0])], "id")
    duplicated = np.flatnonzero(ids.duplicated().to_numpy())
    if duplicated.size:
        raise _fail(path, f"id {ids.iloc[duplicated[0]]!r} appears twice", line_of[int(duplicated[0])], "id")
    out["id"] = ids
    if "name" in raw.columns:
        out["name"] = raw["name"].str.strip()

    def numbers(column: str, allowed_text: str, low: float = 0.0, high: float = np.inf,
                whole: bool = False) -> pd.Series:
        text = raw[column].str.strip()
        value = pd.to_numeric(text.replace("", np.nan), errors="coerce")
        infinite = (text != "") & (value.notna() & ~np.isfinite(value.fillna(0)) | text.str.lower().eq("nan"))
        if infinite.any():
            row = int(np.flatnonzero(infinite.to_numpy())[0])
            raise _fail(path, f"{text.iloc[row]!r} is not allowed: must be a finite number", line_of[row], column)
        bad = (text != "") & (value.isna() | (value < low) | (value > high))
        if whole:
            bad |= value.notna() & (value != np.floor(value.fillna(0)))
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise _fail(path, f"{text.iloc[row]!r} is not allowed: {allowed_text}", line_of[row], column)
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
            raise _fail(path, f"{what}: give every column or none in a row", line_of[row], column)
        total = values.fillna(0).sum(axis=1)
        off = ~blank.all(axis=1) & ((total - 1.0).abs() > 0.01)
        if off.any():
            row = int(np.flatnonzero(off.to_numpy())[0])
            raise _fail(path, f"{what} must sum to 1 (this row sums to {total.iloc[row]:.4g})", line_of[row])
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
            raise _fail(path, f"{tiers.iloc[row]!r} is not a tier{suggest(tiers.iloc[row], names)}; tiers are "
                              f"{', '.join(names)}", line_of[row], "tier")
        out["tier"] = tiers.map({n: i for i, n in enumerate(names)})
    return out


def apply(columns: dict[str, np.ndarray], roster: pd.DataFrame, params: Scenario,
          lanes: int = 1) -> dict[str, np.ndarray]:
    """Lay the roster's values over generated partners (a row each, in roster order, in each of `lanes`
    lanes one after the other: the same firms in every replicate)."""

    def given(column: str) -> np.ndarray | None:
        if column not in roster:
            return None
        values = roster[column].to_numpy(dtype=float)
        return None if np.isnan(values).all() else np.tile(values, lanes)

    for role in ROLES:
        values = given(role)
        if values is not None:
            known = ~np.isnan(values)
            columns[role][known] = values[known]
    columns["headcount"] = columns["sales"] + columns["technical"] + columns["marketing"]
    columns["capacity"] = selling_capacity(columns["sales"], columns["technical"], params)
    for group, name in ((list(SEGMENTS), "segment_mix"), (list(params.market.verticals), "verticals")):
        if all(c in roster for c in group):
            values = np.tile(roster[group].to_numpy(dtype=float).T, lanes)
            known = ~np.isnan(values).any(axis=0)
            columns[name][:, known] = values[:, known]
    columns.update(firm_profile(columns["segment_mix"], columns["verticals"], params))
    columns["external_id"] = np.tile(roster["id"].to_numpy(dtype=object), lanes)
    if "name" in roster:
        columns["name"] = np.tile(roster["name"].to_numpy(dtype=object), lanes)
    return columns
