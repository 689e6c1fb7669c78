"""The shortcut-removed pathway similarity (see :mod:`atlas.evaluation.pathway`).

In EfficientNet-Lite0, ``_blocks.9`` and ``_blocks.10`` add their input back unchanged, so
channel u of ``_blocks.8`` reaches unit u of ``_blocks.10`` with no learned weight in between.
That path dominates the attribution vectors at ``_blocks.8`` of every image that drives the
unit, noise-seeded visualizations included, and makes unrelated images look as if they shared
a pathway. This module finds the attribution layers on the target's residual stream
(:data:`atlas.evaluation.pathway.SHORTCUT_RULE`), repeats the correlations without the target's
own channel there, and says how much that channel weighed. The plain numbers are kept: the
variant is reported beside them, never instead.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from atlas.accent.objectives import as_map
from atlas.evaluation.pathway import (
    SHORTCUT_RULE,
    VECTOR_KINDS,
    bootstrap_ci,
    on_residual_stream,
    own_channel,
    summarize,
    unit_summary,
)
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.results import Correlations, KindShares, KindTops, OwnChannel, Shortcut

Vectors = dict[str, dict[str, np.ndarray]]  # kind -> attribution layer -> (rows, C)


@torch.no_grad()
def map_shapes(model: LoadedModel, names: Sequence[str]) -> dict[str, tuple[int, ...]]:
    """(C, H, W) of each layer's output at the model's input size (one tiny forward)."""
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    acts = Probe(model, list(names))(x)
    return {n: tuple(as_map(acts[n]).shape[1:]) for n in names}


def stream_layers(model: LoadedModel, layer: str, attr_layers: Sequence[str]) -> list[str]:
    """The attribution layers on ``layer``'s residual stream, by SHORTCUT_RULE."""
    shapes = map_shapes(model, [*attr_layers, layer])
    return [a for a in attr_layers if on_residual_stream(shapes[a], shapes[layer])]


def _dominance(units: Sequence[int], vectors: Sequence[Vectors], stream: Sequence[str],
               n_boot: int, seed: int) -> dict[str, OwnChannel]:
    """Per stream layer and image kind: the own channel's share of |attribution| (mean over
    units with a 95% CI) and how often it is the largest channel; chance is 1/C."""
    out: dict[str, OwnChannel] = {}
    for a in stream:
        per = [{k: own_channel(v[k][a], u) for k in VECTOR_KINDS}
               for u, v in zip(units, vectors, strict=True)]
        channels = int(vectors[0]["natural"][a].shape[1])
        share = {k: bootstrap_ci(np.array([p[k]["share"] for p in per]), n_boot, seed)
                 for k in VECTOR_KINDS}
        top = {k: float(np.mean([p[k]["top"] for p in per])) for k in VECTOR_KINDS}
        out[a] = OwnChannel(chance=1.0 / channels, channels=channels,
                            share=KindShares(**share), top=KindTops(**top))
    return out


def shortcut_result(units: Sequence[int], vectors: Sequence[Vectors],
                    attr_layers: Sequence[str], stream: Sequence[str], n_boot: int,
                    seed: int) -> tuple[Shortcut, list[dict[str, Correlations]] | None]:
    """The section ``shortcut`` of one target layer (without its claims, which the caller
    adds) and each unit's shortcut-removed correlations (None when no attribution layer is on
    the stream: the variant is the plain measure there, so no second table is made).

    ``pathway`` holds the stream layers and "all", the average over *every* attribution layer
    (stream layers without the own channel, the others as they are), laid out like the plain
    ``pathway``.
    """
    section = Shortcut(rule=SHORTCUT_RULE, layers=list(stream), pathway=None, own_channel={},
                       claims=None)
    if not stream:
        return section, None
    per_unit = [unit_summary(v, attr_layers, drop={a: int(u) for a in stream})
                for u, v in zip(units, vectors, strict=True)]
    section.pathway = summarize(per_unit, stream, n_boot, seed)
    section.own_channel = _dominance(units, vectors, stream, n_boot, seed)
    return section, per_unit
