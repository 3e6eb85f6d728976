"""Allocation rules: who gets a budget (MDF dollars, CAM hours), apart from what is given.

Each rule returns weights over the live partners that sum to 1 (or are all zero when
nobody qualifies), so an instrument hands out `budget x weights` and never more than it has.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from sim.model import ChannelModel


def normalise(score: np.ndarray) -> np.ndarray:
    total = score.sum()
    return score / total if total > 0 else np.zeros_like(score)


def trailing_revenue(model: ChannelModel, vendor: int) -> np.ndarray:
    """In proportion to the partner's revenue with the vendor over the last four quarters."""
    return model.partners.revenue_4q[vendor]


def equal(model: ChannelModel, vendor: int) -> np.ndarray:
    return np.ones(model.partners.n)


RULES = {
    "trailing_revenue": trailing_revenue,
    "equal": equal,
}


def weights(rule: str, model: ChannelModel, vendor: int) -> np.ndarray:
    return normalise(RULES[rule](model, vendor).astype(np.float64))


def share_out(budget: float, shares: np.ndarray) -> np.ndarray:
    """budget x shares as per-partner float32 amounts that never add up to more than the budget
    (a part in a million is held back against rounding)."""
    return (budget * (1.0 - 1e-6) * shares).astype(np.float32)
