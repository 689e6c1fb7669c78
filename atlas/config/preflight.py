"""Checks that run before any long work, so a mistake costs seconds, not a finished mining.

Each failure is one :class:`AtlasError` line. The layer checks load the model (the pipeline
caches it, so the build reuses it) and run one forward pass on a random image up to the deepest
layer named: that gives every layer's unit count, as mining counts them, and the order the
layers run in.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from atlas.config.reglayer import reg_layer_for
from atlas.config.tree import BuildConfig
from atlas.config.units import parse_units
from atlas.errors import AtlasError, unknown
from atlas.models.zoo import LoadedModel


def check_writable(folder: str | Path, what: str) -> None:
    """Write and delete a probe file in ``folder``; folders made for it are removed again,
    so a failed command leaves nothing behind."""
    p = Path(folder)
    made = [d for d in (p, *p.parents) if not d.exists()]
    try:
        p.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".atlas-probe-", dir=p)
        try:
            os.write(fd, b"atlas")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise AtlasError(f"{what} {str(p)!r} is not writable: {e.strerror or e}") from None
    finally:
        for d in made:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()


def layer_facts(model: LoadedModel, names: list[str]) -> dict[str, int]:
    """{layer: unit count} in the order the forward pass runs them (one random image)."""
    import torch

    from atlas.models.hooks import LayerHooks, unit_count

    layers = {n: model.layer(n) for n in dict.fromkeys(names)}
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.no_grad(), LayerHooks(layers, strict=False) as hooks:
        hooks.run(model.module, model.normalize(x))
    return {n: unit_count(tuple(t.shape[1:])) for n, t in hooks.outputs.items()}


def check_layers(cfg: BuildConfig, model: LoadedModel) -> None:
    """Mined layers exist, ``units`` fits the first one (the layer accentuated), and the
    regularization layer exists and runs before it. Fills in ``accent.reg_layer`` when it is
    ``""`` (the model's rule), so the manifest and stage hashes hold the layer used."""
    for name in cfg.mine.layers:
        if name not in model.layers:
            raise unknown(f"mine.layers entry of {model.name}", name, model.layers)
    target = cfg.mine.layers[0]
    reg = reg_layer_for(model, target, cfg.accent.reg_layer)
    facts = layer_facts(model, [*cfg.mine.layers, reg])
    if target not in facts:
        raise AtlasError(f"layer {target!r} of {model.name} gives no tensor output")
    parse_units(cfg.units, facts[target], target)
    order = list(facts)
    if reg not in order or order.index(reg) >= order.index(target):
        raise AtlasError(f"accent.reg_layer {reg!r} must run before the target layer "
                         f"{target!r}; leave it empty for the model's rule "
                         f"({reg_layer_for(model, target, '')!r})")
    cfg.accent.reg_layer = reg


def preflight(cfg: BuildConfig, site: bool = False) -> LoadedModel:
    """Every early check of a run command (``site``: it renders too); the loaded model."""
    from atlas.pipeline.inputs import model_of, source_of

    check_writable(cfg.out, "run directory")
    if site:
        check_writable(cfg.site.out, "site.out")
    source_of(cfg)  # an unknown source or an empty folder fails here
    model = model_of(cfg)
    check_layers(cfg, model)
    return model
