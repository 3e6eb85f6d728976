"""The partner table as storage: rows added and removed, lanes kept apart, views that agree with the arrays.

Claims, for any sequence of additions and removals:
- every live partner is found at its row (`row_of`), the gone are not, and no row is lost or duplicated;
- a table of several lanes holds, in each lane's block, exactly what a table of that lane alone holds, in the
  same order, so the lane computes what it would alone;
- a lane's block (`block`) reads and writes the table's own arrays;
- the per-lane reductions equal the reductions of each lane's table alone.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.table import PartnerTable

LANES = 3


def _table(lanes: int) -> PartnerTable:
    table = PartnerTable(capacity=4, lanes=lanes)
    table.add_column("value")  # one per partner
    table.add_column("pair", (2,), np.int64)  # two per partner
    return table


class Run:
    """The same operations applied to one table of `LANES` lanes and to one table per lane."""

    def __init__(self):
        self.together = _table(LANES)
        self.alone = [_table(1) for _ in range(LANES)]
        self.next_pid = 0
        self.next_local = [0] * LANES

    def add(self, counts: list[int]) -> None:
        pids, lanes, locals_ = [], [], []
        for lane, count in enumerate(counts):
            local = np.arange(self.next_local[lane], self.next_local[lane] + count)
            self.next_local[lane] += count
            own = {"pid": local, "value": local * 1.5 + lane, "pair": np.stack([local, -local])}
            self.alone[lane].append(own)
            pids.append(np.arange(self.next_pid, self.next_pid + count))
            self.next_pid += count
            lanes.append(np.full(count, lane))
            locals_.append(local)
        local = np.concatenate(locals_)
        lane = np.concatenate(lanes)
        self.together.append({"pid": np.concatenate(pids), "lane": lane, "value": local * 1.5 + lane,
                             "pair": np.stack([local, -local])})

    def remove(self, picks: list[float]) -> None:
        """Remove, in each lane, the rows at these fractions of its block."""
        rows = []
        for lane, (start, stop) in enumerate(self.together.blocks()):
            size = stop - start
            local = np.unique([int(f * size) for f in picks if size]).astype(np.int64)
            local = local[local < size]
            rows.append(local + start)
            self.alone[lane].remove(local)
        self.together.remove(np.concatenate(rows))


operations = st.lists(
    st.one_of(st.tuples(st.just("add"), st.lists(st.integers(0, 6), min_size=LANES, max_size=LANES)),
              st.tuples(st.just("remove"), st.lists(st.floats(0, 0.999), max_size=5))),
    max_size=12)


@settings(max_examples=60, deadline=None)
@given(operations)
def test_lanes_hold_what_tables_alone_hold(steps):
    run = Run()
    for kind, argument in steps:
        getattr(run, kind)(argument)
    table = run.together
    assert table.n == sum(t.n for t in run.alone)
    assert table.starts[0] == 0 and table.starts[-1] == table.n
    for lane, (start, stop) in enumerate(table.blocks()):
        alone = run.alone[lane]
        assert (table.lane[start:stop] == lane).all()
        np.testing.assert_array_equal(table.value[start:stop], alone.value)
        np.testing.assert_array_equal(table.pair[:, start:stop], alone.pair)
        block = table.block(lane)
        np.testing.assert_array_equal(block.value, alone.value)
        assert block.n == alone.n
    # every live partner is at its row; the gone are nowhere
    live = table.pid
    assert np.unique(live).size == table.n
    np.testing.assert_array_equal(table.row_of[live], np.arange(table.n))
    gone = np.setdiff1d(np.arange(run.next_pid), live)
    assert (table.row_of[gone[gone < table.row_of.size]] == -1).all()


@settings(max_examples=40, deadline=None)
@given(operations, st.integers(0, 4))
def test_reductions_per_lane_equal_reductions_alone(steps, count):
    run = Run()
    run.add([3, 0, 5])
    for kind, argument in steps:
        getattr(run, kind)(argument)
    table = run.together
    score = table.value.astype(np.float64) - 3.0  # some scores not positive; all distinct within a lane
    sums, counts, shares = table.sums(table.pair), table.counts(score > 0), table.normalise(score.clip(0))
    top, maxima = table.top(score, count), table.maxima(score, empty=-1.0)
    capped = table.scale_into(score.clip(0), 5.0)
    for lane, (start, stop) in enumerate(table.blocks()):  # each lane against plain numpy on its own rows
        own = run.alone[lane].value.astype(np.float64) - 3.0
        pair = run.alone[lane].pair
        np.testing.assert_array_equal(sums[:, lane], pair.sum(axis=-1))
        assert counts[lane] == np.count_nonzero(own > 0)
        positive = own.clip(0)
        total = positive.sum()
        np.testing.assert_allclose(shares[start:stop], positive / total if total > 0 else 0.0)
        best = np.argsort(-own)[:count]
        np.testing.assert_array_equal(np.sort(top[(top >= start) & (top < stop)] - start), np.sort(best[own[best] > 0]))
        assert maxima[lane] == (own.max() if own.size else -1.0)
        np.testing.assert_allclose(capped[start:stop], positive * min(1.0, 5.0 / total) if total > 0 else 0.0)
        np.testing.assert_array_equal(table.spread(np.arange(LANES) * 10)[start:stop], np.full(stop - start, lane * 10))
        assert table.dot(np.ones(table.n), score)[lane] == pytest.approx(own.sum())
        assert table.sizes()[lane] == own.size
    assert (table.lane_of(np.arange(table.n)) == table.lane).all()


def test_a_block_writes_through_to_the_table():
    run = Run()
    run.add([2, 3, 1])
    block = run.together.block(1)
    block.value = 99.0
    start, stop = run.together.blocks()[1]
    assert (run.together.value[start:stop] == 99.0).all()
    assert (np.delete(run.together.value, np.arange(start, stop)) != 99.0).all()


def test_newcomers_start_from_the_fill_not_a_leavers_leftovers():
    table = PartnerTable(capacity=2)
    table.add_column("score", fill=7.0)
    table.append({"pid": np.arange(3), "score": np.array([1.0, 2.0, 3.0])})
    table.remove(np.array([2]))
    table.append({"pid": np.array([3])})
    assert table.score.tolist() == [1.0, 2.0, 7.0]


def test_columns_are_declared_once_and_cannot_hide_the_tables_own_names():
    table = PartnerTable()
    table.add_column("score", (2,))
    table.add_column("score", (2,))  # again, the same: nothing happens
    with pytest.raises(ValueError, match="already declared"):
        table.add_column("score", (3,))
    with pytest.raises(ValueError, match="hide"):
        table.add_column("blocks")
    with pytest.raises(AttributeError, match="no column 'missing'"):
        _ = table.missing
