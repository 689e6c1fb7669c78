"""Pooled layer vectors of natural top images and accentuations (for seed choice and maps).

Mining keeps only scalars per unit (O(units x k)); the vectors of the images that made some
unit's top or bottom list are collected in the describe pass over just those images.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import torch

from atlas.accent.objectives import as_map
from atlas.data.media import save_webp, to_pil
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir


def pool(acts: torch.Tensor) -> torch.Tensor:
    """A layer's output -> its spatially averaged channel vectors (on the CPU)."""
    return as_map(acts).float().mean(dim=(2, 3)).cpu()


def pooled(model: LoadedModel, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Spatially averaged channel vectors at ``layer`` for images in [0, 1]."""
    with torch.inference_mode():
        return pool(Probe(model, [layer])(images.to(model.device))[layer])


def feature_rows(layer: str, kind: str, units: list[int], ranks: list[int], ids: list[str],
                 vectors: torch.Tensor) -> pd.DataFrame:
    return pd.DataFrame({
        "layer": layer, "kind": kind, "unit": units, "rank": ranks, "image_id": ids,
        "vector": [v.tolist() for v in vectors.numpy()],
    })


class NaturalFeatures:
    """The natural rows of ``features.parquet`` and the site's copies of the images, collected
    during the describe pass (:mod:`atlas.pipeline.describe`), which already runs every image
    some unit lists to the unit's layer: a separate pass cost as much again (at 2,048 units
    nearly every image is some unit's top or bottom image).

    Vectors are taken at each unit's own layer, so ``layer`` in the table is the unit layer.
    Each image is saved once as the model saw it (``media/images/<id>.webp``), so the site can
    show it whatever the source was (a hub dataset has no files); encoding runs in threads.
    """

    def __init__(self, run: RunDir, threads: int = 2):
        self.run, self.frames = run, []  # type: ignore[var-annotated]
        self.pool = ThreadPoolExecutor(threads)
        self.saves: list[Future] = []

    def add(self, layer: str, ids: list[str], acts: torch.Tensor) -> None:
        """Pooled vectors of ``acts`` (the layer's output for images ``ids``)."""
        if ids:
            vec = pool(acts)
            self.frames.append(feature_rows(layer, "natural", [-1] * len(ids), [-1] * len(ids),
                                            ids, vec))

    def save_images(self, ids: list[str], images: torch.Tensor) -> None:
        for image_id, img in zip(ids, images, strict=True):
            dest = self.run.root / "media" / "images" / f"{image_id}.webp"
            if not dest.exists():
                self.saves.append(self.pool.submit(save_webp, dest, to_pil(img)))

    def write(self) -> None:
        """Wait for the images, then replace the natural rows (accent rows stay)."""
        for f in self.saves:
            f.result()  # re-raises a failed write (e.g. a full disk) here, in the stage
        self.pool.shutdown()
        old = self.run.read_table("features")
        keep = old[old["kind"] == "accent"] if len(old) else old
        df = pd.concat([*self.frames, keep], ignore_index=True) if self.frames else keep
        self.run.write_table("features", df)
