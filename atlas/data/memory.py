"""Images a Python caller already holds, as image sources: lists of pictures and torch Datasets.

The pipeline reads every source the same way (``open(index)`` gives bytes that
:mod:`atlas.data.decode` decodes), so an in-memory picture is handed over as lossless PNG bytes.
Ids and fingerprints come from the pixels (a hash of each image's bytes), so the same images
give the same ids and the same cached stages in a later session, and other images never do.
Pictures are PIL images, tensors in [0, 1] (or uint8) shaped (3, H, W), or uint8 arrays
(H, W, 3); an item may be an ``(image, label)`` pair. Tensors outside [0, 1] are refused in one
line: a normalizing transform belongs to the model (``transform=``), not to the images.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from atlas.data.base import ImageSource
from atlas.errors import AtlasError
from atlas.io.hashing import stable_hash

SLACK = 1e-3  # float rounding allowed outside [0, 1]


def to_image(x: Any, where: str) -> Image.Image:
    """A picture as an 8-bit RGB PIL image; one line naming ``where`` if it is not one."""
    if isinstance(x, Image.Image):
        return x.convert("RGB")
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach().cpu()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise AtlasError(f"{where} is a tensor of shape {tuple(t.shape)}; give (3, H, W)")
        if t.dtype == torch.uint8:
            a = t.permute(1, 2, 0).numpy()
        else:
            lo, hi = float(t.min()), float(t.max())
            if lo < -SLACK or hi > 1 + SLACK:
                raise AtlasError(f"{where} has values from {lo:.3g} to {hi:.3g}; atlas takes "
                                 f"images in [0, 1]: give them before normalization and pass "
                                 f"the model's transform as transform=")
            a = (t.float().clamp(0, 1).permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        return Image.fromarray(a.repeat(3, axis=2) if a.shape[2] == 1 else a, "RGB")
    if isinstance(x, np.ndarray) and x.dtype == np.uint8 and x.ndim == 3 and x.shape[2] == 3:
        return Image.fromarray(x, "RGB")
    raise AtlasError(f"{where} is a {type(x).__name__}; give a PIL image, a (3, H, W) tensor in "
                     f"[0, 1] or a uint8 (H, W, 3) array")


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _digest(img: Image.Image) -> str:
    h = hashlib.sha256(f"{img.size}".encode())
    h.update(img.tobytes())
    return h.hexdigest()[:16]


def _split(item: Any) -> tuple[Any, Any]:
    """(picture, label) of an item that may be a pair."""
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    return item, None


def _label(label: Any, class_names: Sequence[str] | None) -> str:
    if label is None:
        return ""
    if hasattr(label, "item"):  # a 0-d tensor or numpy scalar
        label = label.item()
    if isinstance(label, int) and class_names is not None and 0 <= label < len(class_names):
        return str(class_names[label])
    return str(label)


class MemorySource(ImageSource):
    """A list of pictures (or ``(picture, label)`` pairs) held in memory."""

    def __init__(self, items: Sequence[Any], name: str = "images",
                 class_names: Sequence[str] | None = None):
        pairs = [_split(x) for x in items]
        if not pairs:
            raise AtlasError("images is an empty list; give at least one picture")
        self.images = [to_image(p, f"image {i}") for i, (p, _) in enumerate(pairs)]
        self.labels = [_label(lab, class_names) for _, lab in pairs]
        self.name = name
        self.digests = [_digest(img) for img in self.images]
        self.key = f"python:{name}"

    def __len__(self) -> int:
        return len(self.images)

    def open(self, index: int) -> bytes:
        return _png(self.images[index])

    def _describe(self, index: int) -> tuple[str, str, dict[str, str]]:
        return (f"{self.name}-{index}", f"memory\0{index}\0{self.digests[index]}",
                {"path": f"{self.name}[{index}]", "label": self.labels[index]})

    def fingerprint(self) -> str:
        return stable_hash(["memory", self.digests, self.labels])


class TorchSource(ImageSource):
    """A ``torch.utils.data.Dataset`` whose items are pictures or ``(picture, label)`` pairs.

    Its pictures must not be normalized (see the module docstring). Integer labels are named
    by ``class_names`` or the dataset's own ``classes`` (torchvision's ImageFolder and CIFAR)."""

    def __init__(self, dataset: Any, name: str = "dataset",
                 class_names: Sequence[str] | None = None):
        self.dataset = dataset
        self.name = name
        self.class_names = list(class_names or getattr(dataset, "classes", None) or []) or None
        self.key = f"python:{name}"
        if len(self) == 0:
            raise AtlasError("the images dataset is empty")

    def __len__(self) -> int:
        return len(self.dataset)

    def _item(self, index: int) -> tuple[Image.Image, str]:
        picture, label = _split(self.dataset[index])
        return to_image(picture, f"dataset item {index}"), _label(label, self.class_names)

    def open(self, index: int) -> bytes:
        return _png(self._item(index)[0])

    @cached_property
    def _scan(self) -> tuple[list[str], list[str]]:
        """Every item's pixel digest and label, read once (for ids and the fingerprint)."""
        digests, labels = [], []
        for i in range(len(self)):
            img, label = self._item(i)
            digests.append(_digest(img))
            labels.append(label)
        return digests, labels

    def _describe(self, index: int) -> tuple[str, str, dict[str, str]]:
        digests, labels = self._scan
        return (f"{self.name}-{index}", f"memory\0{index}\0{digests[index]}",
                {"path": f"{self.name}[{index}]", "label": labels[index]})

    def fingerprint(self) -> str:
        return stable_hash(["memory", *self._scan])

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_scan", None)
        return state
