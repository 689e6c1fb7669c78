"""Pooled embedding-layer vectors of the natural top images (for seed choice and maps).

Mining keeps only scalars per unit (O(units x k)); the vectors of the few images that made some
unit's top-N are computed here in a second, short pass over just those images.
"""

from __future__ import annotations

import pandas as pd
import torch

from atlas.accent.objectives import as_map
from atlas.data.loader import make_loader
from atlas.data.media import save_webp, to_pil
from atlas.data.sources import ImageSource
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, Stage


def pooled(model: LoadedModel, images: torch.Tensor, layer: str) -> torch.Tensor:
    """Spatially averaged channel vectors at ``layer`` for images in [0, 1]."""
    with torch.inference_mode():
        a = Probe(model, [layer])(images.to(model.device))[layer]
    return as_map(a).float().mean(dim=(2, 3)).cpu()


def feature_rows(layer: str, kind: str, units: list[int], ranks: list[int], ids: list[str],
                 vectors: torch.Tensor) -> pd.DataFrame:
    return pd.DataFrame({
        "layer": layer, "kind": kind, "unit": units, "rank": ranks, "image_id": ids,
        "vector": [v.tolist() for v in vectors.numpy()],
    })


def natural_features(run: RunDir, model: LoadedModel, source: ImageSource, layers: list[str],
                     batch_size: int = 32, workers: int = 0) -> pd.DataFrame:
    """Write the natural rows of ``features.parquet`` for every image in some unit's top-N or
    bottom-k, and a copy of each such image as the model saw it (``media/images/<id>.webp``)
    so the site can show it whatever the source was (a hub dataset has no files).

    Vectors are taken at each unit's own layer, so ``layer`` in the table is the unit layer.
    """
    top = run.read_table("topk")
    pos_of = {r.image_id: r.index for r in source.records}
    frames = []
    for layer in layers:
        ids = sorted(set(top.loc[top["layer"] == layer, "image_id"]), key=pos_of.__getitem__)
        loader = make_loader(source, model.input_size, batch_size, workers,
                             [pos_of[i] for i in ids])
        for batch in loader:
            if not batch.positions:
                continue
            vec = pooled(model, batch.images, layer)
            got = [source.records[p].image_id for p in batch.positions]
            for img, i in zip(batch.images, got, strict=True):
                dest = run.root / "media" / "images" / f"{i}.webp"
                if not dest.exists():
                    save_webp(dest, to_pil(img))
            frames.append(feature_rows(layer, "natural", [-1] * len(got), [-1] * len(got),
                                       got, vec))
    old = run.read_table("features")
    keep = old[old["kind"] == "accent"] if len(old) else old
    df = pd.concat([*frames, keep], ignore_index=True) if frames else keep
    run.write_table("features", df)
    return df


def _compute(ctx: Context, key: str) -> dict:
    natural_features(ctx.run, ctx.model, ctx.source, ctx.cfg.mine.layers, ctx.cfg.mine.batch_size)
    return {}


# everything it depends on (model, images, layers) is in the mine stage's key
FEATURES = Stage("features", inputs=("mine",), outputs=("features",), settings=lambda ctx: [],
                 compute=_compute, version="2")
