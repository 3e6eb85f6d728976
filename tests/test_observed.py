"""Observed histories: a good file reads back as it was written; a bad one is refused naming the file, the row (as a
spreadsheet counts it), the column and the value, every bad value at once."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sim.errors import InputError
from sim.observed import ObservedError, read_history, read_partner_history

METRICS = ["revenue", "revenue_smb", "active_partners", "top20_share", "mdf_utilisation", "partners", "exits",
           "won_deals"]
GOLDEN = Path(__file__).parent / "golden" / "baseline.csv"  # quarters as channelsim writes them: two replicates
IDS = ["P001", "P002", "ACME-7"]


def write(folder: Path, text: str | bytes, name: str = "history.csv") -> Path:
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def refusal(read, *args, **kwargs) -> list[str]:
    with pytest.raises(ObservedError) as caught:
        read(*args, **kwargs)
    return caught.value.problems


def one_line_names(problems: list[str], *parts: str) -> None:
    """Some one line of the refusal names every part (file, row, column, value, what is allowed)."""
    assert any(all(part in line for part in parts) for line in problems), (parts, problems)


# --------------------------------------------------------------------------- good histories


def test_a_history_reads_back_sorted_by_quarter_with_empty_cells_missing(tmp_path):
    path = write(tmp_path, "quarter,won_deals,revenue\n3,12,1.5e6\n1,10,\n 4 , 7.5 , -2\n")
    history = read_history(path, METRICS, quarters=4)
    assert list(history.columns) == ["won_deals", "revenue"]  # the file's order, not the allowed list's
    assert list(history.index) == [1, 3, 4] and history.index.name == "quarter"  # quarter 2 is a gap, kept a gap
    assert history.index.dtype == np.int64 and (history.dtypes == np.float64).all()
    assert history.loc[3, "revenue"] == 1.5e6 and history.loc[4, "won_deals"] == 7.5 and history.loc[4, "revenue"] == -2
    assert np.isnan(history.loc[1, "revenue"]) and history.loc[1, "won_deals"] == 10


def test_a_spreadsheets_byte_order_mark_and_whole_quarters_written_as_decimals_are_read(tmp_path):
    path = write(tmp_path, "\ufeffquarter,revenue\r\n2.0,5\r\n1,4\r\n")
    assert read_history(path, METRICS)["revenue"].to_dict() == {1: 4.0, 2: 5.0}


def test_channelsims_own_quarters_with_one_replicate_are_accepted_and_its_labels_dropped(tmp_path):
    quarters = pd.read_csv(GOLDEN)
    one = quarters[quarters["replicate"] == 1]
    path = tmp_path / "quarters.csv"
    one.to_csv(path, index=False)
    metrics = [c for c in quarters.columns if c not in ("scenario", "replicate", "quarter")]
    history = read_history(path, metrics, quarters=int(one["quarter"].max()))
    assert list(history.columns) == metrics
    np.testing.assert_array_equal(history.index, one["quarter"])
    np.testing.assert_allclose(history.to_numpy(), one[metrics].to_numpy(dtype=float))


def test_the_mean_of_replicates_as_pandas_writes_it_is_accepted(tmp_path):
    quarters = pd.read_csv(GOLDEN)
    metrics = [c for c in quarters.columns if c not in ("scenario", "replicate", "quarter")]
    path = tmp_path / "mean.csv"
    quarters.groupby(["scenario", "quarter"], as_index=False)[metrics].mean().to_csv(path, index=False)
    assert len(read_history(path, metrics)) == quarters["quarter"].nunique()


# --------------------------------------------------------------------------- malformed histories

# (file, the row a spreadsheet shows, the column, the value, what the line says is allowed)
MALFORMED = {
    "text in a number": ("quarter,revenue\n1,5\n2,lots\n", 3, "'revenue'", "'lots'", "finite number"),
    "thousands separator": ('quarter,revenue\n1,"1,000"\n', 2, "'revenue'", "'1,000'", "no thousands separator"),
    "inf": ("quarter,revenue\n1,inf\n", 2, "'revenue'", "'inf'", "finite"),
    "overflow": ("quarter,revenue\n1,1e999\n", 2, "'revenue'", "'1e999'", "finite"),
    "nan literal": ("quarter,won_deals\n1,3\n2,NaN\n", 3, "'won_deals'", "'NaN'", "empty cell"),
    "quarter 0": ("quarter,revenue\n0,5\n", 2, "'quarter'", "'0'", "whole number from 1"),
    "quarter 2.5": ("quarter,revenue\n1,5\n2.5,5\n", 3, "'quarter'", "'2.5'", "whole number from 1"),
    "quarter as text": ("quarter,revenue\nQ1,5\n", 2, "'quarter'", "'Q1'", "whole number from 1"),
    "quarter empty": ("quarter,revenue\n,5\n", 2, "'quarter'", "a quarter is required", "whole number from 1"),
    "duplicate quarter": ("quarter,revenue\n1,5\n2,6\n1,7\n", 4, "'quarter'", "quarter 1", "first on row 2"),
    "quarter beyond the horizon": ("quarter,revenue\n1,5\n9,6\n", 3, "'quarter'", "'9'", "1 to 8"),
    "unknown column": ("quarter,revenu\n1,5\n", 1, "column 2", "'revenu'", "did you mean 'revenue'?"),
    "scenarios stacked": ("scenario,quarter,revenue\na,1,5\nb,1,6\n", 3, "'scenario'", "'b'", "one series"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_a_bad_history_is_refused_naming_file_row_column_and_value(tmp_path, case):
    text, row, column, value, allowed = MALFORMED[case]
    path = write(tmp_path, text, "observed_history.csv")
    problems = refusal(read_history, path, METRICS, quarters=8)
    one_line_names(problems, "observed_history.csv", f"row {row}", column, value, allowed)


def test_simulated_replicates_are_refused_asking_for_one_series(tmp_path):
    problems = refusal(read_history, GOLDEN, [c for c in pd.read_csv(GOLDEN).columns if c != "replicate"])
    one_line_names(problems, "baseline.csv", "column 'replicate'", "'1'", "holds replicates of a simulation",
                   "give one series per quarter, e.g. their mean")
    assert len(problems) == 1  # not every quarter named twice as well


def test_every_bad_cell_is_listed_in_one_refusal_in_the_order_of_the_file(tmp_path):
    path = write(tmp_path, "quarter,revenue,exits\n1,abc,2\n2,4,inf\n0,5,6\n3,-,\n")
    problems = refusal(read_history, path, METRICS)
    assert len(problems) == 4
    for line, (row, column, value) in zip(problems, [(2, "revenue", "'abc'"), (3, "exits", "'inf'"),
                                                      (4, "quarter", "'0'"), (5, "revenue", "'-'")], strict=True):
        assert f"row {row}, column '{column}'" in line and value in line, line


def test_a_long_list_of_bad_cells_is_cut_short_and_counted(tmp_path):
    path = write(tmp_path, "quarter,revenue\n" + "".join(f"{q},x\n" for q in range(1, 26)))
    problems = refusal(read_history, path, METRICS)
    assert len(problems) == 11 and problems[-1] == "... and 15 more"


def test_every_unknown_column_is_named_with_the_columns_allowed(tmp_path):
    path = write(tmp_path, "quarter,revenue,top_20_share,colour\n1,2,3,4\n")
    problems = refusal(read_history, path, METRICS)
    one_line_names(problems, "row 1, column 3", "'top_20_share'", "did you mean 'top20_share'?")
    one_line_names(problems, "row 1, column 4", "'colour'")
    one_line_names(problems, "the columns allowed", "mdf_utilisation")


@pytest.mark.parametrize(("text", "says"), [
    ("revenue,won_deals\n5,6\n", "the column 'quarter' is required"),
    ("quarter\n1\n2\n", "no metric column"),
    ("quarter,revenue,won_deals\n1,,\n2, ,\n", "holds no value"),
    ("quarter,revenue\n", "has no rows"),
    ("1,5\n2,6\n", "not a header"),
    ("quarter,revenue,revenue\n1,2,3\n", "the column 'revenue' appears twice"),
    ("quarter,revenue\n1,2,3\n", "3 cells for 2 columns"),
    ("\nquarter,revenue\n1,2\n", "the header must be the first row"),
])
def test_a_history_without_its_shape_is_refused_saying_what_is_missing(tmp_path, text, says):
    problems = refusal(read_history, write(tmp_path, text, "shape.csv"), METRICS)
    one_line_names(problems, "shape.csv", says)


@pytest.mark.parametrize(("content", "says"), [
    (None, "file not found"),
    ("folder", "is not a file"),
    (b"", "is empty"),
    (b"\n \n", "is empty"),
    (b"quarter,revenue\n1,caf\xe9\n", "is not UTF-8"),
    (b"quarter,revenue\n" + b"1,2\n" * 3000 + b"2,\xff\n", "is not UTF-8"),  # past the first block read
])
def test_a_file_that_cannot_be_read_is_refused_in_one_line(tmp_path, content, says):
    path = tmp_path / "history.csv"
    if content == "folder":
        path.mkdir()
    elif content is not None:
        path.write_bytes(content)
    problems = refusal(read_history, path, METRICS)
    assert len(problems) == 1 and "history.csv" in problems[0] and says in problems[0], problems


def test_a_refusal_is_an_input_error_whose_message_is_its_lines(tmp_path):
    path = write(tmp_path, "quarter,revenue\n0,x\n")
    with pytest.raises(InputError) as caught:
        read_history(path, METRICS)
    assert isinstance(caught.value, ObservedError)
    assert str(caught.value) == "\n".join(caught.value.problems) and len(caught.value.problems) == 2


# --------------------------------------------------------------------------- partner histories


def test_a_partner_history_reads_back_sorted_with_unobserved_quarters_left_out(tmp_path):
    path = write(tmp_path, "revenue,quarter,id\n5,2,P002\n,1,P001\n3.5,2,P001\n0,1,P002\n", "partners.csv")
    frame = read_partner_history(path, IDS, quarters=4)
    assert list(frame.columns) == ["id", "quarter", "revenue"]
    assert frame.to_dict("list") == {"id": ["P001", "P002", "P002"], "quarter": [2, 1, 2], "revenue": [3.5, 0.0, 5.0]}
    assert frame["quarter"].dtype == np.int64 and frame["revenue"].dtype == np.float64
    assert all(isinstance(i, str) for i in frame["id"])


PARTNER_MALFORMED = {
    "unknown id": ("id,quarter,revenue\nP001,1,5\nP01,1,5\n", 3, "'id'", "'P01'", "did you mean 'P001'?"),
    "empty id": ("id,quarter,revenue\n,1,5\n", 2, "'id'", "an id is required", "roster"),
    "duplicate partner quarter": ("id,quarter,revenue\nP001,1,5\nP002,1,5\nP001,1,6\n", 4, "'quarter'",
                                  "'P001' in quarter 1", "first on row 2"),
    "negative revenue": ("id,quarter,revenue\nP001,1,-5\n", 2, "'revenue'", "'-5'", ">= 0"),
    "revenue as text": ("id,quarter,revenue\nP001,1,n/a\n", 2, "'revenue'", "'n/a'", "empty cell"),
    "quarter beyond the horizon": ("id,quarter,revenue\nP001,5,1\n", 2, "'quarter'", "'5'", "1 to 4"),
    "missing column": ("id,quarter\nP001,1\n", 1, "'revenue' is required", "", ""),
    "extra column": ("id,quarter,revenue,revenues_smb\nP001,1,5,2\n", 1, "column 4", "'revenues_smb'",
                     "did you mean 'revenue'?"),
}


@pytest.mark.parametrize("case", PARTNER_MALFORMED)
def test_a_bad_partner_history_is_refused_naming_file_row_column_and_value(tmp_path, case):
    text, row, column, value, allowed = PARTNER_MALFORMED[case]
    path = write(tmp_path, text, "partner_revenue.csv")
    problems = refusal(read_partner_history, path, IDS, quarters=4)
    one_line_names(problems, "partner_revenue.csv", f"row {row}", column, value, allowed)


def test_every_bad_partner_row_is_listed_in_one_refusal(tmp_path):
    rows = [["id", "quarter", "revenue"], ["ACME7", "1", "5"], ["P002", "0", "-1"], ["ACME-7", "1", ""]]
    path = tmp_path / "partners.csv"
    with open(path, "w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    problems = refusal(read_partner_history, path, IDS)
    assert len(problems) == 3
    one_line_names(problems, "row 2, column 'id'", "'ACME7'", "did you mean 'ACME-7'?")
    one_line_names(problems, "row 3, column 'quarter'", "'0'")
    one_line_names(problems, "row 3, column 'revenue'", "'-1'")


def test_a_partner_history_with_no_revenue_observed_is_refused(tmp_path):
    path = write(tmp_path, "id,quarter,revenue\nP001,1,\nP002,1,\n", "partners.csv")
    one_line_names(refusal(read_partner_history, path, IDS), "partners.csv", "holds no revenue")
