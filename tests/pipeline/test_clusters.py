"""Manifestation clusters: a unit whose top images form one blob is one cluster."""

from __future__ import annotations

import numpy as np

from atlas.pipeline.clusters import manifestation_clusters


def test_one_blob_is_one_cluster():
    rng = np.random.default_rng(0)
    feats = np.clip(rng.normal(size=(64, 112)) + 1.0, 0, None)
    assert set(manifestation_clusters(feats, np.linspace(10, 1, 64))) == {0}
