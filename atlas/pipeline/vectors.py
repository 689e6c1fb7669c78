"""Reading the pooled vectors that seed choice and the maps place images by.

``vectors.parquet`` (the describe stage) holds one vector per (layer, listed image);
``accent_vectors.parquet`` (the accentuate stage) one per accentuation. Both are the channel
vectors of the unit's layer (for a basis's features: of the layer the basis reads).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from atlas.errors import AtlasError
from atlas.models.basis import split_name


def natural_vectors(vectors: pd.DataFrame, layer: str) -> dict[str, np.ndarray]:
    """image_id -> pooled vector for units of unit layer ``layer`` (a basis's features over a
    layer are placed by that layer's channel vectors); a clear error when there are none."""
    layer = split_name(layer)[0]
    rows = vectors[vectors["layer"] == layer]
    if rows.empty:
        have = ", ".join(sorted(vectors["layer"].astype(str).unique())) or "(none)"
        raise AtlasError(f"vectors.parquet has no vectors for layer {layer!r} (it has: {have}); "
                         "re-run the describe stage (atlas mine)")
    return {str(i): np.asarray(v, dtype=np.float64)
            for i, v in zip(rows["image_id"], rows["vector"], strict=True)}


def stack(lookup: dict[str, np.ndarray], image_ids: list[str], what: str) -> np.ndarray:
    """Vectors for ``image_ids`` in order; a clear error names the first missing id."""
    missing = [i for i in image_ids if i not in lookup]
    if missing:
        raise AtlasError(f"vectors.parquet lacks {len(missing)} {what} vector(s), e.g. image "
                         f"{missing[0]!r}; re-run the describe stage (atlas mine)")
    return np.stack([lookup[i] for i in image_ids]) if image_ids else np.zeros((0, 0))
