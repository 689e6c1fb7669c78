"""The stats table's histograms, computed for every unit at once, are numpy's own."""

from __future__ import annotations

import numpy as np
import pytest

from atlas.pipeline.mine.unitstats import histograms


@pytest.mark.parametrize("seed", range(12))
def test_histograms_are_np_histogram_per_unit(seed):
    rng = np.random.default_rng(seed)
    n, units, bins = int(rng.integers(1, 300)), int(rng.integers(1, 120)), int(rng.integers(2, 60))
    acts = rng.standard_normal((n, units)).astype(np.float32).astype(np.float64)
    if seed % 3 == 0:
        acts = np.round(acts, 1)  # values on the bins' edges
    acts[:, : min(3, units)] = 0.0  # constant units: the range is widened by 1e-6
    lo, hi = acts.min(0), acts.max(0)
    if seed % 4 == 0:
        lo = lo - 0.5  # a range wider than the values
        acts[0, -1] = lo[-1] - 1.0  # and a value outside it, which np.histogram drops
    hi = np.where(hi > lo, hi, lo + 1e-6)
    counts, edges = histograms(acts, lo, hi, bins)
    assert counts.shape == (units, bins) and edges.shape == (units, bins + 1)
    for u in range(units):
        want_counts, want_edges = np.histogram(acts[:, u], bins=bins, range=(lo[u], hi[u]))
        assert np.array_equal(counts[u], want_counts), u
        assert np.array_equal(edges[u], want_edges), u
