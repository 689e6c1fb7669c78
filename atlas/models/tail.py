"""The rest of a network after a layer: logits from the layer's output maps.

A dictionary's downstream-aware fine-tune (:mod:`atlas.pipeline.basis.finetune`) runs the part of
the model after the layer many times on stored activation maps. For the bundled Lite0 the tail is
its later blocks and head, run directly (the blocks up to the layer cost twice as much as those
after it at ``_blocks.10``). Any other network runs whole on a blank input of its size with the
layer's output replaced by the maps: exact when everything after the layer depends on the input
through that layer alone (a chain of blocks: ResNet stages, ViT blocks, MobileNet blocks), which
is what splicing a reconstruction at one layer assumes anyway.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from atlas.models.hooks import LayerHooks
from atlas.models.lite0 import LiteNet, _conv
from atlas.models.outputs import first_tensor
from atlas.models.zoo import LoadedModel

Tail = Callable[[torch.Tensor], torch.Tensor]


def tail(model: LoadedModel, layer: str) -> Tail:
    """``maps`` (B, C, H, W) of ``layer``'s output -> the model's logits (B, classes)."""
    name = model.full_name(layer)
    net = model.module
    head, _, index = name.rpartition(".")
    if isinstance(net, LiteNet) and head == "_blocks" and index.isdigit():
        blocks = list(net._blocks)[int(index) + 1:]

        def lite(maps: torch.Tensor) -> torch.Tensor:
            x = maps
            for block in blocks:
                x = block(x)
            x = F.relu6(_conv(net._conv_head, x))
            return net._fc(x.mean(dim=(2, 3)))

        return lite
    module = model.layer(name)

    def whole(maps: torch.Tensor) -> torch.Tensor:
        blank = torch.zeros(len(maps), 3, model.input_size, model.input_size,
                            device=maps.device)
        with LayerHooks({}, stop=False, swap=(module, lambda _a: maps)) as hooks:
            return first_tensor(hooks.run(net, model.normalize(blank)))

    return whole
