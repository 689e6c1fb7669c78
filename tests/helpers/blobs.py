"""Vectors with known clusters, for the tests of seed selection and of the maps."""

from __future__ import annotations

import numpy as np


def blobs(sizes=(30, 20, 14), dim=112, seed=1) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative (post-ReLU-like) vectors from well-separated blobs (each its own 20 active
    channels), membership shuffled; returns (vectors, labels)."""
    rng = np.random.default_rng(seed)
    centres = np.zeros((len(sizes), dim))
    for b in range(len(sizes)):
        centres[b, rng.choice(dim, 20, replace=False)] = 3.0
    labels = rng.permutation(np.repeat(np.arange(len(sizes)), sizes))
    noise = rng.normal(scale=0.3, size=(len(labels), dim))
    return np.clip(centres[labels] + noise, 0, None), labels
