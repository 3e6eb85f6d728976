import numpy as np
import pytest

from sim import ChannelModel


def check_invariants(model: ChannelModel) -> None:
    """What must hold after every quarter, whatever the parameters."""
    t = model.partners
    effort = t.effort
    assert np.all(effort >= 0) and np.all(effort <= 1)
    np.testing.assert_allclose(effort.sum(axis=0), 1.0, atol=1e-5)
    for name in t.columns:
        column = getattr(t, name)
        if column.dtype.kind == "f":
            assert np.isfinite(column).all(), f"column {name} has NaN or inf"
    assert np.all(t.revenue >= 0) and np.all(t.pipeline >= 0)
    for name in ("capability", "goodwill"):
        values = getattr(t, name)
        assert np.all(values >= 0) and np.all(values <= 1), name
    kpis = model.kpis
    assert all(np.isfinite(v) for v in kpis.values()), kpis
    assert kpis["revenue"] >= 0
    for vendor in model.vendors:  # every budgeted instrument of every vendor stays within its budget
        spend, budget = model.last_ledger.spend[vendor.index], model.last_ledger.budget[vendor.index]
        for instrument, available in budget.items():
            assert spend.get(instrument, 0.0) <= available * (1 + 1e-6) + 1e-6, (vendor.name, instrument)
    assert kpis["mdf_claimed"] <= kpis["mdf_allocated"] * (1 + 1e-6) + 1e-6
    assert kpis["cam_hours_used"] <= kpis["cam_hours_available"] * (1 + 1e-9) + 1e-9


@pytest.fixture
def small_model():
    return ChannelModel(rng=3, partners__count=300, quarters=8)
