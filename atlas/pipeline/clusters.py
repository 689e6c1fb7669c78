"""Manifestation clusters: the groups a unit's top images fall into, in feature space.

Shared by seed choice (:mod:`atlas.pipeline.select.stage`, round-robin over clusters) and the maps
(:mod:`atlas.pipeline.embed.stage`, which labels the same clusters).
"""

from __future__ import annotations

import numpy as np

# Below this silhouette the best split is no better than noise: keep the top-N as one cluster.
MIN_SILHOUETTE = 0.1


def normalize(feats: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, so Euclidean distance is a monotone function of cosine distance.

    Pooled post-activation vectors are non-negative and their length mostly tracks how strongly
    the image drives the layer overall; *which* channels are active (the direction) is what
    separates manifestations. Zero or non-finite rows stay finite (zero).
    """
    x = np.nan_to_num(np.asarray(feats, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def manifestation_clusters(
    feats: np.ndarray, strength: np.ndarray, max_clusters: int = 8
) -> np.ndarray:
    """Cluster labels 0..c-1 for the rows of ``feats``; cluster 0 holds the strongest row.

    Ward linkage on unit-normalized vectors (deterministic, one tree for every cut); the number of
    clusters maximizes the silhouette over 2..min(max_clusters, n-1), or is 1 when no cut reaches
    :data:`MIN_SILHOUETTE`. Clusters are numbered by their strongest member (``strength``, e.g.
    activation), so labels are stable and meaningful ("cluster 0 = the unit's main manifestation").
    """
    # imported here: scikit-learn's import costs a build's start about a third of a second,
    # before the first render, and clustering runs after it
    from scipy.cluster.hierarchy import fcluster, linkage
    from sklearn.metrics import silhouette_score

    n = len(feats)
    if n < 3 or max_clusters < 2:
        return np.zeros(n, dtype=np.int64)
    x = normalize(feats)
    if np.allclose(x, x[0]):
        return np.zeros(n, dtype=np.int64)
    tree = linkage(x, method="ward")
    best, best_score = np.ones(n, dtype=np.int64), MIN_SILHOUETTE
    for c in range(2, min(max_clusters, n - 1) + 1):
        labels = fcluster(tree, t=c, criterion="maxclust")
        if len(np.unique(labels)) < 2:
            continue
        score = silhouette_score(x, labels, metric="euclidean")
        if score > best_score + 1e-12:
            best, best_score = labels, score
    # renumber: cluster order by strongest member (ties broken by row order, i.e. rank)
    order = np.lexsort((np.arange(n), -np.asarray(strength, dtype=np.float64)))
    relabel: dict[int, int] = {}
    for i in order:
        relabel.setdefault(int(best[i]), len(relabel))
    return np.array([relabel[int(b)] for b in best], dtype=np.int64)


def round_robin(clusters: np.ndarray, strength: np.ndarray, k: int) -> list[int]:
    """Row indices of k picks: each cluster's strongest unpicked member in turn, cluster 0 first."""
    order = np.lexsort((np.arange(len(strength)), -np.asarray(strength, dtype=np.float64)))
    queues = [[int(i) for i in order if clusters[i] == c] for c in range(int(clusters.max()) + 1)]
    picks: list[int] = []
    while len(picks) < min(k, len(clusters)):
        for q in queues:
            if q and len(picks) < k:
                picks.append(q.pop(0))
    return picks
