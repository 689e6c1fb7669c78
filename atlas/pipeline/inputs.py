"""What a build's stages take from its config: the model, the images and the planned units."""

from __future__ import annotations

import platform
from functools import cache
from typing import TYPE_CHECKING

import torch

from atlas import __version__
from atlas.config.units import parse_units
from atlas.data.sources import ImageSource, open_source
from atlas.errors import AtlasError
from atlas.models.distributed import Dist
from atlas.models.runtime import pick_device
from atlas.models.zoo import LoadedModel, load_model
from atlas.pipeline.rundir import RunDir, stable_hash

if TYPE_CHECKING:
    from atlas.config.tree import BuildConfig


class Limited(ImageSource):
    """The first ``n`` images of another source (``data.limit``)."""

    def __init__(self, inner: ImageSource, n: int):
        self.inner, self.n, self.key = inner, min(n, len(inner)), inner.key

    def __len__(self) -> int:
        return self.n

    def open(self, index: int):
        return self.inner.open(index)

    def _describe(self, index: int):
        return self.inner._describe(index)

    def fingerprint(self) -> str:
        return stable_hash([self.inner.fingerprint(), self.n])


@cache
def _model(name: str, weights: str, size: int, device: str) -> LoadedModel:
    return load_model(name, weights, size or None).to(device)


def model_of(cfg: BuildConfig, d: Dist | None = None) -> LoadedModel:
    dev = str(pick_device(cfg.device, d.local_rank if d else 0))
    return _model(cfg.model.name, cfg.model.weights, cfg.model.input_size, dev)


def source_of(cfg: BuildConfig) -> ImageSource:
    d = cfg.data
    hf = {k: v for k, v in (("split", d.split), ("image_column", d.image_column),
                            ("label_column", d.label_column)) if v}
    src = open_source(d.images, **hf)
    return Limited(src, cfg.data.limit) if cfg.data.limit else src


def versions() -> dict[str, str]:
    import numpy
    import pandas

    return {"atlas": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "pandas": pandas.__version__, "python": platform.python_version()}


def record_inputs(run: RunDir, cfg: BuildConfig, model: LoadedModel, source: ImageSource) -> None:
    """Write what this run is made of into the manifest (config, versions, fingerprints)."""
    run.root.mkdir(parents=True, exist_ok=True)
    run.update_manifest(config=cfg.to_dict(), versions=versions(), name=cfg.name,
                        fingerprints={"model": model.fingerprint(), "data": source.fingerprint(),
                                      "images": len(source)})


def planned_units(cfg: BuildConfig, run: RunDir) -> tuple[str, list[int]]:
    """The layer and units this build accentuates and visualizes (``cfg.units`` of the first
    mined layer; the mine stage must be done, it knows the layer's size)."""
    layer = cfg.mine.layers[0]
    n = run.stage("mine").get("units", {}).get(layer)
    if n is None:
        raise AtlasError(f"the mine stage has not recorded layer {layer!r}; run it first")
    return layer, parse_units(cfg.units, int(n), layer)
