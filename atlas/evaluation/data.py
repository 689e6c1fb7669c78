"""The images validation compares: each unit's natural top images and random other photos.

Top images come from the run's ``topk.parquet`` when it covers the layer (the atlas's own
mining), else from one quick pass over the first ``limit`` source images (spatial-mean
activation, the default mining reduction). Units are spread evenly over the layer's channels
so the sample is not the first few channels only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from atlas.accent.objectives import as_map, relative_distance
from atlas.data.loader import load_images, make_loader
from atlas.data.sources import ImageSource
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir


@dataclass
class UnitImages:
    """Source positions per unit: ``top[i]`` best first, ``random[i]`` outside the top."""

    layer: str
    units: list[int]
    top: list[list[int]]
    random: list[list[int]]


def pick_units(channels: int, count: int) -> list[int]:
    """``count`` channels spread evenly over ``0 .. channels-1`` (deterministic)."""
    if count > channels:
        raise AtlasError(f"validate.units must be at most {channels} (the layer's channels), "
                         f"got {count}")
    return sorted({int(round(v)) for v in np.linspace(0, channels - 1, count)})


def _from_run(run: RunDir | None, source: ImageSource, layer: str, units: list[int],
              k: int) -> list[list[int]] | None:
    if run is None or not run.has("topk"):
        return None
    df = run.read_table("topk")
    df = df[(df["layer"] == layer) & (df["kind"] == "top") & (df["rank"] < k)]
    pos = {r.image_id: r.index for r in source.records}
    top = []
    for u in units:
        rows = df[df["unit"] == u].sort_values("rank")
        if len(rows) < k or not all(i in pos for i in rows["image_id"]):
            return None  # mined elsewhere or with a smaller k: mine again here
        top.append([pos[i] for i in rows["image_id"]])
    return top


@torch.inference_mode()
def unit_means(model: LoadedModel, source: ImageSource, layer: str, limit: int,
               batch_size: int = 32) -> tuple[list[int], torch.Tensor]:
    """(positions read, spatial-mean activation (N, C)) over the first ``limit`` images."""
    probe, pos, rows = Probe(model, [layer]), [], []
    n = min(limit, len(source))
    for batch in make_loader(source, model.input_size, batch_size, 0, range(n)):
        if batch.positions:
            a = as_map(probe(batch.images.to(model.device))[layer])
            rows.append(a.mean((2, 3)).float().cpu())
            pos += batch.positions
    if len(pos) < 2:
        raise AtlasError(f"need at least 2 decodable images to validate, got {len(pos)}")
    return pos, torch.cat(rows)


def unit_images(model: LoadedModel, source: ImageSource, run: RunDir | None, layer: str,
                count: int, k: int, randoms: int, limit: int, seed: int) -> UnitImages:
    """Choose ``count`` units of ``layer``; their top-``k`` and ``randoms`` other photos."""
    pos, means = unit_means(model, source, layer, limit)
    units = pick_units(means.shape[1], count)
    if len(pos) < k + randoms:
        raise AtlasError(f"validation needs at least {k + randoms} images (naturals + randoms),"
                         f" the source gave {len(pos)}")
    top = _from_run(run, source, layer, units, k)
    if top is None:
        order = means[:, units].argsort(0, descending=True)[:k]  # (k, units)
        top = [[pos[int(i)] for i in order[:, j]] for j in range(len(units))]
    rng = np.random.default_rng(seed)
    rand = []
    for t in top:
        pool = [p for p in pos if p not in set(t)]
        rand.append([int(p) for p in rng.choice(pool, size=randoms, replace=False)])
    return UnitImages(layer, units, top, rand)


@torch.inference_mode()
def natural_pair_distances(model: LoadedModel, source: ImageSource, layer: str, pairs: int,
                           limit: int, seed: int) -> list[float]:
    """Relative distance ||A(x)-A(y)||/||A(y)|| at ``layer`` over random pairs of photos:
    how far apart two *different* natural photos are, the yardstick for closeness."""
    n = min(limit, len(source))
    rng = np.random.default_rng(seed + 1)
    xy = np.array([rng.choice(n, size=2, replace=False) for _ in range(pairs)])
    imgs = load_images(source, xy.ravel().tolist(), model.input_size)
    keep = [(a, b) for a, b in xy.tolist() if a in imgs and b in imgs]
    probe = Probe(model, [layer])
    out: list[float] = []
    for i in range(0, len(keep), 32):
        chunk = keep[i:i + 32]
        x = torch.stack([imgs[a] for a, _ in chunk]).to(model.device)
        y = torch.stack([imgs[b] for _, b in chunk]).to(model.device)
        out += relative_distance(probe(x)[layer], probe(y)[layer]).float().cpu().tolist()
    return out
