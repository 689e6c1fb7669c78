"""The ``basis`` stage: the features of a layer, before mining reads them.

- ``sae``: learns a TopK dictionary over a sample of the layer's position vectors
  (:mod:`~atlas.pipeline.basis.sample`, :mod:`~atlas.pipeline.basis.learn`) and measures it
  (:mod:`~atlas.pipeline.basis.metrics`; the manifest records the figures);
- ``file`` / ``directions``: reads the user's file, checks it fits the layer, copies it in.

Either way the basis lands in ``basis/NAME.json`` + ``.safetensors`` inside the run (the run is
self-contained: a site or a resumed build reads the basis it was mined with), and the table
``basis.parquet`` says what each feature is made of: the channels its decoder row weighs most
and its nearest features. A build that reads channels only writes an empty table. Mining reads
this stage, so a changed basis re-mines.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, replace

import pandas as pd
import torch

from atlas.config.tree import BuildConfig
from atlas.errors import AtlasError
from atlas.models import basis as bases
from atlas.models.basis import Basis
from atlas.models.probe import unit_counts
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.basis.learn import Recipe, learn
from atlas.pipeline.basis.metrics import firing, metrics
from atlas.pipeline.basis.sample import gather
from atlas.pipeline.stage import Context, Stage

TOP = 8  # channels and nearest features listed per feature


def from_file(cfg: BuildConfig, model: LoadedModel) -> Basis:
    """The configured basis file, checked against the layer it is read at (one line if it does
    not fit): before any long work, so the preflight calls it too."""
    b = cfg.basis
    if not b.file:
        raise AtlasError(f"basis.file must name the basis file for basis.kind {b.kind!r}")
    layer = b.layer or cfg.mine.layers[0]
    basis = bases.load(b.file, name=b.name or b.kind, layer=layer)
    if b.kind == "directions" and basis.kind != "directions":
        raise AtlasError(f"basis.file {b.file!r} holds a dictionary, not directions; use "
                         "basis.kind = \"file\"")
    channels = unit_counts(model, [layer]).get(layer)
    if channels != basis.width:
        raise AtlasError(f"basis.file {b.file!r} has {basis.width} input channels, but layer "
                         f"{layer!r} of {model.name} has {channels}; a basis must be made for "
                         "this layer")
    return basis


def feature_count(cfg: BuildConfig, model: LoadedModel) -> int:
    """How many features the configured basis has (reading and checking its file, if any)."""
    b = cfg.basis
    if b.kind == "sae":
        layer = b.layer or cfg.mine.layers[0]
        return b.features or 8 * unit_counts(model, [layer])[layer]
    return from_file(cfg, model).size


def describe_features(basis: Basis) -> pd.DataFrame:
    """Rows of ``basis.parquet``: per feature its strongest channels and nearest features."""
    dec = basis.decoder.float()
    unit = dec / dec.norm(dim=1, keepdim=True).clamp_min(1e-12)
    top_w, top_c = dec.abs().topk(min(TOP, dec.shape[1]), dim=1)
    sim = unit @ unit.T
    sim.fill_diagonal_(-2.0)
    near_s, near_i = sim.topk(min(TOP, max(dec.shape[0] - 1, 0)), dim=1)
    signed = dec.gather(1, top_c)
    return pd.DataFrame({
        "layer": basis.unit_layer, "unit": range(basis.size),
        "name": list(basis.names) if basis.names else "",
        "channels": [r.tolist() for r in top_c], "weights": [r.tolist() for r in signed],
        "nearest": [r.tolist() for r in near_i], "similarity": [r.tolist() for r in near_s],
    }) if basis.size else schema.empty("basis")


def by_frequency(basis: Basis, x: torch.Tensor) -> Basis:
    """The learned features renumbered by how often they fire on the training positions, most
    often first (ties: the order they were learned in): feature numbers, and a ``units``
    range such as ``0:64``, then mean something rather than an initialization's draw."""
    rate = firing(basis, x)
    order = torch.tensor(sorted(range(basis.size), key=lambda f: (-float(rate[f]), f)))
    moved = {k: getattr(basis, k)[order] for k in ("encoder", "encoder_bias", "decoder")}
    if basis.threshold is not None:
        moved["threshold"] = basis.threshold[order]
    return replace(basis, **moved)


def _settings(ctx: Context) -> list:
    cfg = ctx.cfg.basis
    if not cfg.active:
        return ["channels"]
    model, source, _ = ctx.inputs()
    made = [asdict(cfg), ctx.cfg.basis_layer, model.fingerprint(), model.input_size]
    if cfg.kind == "sae":
        return [*made, source.fingerprint()]
    return [*made, bases.fingerprint(cfg.file)]


def _recipe(ctx: Context, channels: int) -> Recipe:
    b = ctx.cfg.basis
    return Recipe(features=b.features or 8 * channels, k=b.k, steps=b.steps,
                  batch_size=b.batch_size, lr=b.lr, aux_k=b.aux_k, seed=b.seed,
                  batch_topk=b.batch_topk, checkpoint_every=max(1, min(250, b.steps // 8)))


def _compute(ctx: Context, key: str) -> dict:
    run, cfg = ctx.run, ctx.cfg
    folder = run.basis_dir
    shutil.rmtree(folder, ignore_errors=True)  # another basis's files must not be read
    if not cfg.basis.active:
        run.write_table("basis", schema.empty("basis"))
        return {"kind": "channels"}
    model, source, resolved = ctx.inputs()
    b, layer = cfg.basis, cfg.basis.layer or cfg.mine.layers[0]
    info: dict = {"kind": b.kind, "unit_layer": cfg.basis_layer}
    if b.kind == "sae":
        ck = run.root / "checkpoints"
        sample = gather(model, source, layer, b.sample, b.holdout, cfg.mine.batch_size,
                        resolved.workers, ck / f"basis-{key}-sample.pt", ctx.bar, b.views)
        recipe = _recipe(ctx, sample.train.shape[1])
        learned = learn(sample.train, recipe, ck / f"basis-{key}-train.pt", ctx.bar,
                        name=b.name or b.kind, layer=layer, calibrate=sample.as_mined)
        basis = by_frequency(learned, sample.train)
        figures = metrics(model, basis, sample.train, sample.held, source,
                          sorted(sample.train_images + sample.held_images))
        basis = replace(basis, meta={
            "model": model.name, "data": source.fingerprint(), "learned": asdict(recipe),
            "positions": {"train": len(sample.train), "held_out": len(sample.held)},
            "images": {"train": len(sample.train_images), "held_out": len(sample.held_images)},
            "metrics": figures})
        info.update(figures, features=basis.size, k=basis.k)
    else:
        basis = from_file(cfg, model)
        info.update(features=basis.size, source=b.file)
    bases.save(basis, folder)
    run.write_table("basis", describe_features(basis))
    return info


BASIS = Stage("basis", inputs=(), outputs=("basis",), settings=_settings, compute=_compute,
              version="1", checkpoints=("basis-*",))
