"""Storage: every partner's state as columns of arrays, and arithmetic per lane.

A `PartnerTable` is a structure of arrays, one row per live partner, the partner the *last*
axis of every column (a per-vendor quantity is vendors x partners, so each vendor's row is
contiguous and array operations run along long rows). It knows nothing of what partners do:
`sim.partners` declares the columns a firm has and decides; policies declare their own.

A table can hold several independent replicates side by side, *lanes* (a sweep's replicates
run as one model): each lane is a contiguous block of rows, ordered exactly as it would be
alone, and every reduction over partners (a sum, a share of a budget, the top N) is taken on
each lane's block exactly as on a table of that lane alone, so a lane computes the same numbers,
bit for bit, as the same replicate run by itself.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import numpy as np

REAL = np.float32  # per-partner quantities: half the memory traffic of float64, ample precision


def one_blas_thread() -> bool:
    """Run numpy's BLAS (OpenBLAS) on one thread in this process; whether it could.

    The model's matrix products are long, thin ones (a dot product over a lane's partners, segments x
    partners by partners x verticals): on several threads OpenBLAS splits such a sum into one part per
    thread, so its last bits depend on the machine's core count (same seed, other output on another
    machine), and on a busy machine the threads wait on each other (at 100,000 partners a quarter took
    2.5 times as long on 2 busy cores). A run is one process (replicates and sweeps run in processes of
    their own): one thread each is also the fastest. Other BLAS builds are left alone."""
    folder = Path(np.__file__).resolve().parent
    found = False
    for library in sorted([*folder.parent.glob("numpy.libs/*openblas*"), *folder.glob(".dylibs/*openblas*")]):
        try:
            handle = ctypes.CDLL(str(library))
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", "_64", ""):
                setter = getattr(handle, f"{prefix}_set_num_threads{suffix}", None)
                if setter is not None:
                    setter(1)
                    found = True
                    break
            else:
                continue
            break
    return found


one_blas_thread()


class Lanes:
    """Reductions over the partner axis, lane by lane (a table of one lane reduces over all of it).

    Needs `lanes`, `starts` (the first row of each lane, then the row count) and `blocks()`."""

    lanes: int
    starts: np.ndarray

    def blocks(self) -> list[tuple[int, int]]:
        """(start, stop) of each lane's rows."""
        return [(int(self.starts[c]), int(self.starts[c + 1])) for c in range(self.lanes)]

    def lane_of(self, rows: np.ndarray) -> np.ndarray:
        """The lane of each row."""
        return np.searchsorted(self.starts, rows, side="right") - 1

    def sums(self, values: np.ndarray, dtype=np.float64) -> np.ndarray:
        """Sum over the partner axis, per lane: shape values.shape[:-1] + (lanes,)."""
        if self.lanes == 1:
            return values.sum(axis=-1, dtype=dtype)[..., None]
        return np.stack([values[..., a:b].sum(axis=-1, dtype=dtype) for a, b in self.blocks()], axis=-1)

    def dot(self, weights: np.ndarray, values: np.ndarray) -> np.ndarray:
        """weights @ values over each lane's partners (float64 weights: an exact per-lane dot product)."""
        return np.array([weights[a:b] @ values[a:b] for a, b in self.blocks()])

    def counts(self, mask: np.ndarray) -> np.ndarray:
        """True entries per lane."""
        if self.lanes == 1:
            return np.array([np.count_nonzero(mask)])
        return np.array([np.count_nonzero(mask[a:b]) for a, b in self.blocks()])

    def sizes(self) -> np.ndarray:
        """The number of partners in each lane."""
        return np.diff(self.starts)

    def maxima(self, values: np.ndarray, empty=0) -> list:
        """Each lane's largest value (`empty` for a lane without partners)."""
        return [values[a:b].max().item() if b > a else empty for a, b in self.blocks()]

    def scale_into(self, values: np.ndarray, budget: float) -> np.ndarray:
        """Each lane's values scaled down pro rata where their total passes `budget` (in place; returned)."""
        for a, b in self.blocks():
            total = values[a:b].sum()
            if total > budget:
                values[a:b] *= budget / total
        return values

    def spread(self, per_lane: np.ndarray) -> np.ndarray:
        """A per-lane value for every partner of the lane."""
        return np.repeat(np.asarray(per_lane), np.diff(self.starts))

    def normalise(self, score: np.ndarray) -> np.ndarray:
        """Each lane's scores as shares of its total (all zero where the total is not positive)."""
        if self.lanes == 1 and score.dtype.kind == "f":  # one lane: no zeroed array to fill
            total = score.sum()
            return score / total if total > 0 else np.zeros_like(score)
        out = np.zeros_like(score)
        for a, b in self.blocks():
            total = score[a:b].sum()
            if total > 0:
                out[a:b] = score[a:b] / total
        return out

    def top(self, score: np.ndarray, count) -> np.ndarray:
        """Rows of each lane's `count` highest positive scores (`count` a number or one per lane)."""
        picked = []
        for c, (a, b) in enumerate(self.blocks()):
            n = int(count[c]) if np.ndim(count) else int(count)
            block = score[a:b]
            positive = np.flatnonzero(block > 0)
            if n < positive.size:
                positive = positive[np.argpartition(-block[positive], n)[:n]]
            picked.append(positive + a)
        return np.concatenate(picked) if picked else np.zeros(0, np.int64)


class PartnerTable(Lanes):
    """Columns [..., 0:n] are the live partners; the partner is the *last* axis of every column.

    Removing partners moves the last live partners (of their lane) into the holes (O(removed),
    arrays stay compact); adding grows the buffers geometrically. `row_of[pid]` finds a partner's
    position (-1: gone). Every table has the columns `pid` (unique in the table), `lane` and
    `agent` (the Mesa agent viewing the row, if any).
    """

    def __init__(self, capacity: int = 64, lanes: int = 1):
        object.__setattr__(self, "_buffers", {})
        object.__setattr__(self, "_fills", {})
        object.__setattr__(self, "n", 0)
        object.__setattr__(self, "_reserved", max(int(capacity), 1))
        object.__setattr__(self, "row_of", np.full(self._reserved, -1, np.int64))
        object.__setattr__(self, "lanes", int(lanes))
        object.__setattr__(self, "starts", np.zeros(int(lanes) + 1, np.int64))
        self.add_column("pid", (), np.int64)
        self.add_column("lane", (), np.int16)
        self.add_column("agent", (), object, fill=None)

    # ---- columns

    def add_column(self, name: str, lead: tuple[int, ...] = (), dtype: Any = REAL, fill: Any = 0) -> None:
        """Declare a column of shape lead + (partners,); declaring it again with the same shape is a no-op."""
        if name in self._buffers:
            buffer = self._buffers[name]
            if buffer.shape[:-1] != tuple(lead) or buffer.dtype != np.dtype(dtype):
                raise ValueError(f"column '{name}' is already declared as {buffer.dtype} {buffer.shape[:-1]}, "
                                 f"not {np.dtype(dtype)} {tuple(lead)}")
            return
        if hasattr(type(self), name):
            raise ValueError(f"column '{name}' would hide the table's own attribute of that name")
        buffer = np.empty((*lead, self._reserved), dtype=dtype)
        buffer[...] = fill
        self._buffers[name] = buffer
        self._fills[name] = fill

    @property
    def columns(self) -> list[str]:
        return list(self._buffers)

    def buffer(self, name: str) -> np.ndarray:
        """The whole backing array of a column (spare capacity included)."""
        return self._buffers[name]

    def __getattr__(self, name: str) -> np.ndarray:
        buffers = object.__getattribute__(self, "_buffers")
        try:
            return buffers[name][..., : self.n]
        except KeyError:
            raise AttributeError(f"partner table has no column '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self._buffers:
            self._buffers[name][..., : self.n] = value
        else:
            object.__setattr__(self, name, value)

    def __len__(self) -> int:
        return self.n

    def block(self, lane: int) -> PartnerBlock:
        """One lane's partners, as views."""
        start, stop = self.blocks()[lane]
        return PartnerBlock(self, start, stop)

    # ---- rows

    def append(self, values: dict[str, Any]) -> np.ndarray:
        """Add partners; `values` must hold `pid` (and, with several lanes, `lane`); columns not given
        start at their fill. Returns the new partners' rows."""
        pids = np.asarray(values["pid"], dtype=np.int64)
        count = pids.size
        self._reserve(self.n + count, int(pids.max()) + 1 if count else 0)
        rows = np.arange(self.n, self.n + count)
        for name, buffer in self._buffers.items():  # a newcomer starts from the fill, not a leaver's leftovers
            buffer[..., rows] = values[name] if name in values else self._fills[name]
        self.row_of[pids] = rows
        object.__setattr__(self, "n", self.n + count)
        if self.lanes == 1:
            self.starts[1] = self.n
            return rows
        lane = np.asarray(values["lane"])
        order, starts = [], [0]
        for c, (start, stop) in enumerate(self.blocks()):  # each lane's newcomers join the end of its block
            order += [np.arange(start, stop), rows[lane == c]]
            starts.append(starts[-1] + (stop - start) + int((lane == c).sum()))
        self._reorder(np.concatenate(order), np.array(starts))
        return self.row_of[pids]

    def remove(self, rows: np.ndarray) -> None:
        """Drop partners, filling the holes with the last live partners (of their lane)."""
        rows = np.asarray(rows, dtype=np.int64)
        if rows.size == 0:
            return
        if not (rows[1:] > rows[:-1]).all():  # (most often they come ascending, as np.flatnonzero gives them)
            rows = np.unique(rows)
        if self.lanes > 1:
            order, starts = [], [0]
            for start, stop in self.blocks():
                local = rows[(rows >= start) & (rows < stop)] - start
                kept = self._swap_order(stop - start, local)
                order.append(kept + start)
                starts.append(starts[-1] + kept.size)
            self._reorder(np.concatenate(order), np.array(starts), gone=self._buffers["pid"][rows].copy())
            return
        keep = self.n - rows.size
        pid = self._buffers["pid"]
        gone = pid[rows].copy()
        holes = rows[rows < keep]
        staying = np.ones(self.n - keep, bool)  # the rows past `keep` that stay, to fill the holes (ascending)
        staying[rows[holes.size:] - keep] = False
        tail = np.flatnonzero(staying) + keep
        for buffer in self._buffers.values():
            # row by row: fancy indexing of a 1-d array is several times faster than of the last axis of an n-d one
            for row in buffer.reshape(-1, buffer.shape[-1]):
                row[holes] = row[tail]
        self.row_of[pid[holes]] = holes
        self.row_of[gone] = -1
        self._buffers["agent"][keep : self.n] = None
        object.__setattr__(self, "n", keep)
        self.starts[1] = keep

    @staticmethod
    def _swap_order(count: int, removed: np.ndarray) -> np.ndarray:
        """Where each remaining row comes from when `removed` rows of `count` are swap-removed."""
        keep = count - removed.size
        order = np.arange(keep)
        holes = removed[removed < keep]
        order[holes] = np.setdiff1d(np.arange(keep, count), removed, assume_unique=True)
        return order

    def _reorder(self, order: np.ndarray, starts: np.ndarray, gone: np.ndarray | None = None) -> None:
        size = order.size
        moved = np.flatnonzero(order != np.arange(size))
        first = int(moved[0]) if moved.size else size  # rows before the first change stay where they are
        order = order[first:]
        for buffer in self._buffers.values():
            buffer[..., first:size] = buffer[..., order]
        if gone is not None:
            self.row_of[gone] = -1
        self._buffers["agent"][size : self.n] = None
        object.__setattr__(self, "n", size)
        self.row_of[self._buffers["pid"][:size]] = np.arange(size)
        object.__setattr__(self, "starts", starts.astype(np.int64))

    def _reserve(self, rows: int, ids: int) -> None:
        if rows > self._reserved:
            capacity = max(rows, int(self._reserved * 1.5) + 16)
            for name, buffer in self._buffers.items():
                grown = np.empty((*buffer.shape[:-1], capacity), dtype=buffer.dtype)
                grown[..., : self._reserved] = buffer
                grown[..., self._reserved :] = 0 if buffer.dtype != object else None
                self._buffers[name] = grown
            object.__setattr__(self, "_reserved", capacity)
        if ids > self.row_of.size:
            grown = np.full(max(ids, int(self.row_of.size * 1.5) + 16), -1, np.int64)
            grown[: self.row_of.size] = self.row_of
            object.__setattr__(self, "row_of", grown)


class PartnerBlock(Lanes):
    """One lane's partners: the table's columns as views of its block (partner-wise code accepts either)."""

    lanes = 1

    def __init__(self, table: PartnerTable, start: int, stop: int):
        object.__setattr__(self, "_table", table)
        object.__setattr__(self, "offset", start)
        object.__setattr__(self, "n", stop - start)
        object.__setattr__(self, "starts", np.array([0, stop - start]))

    def buffer(self, name: str) -> np.ndarray:
        return self._table.buffer(name)

    def __getattr__(self, name: str) -> np.ndarray:
        try:
            return self._table.buffer(name)[..., self.offset : self.offset + self.n]
        except KeyError:
            raise AttributeError(f"partner table has no column '{name}'") from None

    def __setattr__(self, name: str, value: Any) -> None:
        self._table.buffer(name)[..., self.offset : self.offset + self.n] = value

    def __len__(self) -> int:
        return self.n
