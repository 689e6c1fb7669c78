"""Pooled layer vectors of the images some unit lists, and the site's copies of those images.

Mining keeps only scalars per unit (O(units x k)); the vectors that seed choice and the maps
need are collected in the describe pass, which already runs every image some unit lists to the
unit's layer: a separate pass cost as much again (at 2,048 units nearly every image is some
unit's top or bottom image). Vectors are taken at each unit's own layer.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import pandas as pd
import torch

from atlas.data.media import save_webp, to_pil
from atlas.models.maps import pooled
from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir


class NaturalVectors:
    """The ``vectors`` table and ``media/images/<id>.webp``, filled batch by batch.

    Each image is saved once as the model saw it, so the site can show it whatever the source
    was (a hub dataset has no files); encoding runs in threads.
    """

    def __init__(self, run: RunDir, threads: int = 2):
        self.run, self.frames = run, []  # type: ignore[var-annotated]
        self.pool = ThreadPoolExecutor(threads)
        self.saves: list[Future] = []

    def add(self, layer: str, ids: list[str], acts: torch.Tensor) -> None:
        """Pooled vectors of ``acts`` (the layer's output for images ``ids``)."""
        if ids:
            vec = pooled(acts)
            self.frames.append(pd.DataFrame({"layer": layer, "image_id": ids,
                                             "vector": [v.tolist() for v in vec.numpy()]}))

    def save_images(self, ids: list[str], images: torch.Tensor) -> None:
        for image_id, img in zip(ids, images, strict=True):
            dest = self.run.root / "media" / "images" / f"{image_id}.webp"
            if not dest.exists():
                self.saves.append(self.pool.submit(save_webp, dest, to_pil(img)))

    def write(self) -> None:
        """Wait for the images (a failed write, e.g. a full disk, raises here), then the table."""
        for f in self.saves:
            f.result()
        self.pool.shutdown()
        df = pd.concat(self.frames, ignore_index=True) if self.frames else schema.empty("vectors")
        self.run.write_table("vectors", df)
