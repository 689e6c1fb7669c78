"""The default regularization layer (``accent.reg_layer = ""``): one rule for every model.

Accentuation keeps the image close to the seed at a layer below the target, and the loop cuts
the graph there, so that layer must be a *stage*: a module whose output alone feeds the rest of
the network up to the target. The rule: list the model's stages in module order, opening every
``nn.Sequential`` / ``nn.ModuleList`` and every ancestor of the target into its children, keep
those that hold weights and come before the target, and take the one at half that depth
(index ``n // 2``). On EfficientNet-Lite0 with target ``_blocks.10`` that is ``_blocks.4``
(the layer the accentuation settings were measured with); on ResNet-18 ``layer3`` it is
``layer1.1``; on ViT-B/16's ``encoder.layers.encoder_layer_8`` it is ``encoder_layer_3``.
"""

from __future__ import annotations

from torch import nn

from atlas.errors import AtlasError, unknown
from atlas.models.hooks import LOGITS
from atlas.models.zoo import LoadedModel

FRACTION = 0.5


def _stages(module: nn.Module, prefix: str, target: str) -> list[tuple[str, nn.Module]]:
    """The stages inside ``module`` in module order, containers and ancestors opened."""
    out = []
    for name, child in module.named_children():
        full = f"{prefix}{name}"
        is_ancestor = target != LOGITS and target.startswith(full + ".")
        if full == target:
            out.append((full, child))
            break
        if is_ancestor or isinstance(child, (nn.Sequential, nn.ModuleList)):
            out.extend(_stages(child, full + ".", target))
            if is_ancestor:
                break
        else:
            out.append((full, child))
    return out


def auto_reg_layer(model: LoadedModel, target: str) -> str:
    """The stage at half the depth before ``target`` (see the module docstring)."""
    if target != LOGITS:
        target = model.full_name(target)  # an unknown target names the closest layers
    stages = _stages(model.module, "", target)
    if stages and stages[-1][0] == target:
        stages = stages[:-1]
    weighted = [name for name, m in stages if next(m.parameters(), None) is not None]
    if not weighted:
        raise AtlasError(f"no layer with weights runs before {target!r} in {model.name}; "
                         "target a deeper layer or set accent.reg_layer")
    return weighted[int(len(weighted) * FRACTION)]


def reg_layer_for(model: LoadedModel, target: str, reg_layer: str) -> str:
    """``reg_layer`` if given (it must exist in the model), else the rule's choice."""
    if not reg_layer:
        return auto_reg_layer(model, target)
    try:
        return model.full_name(reg_layer)
    except AtlasError:
        try:
            rule = f"; leave it empty for the model's rule ({auto_reg_layer(model, target)!r})"
        except AtlasError:
            rule = ""
        raise AtlasError(f"{unknown(f'accent.reg_layer of {model.name}', reg_layer, model.layers)}"
                         f"{rule}") from None
