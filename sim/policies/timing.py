"""Deal timing: partners move closing dates when a period end or a SPIF window makes it pay.

Both moves work on the pipeline ring (closing quarter x vendor x segment x partner) and on the
quarter's sales, so that revenue is booked once, in the quarter it finally closes in. A
`fraction` is per partner, or per segment and partner (segments x partners).
"""

from __future__ import annotations

import numpy as np


def close_early(model, vendor: int, sales, fraction: np.ndarray) -> None:
    """Close `fraction` (per partner) of the vendor's deals due next quarter in this one."""
    ring = model.partners.pipeline
    depth = ring.shape[0]
    if depth < 2:
        return
    following = ring[(model.quarter + 1) % depth, vendor]  # segments x partners
    moved = following * fraction
    following -= moved
    sales.revenue_by_segment[vendor] += moved
    sales.revenue[vendor] += moved.sum(axis=0)


def hold_over(model, vendor: int, sales, fraction: np.ndarray) -> None:
    """Hold `fraction` (per partner) of the vendor's deals closing this quarter over to the next."""
    ring = model.partners.pipeline
    depth = ring.shape[0]
    if depth < 2:
        return
    held = sales.revenue_by_segment[vendor] * fraction
    sales.revenue_by_segment[vendor] -= held
    ring[(model.quarter + 1) % depth, vendor] += held
    sales.revenue[vendor] -= held.sum(axis=0)
