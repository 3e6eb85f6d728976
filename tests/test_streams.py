"""Random streams keyed by partner and Poisson counts by inversion."""

import numpy as np
import pytest
from scipy import stats

from sim.streams import Streams, poisson_from_uniform


def test_a_partners_draws_depend_on_its_id_not_on_who_else_is_drawn():
    streams = Streams(42)
    everyone = np.arange(1000)
    full = streams.uniform("deals.won", 3, everyone, (3, 3))
    some = np.array([5, 17, 999, 400])
    np.testing.assert_array_equal(streams.uniform("deals.won", 3, some, (3, 3)), full[..., some])
    np.testing.assert_array_equal(streams.uniform_rows("deals.won", 3, some, 9), full[..., some].reshape(9, -1).T)
    np.testing.assert_array_equal(streams.uniform_at("deals.won", 3, some, np.array([0, 4, 8, 2]), 9),
                                  full.reshape(9, -1)[[0, 4, 8, 2], some])


@pytest.mark.parametrize("slots, width", [(1, 1), (3, 3), (5, 7), (2001, 9)])
def test_uniforms_are_generator_randoms_on_the_grid_moved_half_a_step(slots, width):
    # the draws taken from the raw 64-bit outputs are exactly numpy's Generator.random float32s (the saved outputs
    # depend on it: a numpy that made its floats otherwise would fail here first)
    streams = Streams(9)
    grid = streams.generator("deals.size", 4).random((slots, width), dtype=np.float32)
    expected = np.minimum(grid + np.float32(2.0**-25), np.float32(1.0 - 2.0**-24))
    ids = np.random.default_rng(0).permutation(slots)
    np.testing.assert_array_equal(streams.uniform_rows("deals.size", 4, ids, width), expected[ids])
    columns = np.arange(slots) % width
    np.testing.assert_array_equal(streams.uniform_at("deals.size", 4, ids, columns, width), expected[ids, columns])


def test_streams_differ_by_name_quarter_and_seed_and_stay_in_the_open_interval():
    ids = np.arange(5000)
    a = Streams(1).uniform("x", 1, ids)
    assert not np.array_equal(a, Streams(1).uniform("y", 1, ids))
    assert not np.array_equal(a, Streams(1).uniform("x", 2, ids))
    assert not np.array_equal(a, Streams(2).uniform("x", 1, ids))
    assert 0 < a.min() and a.max() < 1
    assert abs(a.mean() - 0.5) < 0.02


@pytest.mark.parametrize("mean", [0.0, 0.01, 0.4, 2.0, 3.4, 3.6, 8.0, 40.0, 900.0])
def test_poisson_counts_by_inversion_have_the_poisson_distribution(mean):
    u = Streams(7).uniform("p", 1, np.arange(200_000))
    counts = poisson_from_uniform(np.full(u.size, mean, np.float32), u)
    assert counts.min() >= 0
    assert counts.mean() == pytest.approx(mean, rel=0.01, abs=0.002)
    assert counts.var() == pytest.approx(mean, rel=0.03, abs=0.003)
    if mean < 3.5:  # the exact branch reproduces the CDF
        for k in range(4):
            assert (counts <= k).mean() == pytest.approx(stats.poisson.cdf(k, mean), abs=0.004)


def test_counts_rise_with_the_uniform_and_the_mean():
    u = np.linspace(0.001, 0.999, 999, dtype=np.float32)
    for mean in (0.3, 5.0, 60.0):
        counts = poisson_from_uniform(np.full(u.size, mean, np.float32), u)
        assert np.all(np.diff(counts) >= 0)
    means = np.linspace(0.0, 50.0, 999, dtype=np.float32)
    counts = poisson_from_uniform(means, np.full(means.size, 0.7, np.float32))
    assert np.all(np.diff(counts) >= 0)
