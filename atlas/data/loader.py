"""Batches of model-ready tensors from any image source, decoded in DataLoader workers.

Positions (which records to read) are explicit so a stage can resume (``range(done, n)``) or
shard (``positions[rank::world]``) without the loader knowing about either. Failed images do
not stop the batch: collate drops them and reports ``(position, reason)`` in ``skipped``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import torch
from torch.utils.data import DataLoader, Dataset

from atlas.data.base import ImageSource
from atlas.data.decode import BadImage, DecodeConfig, ImageInput, decode_rgb, preprocess
from atlas.errors import AtlasError

# (position, tensor [3,S,S] or None, original width, original height, skip reason or "")
Item = tuple[int, torch.Tensor | None, int, int, str]


class Openable(Protocol):
    def __len__(self) -> int: ...
    def open(self, index: int) -> ImageInput: ...


class ImageDataset(Dataset):
    """``source`` images at ``positions``, each decoded and preprocessed to ``size`` or skipped."""

    def __init__(self, source: Openable, size: int, positions: Sequence[int] | None = None,
                 config: DecodeConfig | None = None):
        n = len(source)
        # a range stays a range: cheap to pickle into every worker even for millions of images
        self.positions = range(n) if positions is None else positions
        if not isinstance(self.positions, range):
            self.positions = [int(p) for p in self.positions]
        bad = [p for p in self.positions if not 0 <= p < n]
        if bad:
            raise AtlasError(f"positions {bad[:5]} out of range for a source of {n} images")
        self.source, self.size, self.config = source, size, config or DecodeConfig()

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> Item:
        pos = self.positions[i]
        try:
            try:
                src = self.source.open(pos)
            except Exception as e:
                raise BadImage(f"unreadable: {type(e).__name__}: {str(e)[:80]}") from None
            img, width, height = decode_rgb(src, self.config, self.size)
            return pos, preprocess(img, self.size), width, height, ""
        except BadImage as e:
            return pos, None, 0, 0, e.reason


@dataclass
class Batch:
    """The decoded images of one batch; ``images[i]`` is source position ``positions[i]``."""

    positions: list[int]
    images: torch.Tensor  # [B, 3, S, S] float32 in [0, 1]; B may be 0
    sizes: list[tuple[int, int]]  # original (width, height) after EXIF orientation
    skipped: list[tuple[int, str]]  # (position, reason) of the images that failed


def collate(items: list[Item], size: int) -> Batch:
    """Stack the images that decoded; list the others with their reasons."""
    ok = [it for it in items if it[1] is not None]
    images = torch.stack([it[1] for it in ok]) if ok else torch.empty(0, 3, size, size)
    return Batch(positions=[it[0] for it in ok], images=images,
                 sizes=[(it[2], it[3]) for it in ok],
                 skipped=[(it[0], it[4]) for it in items if it[1] is None])


def make_loader(source: Openable, size: int, batch_size: int, workers: int = 0,
                positions: Sequence[int] | None = None,
                config: DecodeConfig | None = None) -> DataLoader:
    """A deterministic (unshuffled, in-order) loader of :class:`Batch` es; ``workers=0`` is
    in-process. Workers are not persistent: a stage makes one pass, then they should exit."""
    if size < 1 or batch_size < 1 or workers < 0:
        raise AtlasError(f"need size >= 1, batch_size >= 1, workers >= 0; got size={size}, "
                         f"batch_size={batch_size}, workers={workers}")
    dataset = ImageDataset(source, size, positions, config)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                      collate_fn=partial(collate, size=size), persistent_workers=False,
                      prefetch_factor=2 if workers else None)


def load_images(source: Openable, positions: Sequence[int], size: int,
                batch_size: int = 32) -> dict[int, torch.Tensor]:
    """Decode the given source positions at ``size`` (each once); undecodable ones are absent."""
    out: dict[int, torch.Tensor] = {}
    for batch in make_loader(source, size, batch_size, 0, sorted(set(positions))):
        out.update(zip(batch.positions, batch.images, strict=True))
    return out


def load_by_id(source: ImageSource, ids: Sequence[str], size: int) -> torch.Tensor:
    """The images ``ids`` of ``source`` at ``size``, stacked in order (N, 3, size, size); one
    that no longer decodes is an error (it decoded when it was mined)."""
    pos = {r.image_id: r.index for r in source.records}
    missing = [i for i in ids if i not in pos]
    if missing:
        raise AtlasError(f"image {missing[0]!r} is not in the source any more; re-run mine")
    got = load_images(source, [pos[i] for i in ids], size)
    bad = [i for i in ids if pos[i] not in got]
    if bad:
        raise AtlasError(f"image {bad[0]!r} no longer decodes; re-run mine")
    return torch.stack([got[pos[i]] for i in ids])
