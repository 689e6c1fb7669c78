"""The position vectors a dictionary is learned from: a sample of the layer's activations.

Whole images are held out (a feature that memorized training positions must not score on its
own), chosen by the same content-defined priority mining samples by, so the split and the
sample do not depend on the order or sharding of the images. Each chosen image gives every one
of its positions. The sample is one checkpoint file: a killed stage does not read the images
again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from atlas.data.base import ImageSource
from atlas.data.loader import make_loader
from atlas.errors import AtlasError
from atlas.io.files import atomic_write_with
from atlas.models.hooks import Probe
from atlas.models.maps import as_map
from atlas.models.zoo import LoadedModel
from atlas.pipeline.mine.topk import priority


@dataclass
class Sample:
    train: torch.Tensor  # (N, C) float32 position vectors of the training images
    held: torch.Tensor  # (M, C) those of the held-out images
    train_images: list[int]  # source positions
    held_images: list[int]
    plain: torch.Tensor | None = None  # (N,) bool: rows of the training images as mining sees them
    grid: tuple[int, int] = (0, 0)  # (H, W): rows come in whole maps of H x W positions
    map_images: list[int] | None = None  # the source position of each training map, in order

    def state(self) -> dict:
        return {"train": self.train, "held": self.held, "train_images": self.train_images,
                "held_images": self.held_images, "plain": self.plain, "grid": self.grid,
                "map_images": self.map_images}

    def maps(self, rows: torch.Tensor) -> torch.Tensor:
        """Rows of whole maps (N*H*W, C) as maps (N, C, H, W)."""
        h, w = self.grid
        return rows.view(-1, h, w, rows.shape[1]).permute(0, 3, 1, 2)

    def rows_of(self, images: set[int]) -> torch.Tensor:
        """(N,) bool: the training rows of the maps of ``images`` (any view)."""
        h, w = self.grid
        of_map = torch.tensor([i in images for i in self.map_images or []], dtype=torch.bool)
        return of_map.repeat_interleave(h * w)

    @property
    def as_mined(self) -> torch.Tensor:
        """The training rows of the plain view: the positions mining will read the basis on."""
        return self.train if self.plain is None else self.train[self.plain]


def choose_images(source: ImageSource, per_image: int, sample: int, holdout: float,
                  views: int = 1) -> tuple[list[int], list[int]]:
    """(training, held-out) source positions: images of priority below ``holdout`` are held
    out; each side keeps its lowest priorities up to its share of ``sample`` positions (a
    training image gives ``per_image`` positions in each of its ``views``)."""
    records = source.records
    prio = priority([r.image_id for r in records]).tolist()
    order = sorted(range(len(records)), key=lambda i: (prio[i], i))
    held = [i for i in order if prio[i] < holdout]
    train = [i for i in order if prio[i] >= holdout]
    n_held = max(1, int(sample * holdout) // per_image) if held else 0
    n_train = max(1, (sample - n_held * per_image) // (per_image * views))
    if not train:
        raise AtlasError("the basis needs training images: lower basis.holdout or add images")
    return sorted(train[:n_train]), sorted(held[:n_held])


ZOOM = 1.5  # the zoomed views: the image decoded at 1.5x the input size, two crops of it


def _views(images: torch.Tensor, zoomed: torch.Tensor | None, size: int,
           views: int) -> list[torch.Tensor]:
    """The views of a batch a dictionary learns from: the image as mining sees it, its mirror
    (views >= 2), two crops of the zoomed image (views >= 4), their mirrors (views >= 6)."""
    out = [images]
    if views >= 2:
        out.append(images.flip(3))
    if views >= 4 and zoomed is not None:
        m = zoomed.shape[-1] - size
        crops = [zoomed[..., o:o + size, o:o + size] for o in (m // 4, 3 * m // 4)]
        out += crops + ([c.flip(3) for c in crops] if views >= 6 else [])
    return out


def _vectors(model: LoadedModel, source: ImageSource, layer: str, positions: list[int],
             batch: int, workers: int, progress: bool, what: str,
             views: int = 1) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """Every position vector of the images at ``positions``, in ``views`` views each (see
    :func:`_views`: the same scenes seen anew, which the dictionary must explain as well),
    which rows are of the plain view, and the source position of each map the rows make."""
    probe, out, plain, size, maps = Probe(model, [layer]), [], [], model.input_size, []
    loader = make_loader(source, size, batch, workers, positions)
    zoom = (iter(make_loader(source, round(size * ZOOM), batch, workers, positions))
            if views >= 4 else None)
    with tqdm(total=len(positions), unit="img", desc=f"basis sample ({what})",
              disable=not progress, dynamic_ncols=True) as bar:
        for b in loader:
            zb = next(zoom) if zoom is not None else None
            zoomed = zb.images if zb is not None and zb.positions == b.positions else None
            for v, images in enumerate(_views(b.images, zoomed, size, views)
                                       if len(b.positions) else []):
                with torch.inference_mode():
                    a = as_map(probe(images.contiguous().to(model.device))[layer]).float()
                out.append(a.permute(0, 2, 3, 1).reshape(-1, a.shape[1]).cpu())
                plain.append(torch.full((len(out[-1]),), v == 0))
                maps.extend(b.positions)
            bar.update(len(b.positions) + len(b.skipped))
    if not out:
        return torch.zeros(0, 0), torch.zeros(0, dtype=torch.bool), []
    return torch.cat(out), torch.cat(plain), maps


def gather(model: LoadedModel, source: ImageSource, layer: str, sample: int, holdout: float,
           batch: int, workers: int, path: Path, progress: bool = True,
           views: int = 1) -> Sample:
    """The sample, read from ``path`` when a previous (killed) run of the stage made it."""
    if path.exists():
        return Sample(**torch.load(path, map_location="cpu", weights_only=False))
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.inference_mode():
        grid = as_map(Probe(model, [layer])(x)[layer]).shape
    per_image = int(grid[2] * grid[3])
    train_i, held_i = choose_images(source, per_image, sample, holdout, views)
    train, plain, maps = _vectors(model, source, layer, train_i, batch, workers, progress, "train",
                            views)
    held = (_vectors(model, source, layer, held_i, batch, workers, progress, "held out")[0]
            if held_i else torch.zeros(0, 0))
    s = Sample(train, held, train_i, held_i, plain, (int(grid[2]), int(grid[3])), maps)
    atomic_write_with(path, lambda buf: torch.save(s.state(), buf))
    return s
