"""The vendor's push over verticals: where its messaging, programmes and people point."""

from __future__ import annotations

import numpy as np

from sim.policies import Policy


def push_vector(push: dict[str, float], verticals: list[str]) -> np.ndarray:
    """Relative push per vertical; a vertical not named gets 1, so an empty table is no push."""
    return np.array([push.get(v, 1.0) for v in verticals], dtype=float)


class VerticalPush(Policy):
    node = "push"

    def plan(self, model, offers):
        offers.push[self.vendor] = push_vector(self.params, model.params.market.verticals)
