"""Per-channel arithmetic over a partner table that may hold several channels side by side.

Every reduction over partners (a sum, a share of a budget, the top N) is done on each channel's
contiguous block exactly as on a table of that channel alone, so a stacked channel computes
the same numbers, bit for bit, as the same channel run by itself.
"""

from __future__ import annotations

import numpy as np


def sums(table, values: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Sum over the partner axis, per channel: shape values.shape[:-1] + (channels,)."""
    if table.channels == 1:
        return values.sum(axis=-1, dtype=dtype)[..., None]
    return np.stack([values[..., a:b].sum(axis=-1, dtype=dtype) for a, b in table.blocks()], axis=-1)


def counts(table, mask: np.ndarray) -> np.ndarray:
    """True entries per channel."""
    if table.channels == 1:
        return np.array([np.count_nonzero(mask)])
    return np.array([np.count_nonzero(mask[a:b]) for a, b in table.blocks()])


def spread(table, per_channel: np.ndarray) -> np.ndarray:
    """A per-channel value for every partner of the channel."""
    return np.repeat(np.asarray(per_channel), np.diff(table.starts))


def normalise(table, score: np.ndarray) -> np.ndarray:
    """Each channel's scores as shares of its total (all zero where the total is not positive)."""
    out = np.zeros_like(score)
    for a, b in table.blocks():
        total = score[a:b].sum()
        if total > 0:
            out[a:b] = score[a:b] / total
    return out


def top(table, score: np.ndarray, count) -> np.ndarray:
    """Rows of each channel's `count` highest positive scores (`count` a number or one per channel)."""
    picked = []
    for c, (a, b) in enumerate(table.blocks()):
        n = int(count[c]) if np.ndim(count) else int(count)
        block = score[a:b]
        positive = np.flatnonzero(block > 0)
        if n < positive.size:
            positive = positive[np.argpartition(-block[positive], n)[:n]]
        picked.append(positive + a)
    return np.concatenate(picked) if picked else np.zeros(0, np.int64)


def channel_of(table, rows: np.ndarray) -> np.ndarray:
    return np.searchsorted(table.starts, rows, side="right") - 1
