"""The start of every command that computes: checks before long work, and settings resolved once.

:func:`resolve` turns the config, the machine and the loaded model into a
:class:`~atlas.config.resolved.Resolved` (device, regularization layer, batch sizes, workers,
view size); the run's manifest records it and every stage reads it. :func:`preflight` runs the
checks a mistake should fail at within seconds, not after a finished mining: writable folders,
the image source, the layers and units (one forward pass on a random image), the regularization
layer. Each failure is one :class:`AtlasError` line.
"""

from __future__ import annotations

import os
from functools import cache

import torch

from atlas.config.resolved import Resolved
from atlas.config.tree import BuildConfig
from atlas.config.units import parse_plan
from atlas.data.sources import ImageSource, Limited, open_source
from atlas.errors import AtlasError, unknown
from atlas.io.files import check_writable
from atlas.models.basis import split_name
from atlas.models.distributed import Dist
from atlas.models.hooks import LOGITS
from atlas.models.probe import takes_size, unit_counts, view_side
from atlas.models.reglayer import reg_layer_for
from atlas.models.runtime import pick_device
from atlas.models.zoo import LoadedModel, load_model
from atlas.pipeline.basis.stage import feature_count
from atlas.pipeline.decisions.labels import read_label_map

# Per call on a CPU: accentuation pairs (one unit's seeds at the default select.k) and
# visualization units. Larger calls spread each step's fixed costs over more images (the CPU
# time per pair and per unit at these sizes: docs/benchmarks.md, "Engine"), while memory
# grows with the batch.
CPU_ACCENT_PAIRS = 4
CPU_VIS_UNITS = 16


@cache
def _model(name: str, weights: str, size: int, device: str, num_classes: int,
           class_names: tuple[str, ...]) -> LoadedModel:
    model = load_model(name, weights, size or None, num_classes, list(class_names)).to(device)
    check_size(model, name, size)
    return model


def check_size(model: LoadedModel, name: str, size: int) -> None:
    """The model runs on its input size (a ViT's fixed grid, kernels larger than maps)."""
    if not takes_size(model, model.input_size):
        raise AtlasError(
            f"model {name!r} does not run on {size}-px inputs (model.input_size; 0 is the "
            f"model's own size)" if size else f"model {name!r} does not run on its default "
            f"{model.input_size}-px inputs; set model.input_size to the size it takes")


def check_device(name: str) -> None:
    """A device named in the config that this machine lacks fails here, not in the first
    stage (``cuda`` without CUDA is :func:`atlas.models.runtime.pick_device`'s line)."""
    if name == "mps" and not torch.backends.mps.is_available():
        raise AtlasError("device 'mps' requested but MPS is not available; valid: cpu, auto")
    n = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if name.startswith("cuda:") and n and int(name[5:]) >= n:
        raise AtlasError(f"device {name!r} requested but this machine has {n} CUDA "
                         f"device{'s' if n > 1 else ''}; valid: cuda:0..cuda:{n - 1}, cpu, auto")


def model_of(cfg: BuildConfig, d: Dist | None = None) -> LoadedModel:
    """The config's model on this process's device, loaded once per process (the checks
    before long work and the stages share it)."""
    check_device(cfg.device)
    dev = str(pick_device(cfg.device, d.local_rank if d else 0))
    m = cfg.model
    return _model(m.name, m.weights, m.input_size, dev, m.num_classes, tuple(m.class_names))


def source_of(cfg: BuildConfig) -> ImageSource:
    """The config's images (the first ``data.limit`` of them when it is set)."""
    d = cfg.data
    hf = {k: v for k, v in (("split", d.split), ("image_column", d.image_column),
                            ("label_column", d.label_column)) if v}
    src = open_source(d.images, **hf)
    return Limited(src, cfg.data.limit) if cfg.data.limit else src


def decode_workers(workers: int, device: torch.device) -> int:
    """Decoding workers for ``workers=-1``: none on a CPU with <= 4 cores, where a worker process
    competes with the model's own threads (mining measured slower with one than in-process);
    else half the cores, at most 8."""
    if workers >= 0:
        return workers
    cores = os.cpu_count() or 1
    if device.type == "cpu" and cores <= 4:
        return 0
    return min(8, max(1, cores // 2))


def _reg_layers(cfg: BuildConfig, model: LoadedModel, first: str) -> dict[str, str]:
    """The regularization layer of each unit layer other than ``first`` (a basis's features
    take their layer's) where the rule finds one (a layer with none fails the checks only if
    the build accentuates it)."""
    out = {}
    for layer in cfg.unit_layers:
        if layer != first:
            try:
                out[layer] = reg_layer_for(model, split_name(layer)[0], cfg.accent.reg_layer)
            except AtlasError:
                continue
    return out


def resolve(cfg: BuildConfig, model: LoadedModel, target: str | None = None) -> Resolved:
    """What this command runs with. ``target``: the unit layer accentuated (default the first
    planned one), whose regularization layer the model's rule picks when ``accent.reg_layer`` is
    empty; the other unit layers get theirs in ``reg_layers``.

    Pairs per accentuation batch: :data:`CPU_ACCENT_PAIRS` on a CPU; 64 on a GPU, which needs
    large batches to be busy. A batch holds whole units, so it stays one resume point."""
    dev = model.device
    gpu = dev.type == "cuda"
    batch = cfg.accent.batch_size
    first = target or cfg.planned_layer
    reg = reg_layer_for(model, split_name(first)[0], cfg.accent.reg_layer)
    others = {k: v for k, v in _reg_layers(cfg, model, first).items() if v != reg}
    return Resolved(
        device=str(dev),
        reg_layer=reg,
        accent_batch=batch or (64 if gpu else CPU_ACCENT_PAIRS),
        vis_batch=batch or (CPU_VIS_UNITS if dev.type == "cpu" else 64),
        workers=decode_workers(cfg.mine.workers, dev),
        view_px=view_side(model, cfg.accent.view_scale),
        reg_layers=others,
        class_reg_layer=class_reg_layer(model, cfg),
    )


def class_reg_layer(model: LoadedModel, cfg: BuildConfig) -> str:
    """The regularization layer of accentuations toward a logit (class pages, failures, ``atlas
    explain``): ``accent.reg_layer``, or the model's rule for the logits as target; "" for a
    model whose classes mean nothing (no names, random weights)."""
    if not model.labels_classes:
        return ""
    return reg_layer_for(model, LOGITS, cfg.accent.reg_layer)


def check_outputs(model: LoadedModel, names: list[str]) -> dict[str, int]:
    """The units of each layer of ``names``, in the order the forward runs them; a layer that
    gives no tensor (a container such as a ModuleList, a layer the forward never calls) fails
    here, not where its first batch is read."""
    units = unit_counts(model, names)
    for name in names:
        if name not in units:
            raise AtlasError(f"layer {name!r} of {model.name} gives no tensor output")
    return units


def check_layers(cfg: BuildConfig, model: LoadedModel, resolved: Resolved) -> None:
    """Every mined layer gives a tensor, the basis fits its layer, ``units`` fits the unit
    layers it plans, and each planned layer's regularization layer runs before it."""
    regs = {resolved.reg_for(layer) for layer in cfg.unit_layers}
    names = [*cfg.mine.layers, *(split_name(layer)[0] for layer in cfg.unit_layers), *sorted(regs)]
    units = check_outputs(model, list(dict.fromkeys(names)))
    counts = {layer: units[layer] for layer in cfg.mine.layers}
    if cfg.basis.active:
        counts = {cfg.basis_layer: feature_count(cfg, model), **counts}
    plan = parse_plan(cfg.units, counts, cfg.plain_layers)
    order = list(units)
    for target in plan:
        reg, base = resolved.reg_for(target), split_name(target)[0]
        if reg not in order or order.index(reg) >= order.index(base):
            raise AtlasError(f"accent.reg_layer {reg!r} must run before the target layer "
                             f"{target!r}; leave it empty for the model's rule "
                             f"({reg_layer_for(model, base, '')!r})")


def preflight(cfg: BuildConfig, site: bool = False, model: LoadedModel | None = None,
              source: ImageSource | None = None) -> tuple[LoadedModel, Resolved]:
    """Every early check of a run command (``site``: it renders too); the loaded model and the
    resolved settings the command then runs with. ``model`` and ``source``: given in Python
    (:mod:`atlas.api`) instead of named by the config."""
    check_writable(cfg.run_dir, "run directory")
    if site:
        check_writable(cfg.site.out, "site.out")
    if source is None:
        source_of(cfg)  # an unknown source or an empty folder fails here
    model = model or model_of(cfg)
    for name in cfg.mine.layers:  # before resolving: the rule names the target's neighbours
        if name in model.layers:
            continue
        try:
            model.full_name(name)  # a unique suffix of a module path, or ambiguous
        except AtlasError as e:
            if "ambiguous" in str(e) or model.hidden:
                raise
            err = unknown(f"mine.layers entry of {model.name}", name, model.layers)
            raise (AtlasError(f"{err}; {model.hidden}") if model.hidden else err) from None
    if cfg.basis.layer and cfg.basis.layer not in model.layers:
        raise unknown(f"basis.layer of {model.name}", cfg.basis.layer, model.layers)
    resolved = resolve(cfg, model)
    check_layers(cfg, model, resolved)
    check_label_map(cfg, model)
    return model, resolved


def check_label_map(cfg: BuildConfig, model: LoadedModel) -> None:
    """``classes.label_map`` reads and names classes of the model (before long work)."""
    if not cfg.classes.label_map:
        return
    if not model.class_names:
        raise AtlasError(f"classes.label_map is set but {model.name} has no class names")
    read_label_map(cfg.classes.label_map, model.class_names)
