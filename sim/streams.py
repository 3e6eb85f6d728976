"""Named random streams keyed by partner, for common random numbers.

Every stochastic decision (opportunity counts, deal sizes, closing delays, exits, ...) has
its own stream, seeded from the run's seed, the decision's name and the quarter through
numpy's SeedSequence. A stream hands out one fixed block of numbers per partner *slot*
(the partner's id), never "the next n numbers": partner 17's deal-size draw in quarter 9
is the same whatever the other partners do, whether a partner was removed or added, and
whatever policy is in force. Two scenarios run on one seed therefore differ by what the
policy caused, not by reshuffled noise.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np
from scipy.special import ndtri

# numpy's PCG64 hands a 64-bit output out as two 32-bit draws, its low half first: on a little-endian machine the
# 32-bit view of the outputs is the draws in order (elsewhere the uniforms come from Generator.random)
_LITTLE = sys.byteorder == "little"


def stream_key(name: str) -> int:
    """A stable 32-bit key for a stream name (Python's hash() changes between processes)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=4).digest(), "little")


class Streams:
    """The random streams of one run."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def generator(self, name: str, quarter: int = 0) -> np.random.Generator:
        """The generator of stream `name` in `quarter` (0 is the set-up)."""
        sequence = np.random.SeedSequence(entropy=self.seed, spawn_key=(stream_key(name), int(quarter)))
        return np.random.Generator(np.random.PCG64(sequence))

    def _block(self, name: str, quarter: int, ids: np.ndarray, width: int, normal: bool = False) -> np.ndarray:
        """The stream's (slots x width) block: row k belongs to partner id k. Normals come as float32; uniforms
        as their raw 32 bits, `_uniforms` making the ones taken uniforms in (0, 1)."""
        slots = int(ids.max()) + 1 if ids.size else 0
        gen = self.generator(name, quarter)
        if normal:
            return gen.standard_normal((slots, width), dtype=np.float32)
        if not _LITTLE:
            return gen.random((slots, width), dtype=np.float32)
        # what Generator.random((slots, width), float32) draws, before its conversion to floats: the 64-bit
        # outputs, each the source of two float32s (its low 32 bits first); converted only where taken
        count = slots * width
        return gen.bit_generator.random_raw((count + 1) // 2).view(np.uint32)[:count].reshape(slots, width)

    @staticmethod
    def _uniforms(bits: np.ndarray) -> np.ndarray:
        """Raw 32-bit draws as Generator.random makes float32s of them (their top 24 bits x 2^-24, on the grid of
        [0, 1)), shifted by half a step so that inverse CDFs stay finite. Element-wise: done on the draws taken
        only, after they are gathered from the block, the same numbers as on the whole block."""
        if bits.dtype == np.uint32:
            draws = (bits >> np.uint32(8)).astype(np.float32)
            draws *= np.float32(2.0**-24)
        else:  # a big-endian machine's block: numpy's own floats
            draws = bits
        draws += np.float32(2.0**-25)
        np.minimum(draws, np.float32(1.0 - 2.0**-24), out=draws)
        return draws

    def uniform(self, name: str, quarter: int, ids: np.ndarray, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Uniforms in (0, 1) (float32), shaped lead + (len(ids),): one block of `lead` per partner id."""
        width = int(np.prod(lead, dtype=int))
        rows = np.take(self._block(name, quarter, ids, width), ids, axis=0)
        return self._uniforms(np.ascontiguousarray(rows.T)).reshape(*lead, ids.size)

    def normal(self, name: str, quarter: int, ids: np.ndarray, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Standard normals (float32), shaped lead + (len(ids),), keyed by partner id."""
        width = int(np.prod(lead, dtype=int))
        rows = np.take(self._block(name, quarter, ids, width, True), ids, axis=0)
        return np.ascontiguousarray(rows.T).reshape(*lead, ids.size)

    def uniform_rows(self, name: str, quarter: int, ids: np.ndarray, width: int) -> np.ndarray:
        """Uniforms shaped (len(ids), width): partner-major, the cheapest layout to gather."""
        return self._uniforms(np.take(self._block(name, quarter, ids, width), ids, axis=0))

    def uniform_at(self, name: str, quarter: int, ids: np.ndarray, columns: np.ndarray, width: int) -> np.ndarray:
        """Only the draws at (ids[k], columns[k]) of a (partner x width) block: for sparse use."""
        flat = self._block(name, quarter, ids, width).reshape(-1)
        return self._uniforms(np.take(flat, ids * width + columns))


class LaneStreams:
    """The streams of every lane of a model, drawn for the rows of its partner table.

    Each lane (a replicate run side by side with others) has its own seed; a partner's draws are
    keyed by its id in its lane (`local_id`), so a lane draws exactly what it would draw alone.
    """

    def __init__(self, seeds: list[int]):
        self.lanes = [Streams(seed) for seed in seeds]
        self.table = None  # the partner table whose rows are drawn for (set by the model)

    @property
    def seed(self) -> int:
        return self.lanes[0].seed

    def lane(self, c: int) -> Streams:
        return self.lanes[c]

    def _split(self, draw, *args):
        t = self.table
        if len(self.lanes) == 1:
            return draw(self.lanes[0], t.local_id, *args)
        return np.concatenate([draw(streams, t.local_id[start:stop], *args)
                               for streams, (start, stop) in zip(self.lanes, t.blocks(), strict=True)], axis=-1)

    def uniform(self, name: str, quarter: int, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Uniforms for every partner, shaped lead + (partners,)."""
        return self._split(lambda s, ids: s.uniform(name, quarter, ids, lead))

    def uniform_rows(self, name: str, quarter: int, width: int) -> np.ndarray:
        """Uniforms shaped (partners, width)."""
        if len(self.lanes) == 1:
            return self.lanes[0].uniform_rows(name, quarter, self.table.local_id, width)
        t = self.table
        return np.concatenate([s.uniform_rows(name, quarter, t.local_id[start:stop], width)
                               for s, (start, stop) in zip(self.lanes, t.blocks(), strict=True)], axis=0)

    def uniform_at(self, name: str, quarter: int, rows: np.ndarray, columns: np.ndarray, width: int) -> np.ndarray:
        """The draws of (partner at `rows[k]`, `columns[k]`); `rows` ascending."""
        t = self.table
        ids = t.local_id[rows]
        if len(self.lanes) == 1:
            return self.lanes[0].uniform_at(name, quarter, ids, columns, width)
        cuts = np.searchsorted(rows, t.starts)
        return np.concatenate([s.uniform_at(name, quarter, ids[a:b], columns[a:b], width) if b > a
                               else np.zeros(0, np.float32)
                               for s, a, b in zip(self.lanes, cuts[:-1], cuts[1:], strict=True)])


# the largest count drawn (~2.7e8 deals a partner, segment and quarter, far beyond any channel): int32
# counts, and sums of a few of them, stay exact whatever mean an extreme scenario gives
COUNT_MAX = 2**28


def poisson_from_uniform(mean: np.ndarray, u: np.ndarray, exact_below: float = 3.5) -> np.ndarray:
    """Poisson counts by inversion of the CDF at `u`, element-wise, so counts are monotone in `u`.

    Inversion (rather than numpy's sampler, which consumes a varying number of draws) is what
    keeps each partner's count tied to its own uniform. Exact search below `exact_below`
    (only where the count is not zero, which is most cells); above it a Cornish-Fisher
    normal approximation (error in the mean below 0.1 %). Counts are capped at COUNT_MAX.
    """
    shape = np.shape(mean)
    mean = np.asarray(mean, dtype=np.float32).ravel()
    u = np.asarray(u, dtype=np.float32).ravel()
    out = np.zeros(mean.size, np.int32)
    small = mean < exact_below
    # a count of zero when u <= P(0) = exp(-mean): decided for every cell at once
    nonzero = u > np.exp(-np.minimum(mean, np.float32(exact_below)))  # capped: no slow denormals
    nonzero &= small
    searching = np.flatnonzero(nonzero)
    if searching.size:
        at, lam, target = searching, mean[searching], u[searching]
        p = np.exp(-lam)
        cdf = p.copy()
        count = np.zeros(at.size, np.int32)
        going = np.ones(at.size, bool)
        k = 1
        while True:
            p *= lam
            p *= np.float32(1.0 / k)
            count += going
            cdf += p
            going &= target > cdf
            k += 1
            left = np.count_nonzero(going)
            if k > 64 or not left:
                break
            if left * 4 < going.size:
                # most cells found: the search goes on with the others only (each cell's steps are its own, so
                # their numbers stay as they were); the counts found so far are final
                out[at] = count
                still = np.flatnonzero(going)
                at, lam, target, p, cdf, count = (np.take(a, still) for a in (at, lam, target, p, cdf, count))
                going = np.ones(at.size, bool)
        out[at] = count
    big = np.flatnonzero(mean >= exact_below)
    if big.size:
        lam_b = np.minimum(mean[big], np.float32(COUNT_MAX)).astype(np.float64)
        z = ndtri(u[big].astype(np.float64))
        root = np.sqrt(lam_b)
        approx = lam_b + root * z + (z * z - 1.0) / 6.0 + (z**3 - 7.0 * z) / (72.0 * root) + 0.5
        out[big] = np.clip(np.floor(approx), 0.0, COUNT_MAX)
    return out.reshape(shape)


def derived_seed(seed: int, *key: int) -> int:
    """A 63-bit model seed for the run `key` under base seed `seed` (`SeedSequence` spawn key): it depends
    only on (seed, key), and distinct keys give independent seeds."""
    state = np.random.SeedSequence(int(seed), spawn_key=tuple(int(k) for k in key)).generate_state(2, np.uint32)
    return int(state[0]) << 31 | int(state[1]) >> 1
