"""``atlas concept``: a named direction in a layer, learned from a concept's images and others.

A linear probe (logistic regression) separates the spatially averaged channel vectors of the
concept's images from those of the rest, as TCAV's concept activation vectors do; its weight
vector, normalized, is the direction. Whole images are held out (a quarter, stratified, from a
fixed seed) and the probe's accuracy on them is reported: a direction the probe cannot find on
new images is not a concept of the layer. Directions are written to a file atlas reads as a
basis (``[basis] kind = "directions"``): a new name is appended, an existing one replaced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from atlas.data.base import ImageSource
from atlas.data.loader import make_loader
from atlas.errors import AtlasError
from atlas.io.files import atomic_write_bytes, atomic_write_json
from atlas.models.hooks import Probe
from atlas.models.maps import pooled
from atlas.models.zoo import LoadedModel

HOLDOUT = 0.25


@dataclass(frozen=True)
class Concept:
    name: str
    layer: str
    direction: np.ndarray  # (C,), unit norm
    accuracy: float  # on the held-out images
    held_out: int
    positives: int
    negatives: int


@torch.inference_mode()
def pooled_vectors(model: LoadedModel, source: ImageSource, layer: str,
                   batch: int = 32) -> np.ndarray:
    """(N, C): each decodable image's channel vector at ``layer``, averaged over positions."""
    probe, out = Probe(model, [layer]), []
    for b in make_loader(source, model.input_size, batch, 0):
        if len(b.positions):
            out.append(pooled(probe(b.images.to(model.device))[layer]).numpy())
    return np.concatenate(out) if out else np.zeros((0, 0))


def learn_concept(model: LoadedModel, positive: ImageSource, negative: ImageSource, layer: str,
                  name: str, seed: int = 0) -> Concept:
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    pos, neg = pooled_vectors(model, positive, layer), pooled_vectors(model, negative, layer)
    if min(len(pos), len(neg)) < 4:
        raise AtlasError(f"a concept needs at least 4 images on each side; got {len(pos)} "
                         f"positive and {len(neg)} negative")
    x = np.concatenate([pos, neg]).astype(np.float64)
    y = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    xt, xh, yt, yh = train_test_split(x, y, test_size=HOLDOUT, stratify=y, random_state=seed)
    mu, sd = xt.mean(0), xt.std(0) + 1e-8  # standardized for the solver, mapped back below
    clf = LogisticRegression(max_iter=5000, class_weight="balanced").fit((xt - mu) / sd, yt)
    accuracy = float(clf.score((xh - mu) / sd, yh))
    w = clf.coef_[0] / sd  # the same decision function on raw activations
    return Concept(name, layer, w / np.linalg.norm(w), accuracy, len(yh), len(pos), len(neg))


def save_concept(concept: Concept, out: str | Path, model: str) -> Path:
    """Add (or replace) ``concept`` in the directions file ``out`` (.safetensors + .json)."""
    from safetensors.torch import load_file
    from safetensors.torch import save as st_save

    out = Path(out).with_suffix(".safetensors")
    side = out.with_suffix(".json")
    meta = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
    names = list(meta.get("names", []))
    rows = list(load_file(str(out))["directions"]) if out.is_file() else []
    if rows and (meta.get("layer") != concept.layer or len(rows[0]) != len(concept.direction)):
        raise AtlasError(f"{str(out)!r} holds directions of layer {meta.get('layer')!r}; write "
                         f"directions of {concept.layer!r} to another file")
    vec = torch.tensor(concept.direction, dtype=torch.float32)
    if concept.name in names:
        rows[names.index(concept.name)] = vec
    else:
        names.append(concept.name)
        rows.append(vec)
    report = dict(meta.get("concepts", {}))
    report[concept.name] = {"accuracy": round(concept.accuracy, 4),
                            "held_out": concept.held_out, "positives": concept.positives,
                            "negatives": concept.negatives}
    atomic_write_bytes(out, st_save({"directions": torch.stack(rows).contiguous()}))
    atomic_write_json(side, {"names": names, "layer": concept.layer, "model": model,
                             "concepts": report})
    return out
