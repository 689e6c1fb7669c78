"""Lay out a set of vectors in [0, 1]² for the site's maps: UMAP, with fallbacks for small sets.

UMAP needs ``n_neighbors < n`` and its spectral initialisation breaks on tiny graphs, so
n_neighbors is capped at n-1, sets under 10 points start from a random layout, and sets of at
most 3 points (or any set UMAP fails on) fall back to PCA of the same vectors.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from atlas.config.sections import EmbedConfig
from atlas.pipeline.clusters import normalize

SPECTRAL_MIN = 10  # below this many points, start UMAP from a random layout


def to_unit_square(xy: np.ndarray) -> np.ndarray:
    """Scale into [0, 1]² with one factor for both axes (no distortion), centred; a point -> 0.5."""
    xy = np.asarray(xy, dtype=np.float64)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = float((hi - lo).max())
    if span <= 1e-12:
        return np.full_like(xy, 0.5)
    return (xy - lo) / span + (1.0 - (hi - lo) / span) / 2.0


def pca_points(feats: np.ndarray) -> np.ndarray:
    """First two principal components (zero-padded): the fallback layout for tiny sets."""
    x = feats - feats.mean(axis=0)
    out = np.zeros((len(x), 2))
    if len(x) > 1 and np.abs(x).max() > 0:
        u, s, _ = np.linalg.svd(x, full_matrices=False)
        m = min(2, len(s))
        out[:, :m] = u[:, :m] * s[:m]
    return out


@contextmanager
def torch_threads_kept() -> Iterator[None]:
    """Restore torch's intra-op thread count after UMAP. numba shares the OpenMP runtime with
    torch, and UMAP's ``n_jobs`` sets its thread count, then resets it to numba's default (all
    cores): torch then ran on another thread count, so a build that maps before accentuating
    computed different last bits than one resumed after the map (seen as 1e-6 differences)."""
    torch = sys.modules.get("torch")
    threads = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if torch is not None and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)


def embed_points(feats: np.ndarray, cfg: EmbedConfig) -> np.ndarray:
    """A deterministic [n, 2] layout of ``feats`` in [0, 1] (see the module note on small sets)."""
    x = np.nan_to_num(np.asarray(feats, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n = len(x)
    if n == 0:
        return np.zeros((0, 2))
    if cfg.metric in ("cosine", "correlation"):
        x = normalize(x)  # zero rows stay zero; lengths do not matter to these metrics anyway
    if n <= 3 or np.allclose(x, x[0]):
        return to_unit_square(pca_points(x))
    import umap  # deferred: importing umap costs ~1 s, and only this stage needs it

    inits = ["spectral", "random"] if n >= SPECTRAL_MIN else ["random"]
    for init in inits:
        reducer = umap.UMAP(
            n_neighbors=max(2, min(cfg.n_neighbors, n - 1)),
            min_dist=cfg.min_dist,
            metric=cfg.metric,
            n_epochs=cfg.n_epochs,
            init=init,
            random_state=cfg.seed,
            n_jobs=1,
        )
        try:
            with warnings.catch_warnings(), torch_threads_kept():
                warnings.simplefilter("ignore")  # small-set and n_jobs notices, not problems
                xy = reducer.fit_transform(x)
        except (ValueError, TypeError, RuntimeError, np.linalg.LinAlgError):
            continue
        if np.isfinite(xy).all():
            return to_unit_square(xy)
    return to_unit_square(pca_points(x))
