"""atlas from Python: an atlas of the model a notebook already holds.

    import atlas
    a = atlas.Atlas(model, "layer3", images, transform=preprocess, out="runs/mine")
    a.build()            # mine, describe, select, visualize, accentuate, embed; renders the site
    a.accentuate("cat.jpg", 5)

:class:`Atlas` runs the same stages, run directory, resume and config tree as ``atlas build``:
``model`` is any ``nn.Module`` (or a model spec such as ``"resnet50"``), ``images`` a path or
source spec, a ``datasets.Dataset``, a torch ``Dataset`` or a list of pictures, and every other
setting is a config key (``accent__steps=50`` or ``{"accent.steps": 50}`` in ``settings``). An
in-memory model and images enter the manifest by fingerprint (a hash of the weights and of the
pixels), so a later session with the same ones resumes the same run, and any other does not.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from atlas.config.tree import BuildConfig, build_config
from atlas.errors import AtlasError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preprocessing:
    """How images in [0, 1] become the model's input: a side and mean/std, or a function."""

    input_size: int
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    function: Any = None


def _side(size: Any) -> int | None:
    if isinstance(size, int):
        return size
    if isinstance(size, (tuple, list)) and size:
        return int(size[-1])
    if isinstance(size, dict):
        return size.get("height") or size.get("shortest_edge")
    return getattr(size, "height", None) or getattr(size, "shortest_edge", None)


def preprocessing(transform: Any, input_size: int | None, mean: Any, std: Any) -> Preprocessing:
    """Read a transform: a torchvision (or open_clip, timm) pipeline gives its ``Normalize``
    mean/std and its crop or resize side (its other steps are atlas's own: it resizes and
    crops images itself); a Hugging Face image processor its mean, std and size; any other
    callable is applied to batches of images in [0, 1] as they are. ``input_size``, ``mean``
    and ``std`` override what the transform says."""
    side, m, s, fn = None, None, None, None
    if transform is not None:
        steps = list(getattr(transform, "transforms", None) or [transform])
        for t in steps:
            name = type(t).__name__
            if name == "Normalize":
                m, s = tuple(map(float, t.mean)), tuple(map(float, t.std))
            elif name in ("CenterCrop", "Resize", "RandomResizedCrop"):
                side = _side(getattr(t, "size", None)) if name != "Resize" or side is None \
                    else side
        if m is None and hasattr(transform, "image_mean"):  # transformers' image processors
            m, s = tuple(transform.image_mean), tuple(transform.image_std)
            side = _side(getattr(transform, "crop_size", None)) or \
                _side(getattr(transform, "size", None))
        if m is None and side is None:
            if not callable(transform):
                raise AtlasError(f"transform is a {type(transform).__name__}; give a torchvision "
                                 f"transform with Normalize, an image processor, a function of "
                                 f"image batches, or mean= and std=")
            fn = transform
    return Preprocessing(int(input_size or side or 224),
                         tuple(mean or m or IMAGENET_MEAN), tuple(std or s or IMAGENET_STD), fn)


def _source(images: Any, class_names: Any):
    """(config spec, source or None): a spec is opened by the pipeline like the CLI's."""
    if isinstance(images, (str, Path)):
        return str(images), None
    from atlas.data.memory import MemorySource, TorchSource

    if type(images).__module__.startswith("datasets") and hasattr(images, "features"):
        from atlas.data.hf import HFSource

        return "python:datasets.Dataset", HFSource(images, "python:datasets.Dataset",
                                                   "hf-memory", "dataset")
    if isinstance(images, (list, tuple)):
        return "python:list", MemorySource(images, "images", class_names)
    if hasattr(images, "__getitem__") and hasattr(images, "__len__"):
        return "python:torch.Dataset", TorchSource(images, "dataset", class_names)
    raise AtlasError(f"images is a {type(images).__name__}; give a folder or source spec, a "
                     f"datasets.Dataset, a torch Dataset or a list of pictures")


def _settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``{"accent.steps": 50}`` and ``accent__steps=50`` alike, as build_config's overrides."""
    return {k.replace(".", "__"): v for k, v in settings.items()}


@dataclass
class Accentuation:
    """One photo accentuated toward one unit: the pictures and the numbers."""

    seed: Any  # PIL images
    image: Any
    mask: Any
    overlay: Any
    seed_activation: float
    final_activation: float
    latent_distance: float
    pixel_rmse: float
    reg_layer: str


class Atlas:
    """An atlas of ``layers`` of ``model`` over ``images`` (see the module docstring).

    ``transform``: the model's preprocessing (see :func:`preprocessing`); ``class_names``: the
    names of its outputs (a list or a text file; default ImageNet's for 1000 outputs); ``out``:
    the run directory (default ``runs/NAME``); ``site``: the site folder (default ``OUT/site``);
    ``config``: a TOML file or bundled config name under the settings; ``settings``: config
    keys, e.g. ``units="0:16"``, ``accent__steps=50``, ``select__k=4``; ``model__weights=
    "none"`` says a module's weights are random (the pages then say so and hide class labels).
    """

    def __init__(self, model: Any, layers: str | list[str], images: Any, *,
                 transform: Any = None, class_names: Any = None, input_size: int | None = None,
                 mean: Any = None, std: Any = None, out: str | Path | None = None,
                 site: str | Path | None = None, name: str = "atlas", config: str | None = None,
                 **settings: Any):
        layers = [layers] if isinstance(layers, str) else list(layers)
        spec, self.source = _source(images, class_names)
        over = {"name": name, "mine__layers": layers, "data__images": spec,
                **_settings(settings)}
        if out is not None:
            over["out"] = str(out)
        args = argparse.Namespace(config=config, set=[]) if config else None
        self._model, self._placed = None, False
        if isinstance(model, (str, Path)):
            over["model__name"] = str(model)
            if class_names is not None:
                over["model__class_names"] = [str(class_names)] if isinstance(
                    class_names, (str, Path)) else list(class_names)
        else:
            from atlas.models.zoo import from_module

            prep = preprocessing(transform, input_size, mean, std)
            self._model = from_module(model, prep.input_size, prep.mean, prep.std, class_names,
                                      prep.function)
            over["model__name"] = self._model.name
            over["model__input_size"] = prep.input_size
            if over.get("model__weights") == "none":  # the caller says they are random:
                self._model.weights = "none"  # class labels are hidden, as for --weights none
        cfg = build_config(args, **over)
        if site is None and "site__out" not in over:
            cfg.site = _with(cfg.site, out=str(Path(cfg.run_dir) / "site"))
        elif site is not None:
            cfg.site = _with(cfg.site, out=str(site))
        self.config: BuildConfig = cfg

    @property
    def run_dir(self) -> Path:
        return Path(self.config.run_dir)

    @property
    def model(self):
        """The model as atlas runs it (:class:`atlas.models.zoo.LoadedModel`)."""
        if self._model is None:
            from atlas.pipeline.resolve import model_of

            self._model = model_of(self.config)  # on the config's device already
        elif not self._placed:  # a module given in Python: on the config's device, once
            from atlas.models.runtime import pick_device

            self._model.to(pick_device(self.config.device))
            self._placed = True
        return self._model

    def _checked(self, site: bool = False):
        from atlas.pipeline.resolve import preflight

        return preflight(self.config, site=site, model=self.model, source=self.source)

    def mine(self, progress: bool = True):
        """Mine the layers (top images per unit) and describe them; the top-k table."""
        from atlas.pipeline.rundir import RunDir
        from atlas.pipeline.stages import run_mine

        model, resolved = self._checked()
        run_mine(self.config, progress, resolved, model=model, source=self.source)
        return RunDir(self.config.run_dir).read_table("topk")

    def build(self, site: bool = True, progress: bool = True) -> dict[str, str]:
        """Every stage of ``atlas build`` (resuming what is done), then the site unless
        ``site=False``; {"run": run directory, "site": site folder or ""}."""
        from atlas.pipeline.build import build
        from atlas.site.render import build_renderer

        model, resolved = self._checked(site=site)
        render = build_renderer(self.config.site) if site else None
        return build(self.config, render, progress, resolved, model=model, source=self.source)

    def site(self, out: str | Path | None = None) -> Path:
        """Render the run's site (into ``out``, default the configured folder); its index."""
        from atlas.io.files import check_writable
        from atlas.site.render import render_site

        folder = Path(out) if out is not None else Path(self.config.site.out)
        check_writable(folder, "site folder")
        return render_site(self.config.run_dir, folder, self.config.site) / "index.html"

    def accentuate(self, photo: Any, unit: int | str | tuple[str, int],
                   out: str | Path | None = None) -> Accentuation:
        """Accentuate one photo (a path, PIL image or tensor in [0, 1]) toward ``unit``: a
        unit number of the first layer, ``(layer, unit)`` or ``"layer:unit"``. With ``out``,
        the side-by-side sheet and pictures are written there too, as ``atlas accentuate``
        writes them."""
        import torch

        from atlas.accent.loop import accentuate
        from atlas.accent.masks import normalize_masks
        from atlas.accent.objectives import Target
        from atlas.config.units import parse_layer_unit, parse_units
        from atlas.data.decode import preprocess, read_photo
        from atlas.data.media import overlay, to_pil
        from atlas.data.memory import to_image
        from atlas.models.probe import unit_counts
        from atlas.pipeline.resolve import resolve

        layer, n = (self.config.mine.layers[0], unit) if isinstance(unit, int) else (
            unit if isinstance(unit, tuple) else parse_layer_unit(unit, "unit"))
        model, acc = self.model, self.config.accent
        model.layer(layer)
        parse_units(str(n), unit_counts(model, [layer]).get(layer, 0), layer)
        resolved = resolve(self.config, model, target=layer)
        seed = (read_photo(photo, acc.canvas) if isinstance(photo, (str, Path))
                else preprocess(to_image(photo, "photo"), acc.canvas))[None]
        res = accentuate(model, seed, Target(layer, torch.tensor([int(n)]), kind=acc.target),
                         acc, reg_layer=resolved.reg_layer, view_px=resolved.view_px)
        mask = normalize_masks(res.masks)[0]
        result = Accentuation(to_pil(seed[0]), to_pil(res.images[0]), to_pil(mask),
                              overlay(res.images[0], mask), float(res.seed_activation[0]),
                              float(res.final_activation[0]), float(res.latent_distance[0]),
                              float(res.pixel_rmse[0]), resolved.reg_layer)
        if out is not None:
            _write(result, Path(out), f"{_stem(photo)}-{layer}-{n}")
        return result


def _with(section: Any, **changes: Any) -> Any:
    from dataclasses import replace

    return replace(section, **changes)


def _stem(photo: Any) -> str:
    from atlas.names import slug

    return slug(Path(photo).stem) if isinstance(photo, (str, Path)) else "photo"


def _write(r: Accentuation, folder: Path, stem: str) -> None:
    from atlas.data.media import sheet
    from atlas.io.files import atomic_write_with, check_writable

    check_writable(folder, "out folder")
    pictures = {"accent": r.image, "overlay": r.overlay, "side": sheet(
        [r.seed, r.image, r.overlay],
        [["seed"], [f"accentuation {r.final_activation:.2f} (seed {r.seed_activation:.2f})"],
         ["attribution overlay"]])}
    for kind, img in pictures.items():
        atomic_write_with(folder / f"{stem}-{kind}.png", lambda b, i=img: i.save(b, "PNG"))
