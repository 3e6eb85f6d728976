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

import numpy as np
from scipy.special import ndtri


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
        """The stream's (slots x width) block: row k belongs to partner id k."""
        slots = int(ids.max()) + 1 if ids.size else 0
        gen = self.generator(name, quarter)
        if normal:
            return gen.standard_normal((slots, width), dtype=np.float32)
        draws = gen.random((slots, width), dtype=np.float32)
        # shift the grid of [0, 1) by half a step so that inverse CDFs stay finite
        draws += np.float32(2.0**-25)
        np.minimum(draws, np.float32(1.0 - 2.0**-24), out=draws)
        return draws

    def uniform(self, name: str, quarter: int, ids: np.ndarray, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Uniforms in (0, 1) (float32), shaped lead + (len(ids),): one block of `lead` per partner id."""
        width = int(np.prod(lead, dtype=int))
        return np.ascontiguousarray(self._block(name, quarter, ids, width)[ids].T).reshape(*lead, ids.size)

    def normal(self, name: str, quarter: int, ids: np.ndarray, lead: tuple[int, ...] = ()) -> np.ndarray:
        """Standard normals (float32), shaped lead + (len(ids),), keyed by partner id."""
        width = int(np.prod(lead, dtype=int))
        return np.ascontiguousarray(self._block(name, quarter, ids, width, True)[ids].T).reshape(*lead, ids.size)

    def uniform_rows(self, name: str, quarter: int, ids: np.ndarray, width: int) -> np.ndarray:
        """Uniforms shaped (len(ids), width): partner-major, the cheapest layout to gather."""
        return self._block(name, quarter, ids, width)[ids]

    def uniform_at(self, name: str, quarter: int, ids: np.ndarray, columns: np.ndarray, width: int) -> np.ndarray:
        """Only the draws at (ids[k], columns[k]) of a (partner x width) block: for sparse use."""
        return self._block(name, quarter, ids, width)[ids, columns]


def poisson_from_uniform(mean: np.ndarray, u: np.ndarray, exact_below: float = 3.5) -> np.ndarray:
    """Poisson counts by inversion of the CDF at `u`, element-wise, so counts are monotone in `u`.

    Inversion (rather than numpy's sampler, which consumes a varying number of draws) is what
    keeps each partner's count tied to its own uniform. Exact search below `exact_below`
    (only where the count is not zero, which is most cells); above it a Cornish-Fisher
    normal approximation (error in the mean below 0.1 %).
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
        lam, target = mean[searching], u[searching]
        p = np.exp(-lam)
        cdf = p.copy()
        count = np.zeros(searching.size, np.int32)
        going = np.ones(searching.size, bool)
        k = 1
        while True:
            p *= lam
            p *= np.float32(1.0 / k)
            count += going
            cdf += p
            going &= target > cdf
            k += 1
            if k > 64 or not going.any():
                break
        out[searching] = count
    big = np.flatnonzero(mean >= exact_below)
    if big.size:
        lam_b = mean[big].astype(np.float64)
        z = ndtri(u[big].astype(np.float64))
        root = np.sqrt(lam_b)
        approx = lam_b + root * z + (z * z - 1.0) / 6.0 + (z**3 - 7.0 * z) / (72.0 * root) + 0.5
        out[big] = np.maximum(0.0, np.floor(approx))
    return out.reshape(shape)
