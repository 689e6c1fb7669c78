"""One hook mechanism: readers stop after the deepest layer and never leave hooks behind."""

import pytest
import torch
from torch import nn

from atlas.accent.split import split_forward
from atlas.errors import AtlasError
from atlas.models.hooks import LayerHooks, Probe
from atlas.models.probe import describe_layers, unit_count
from atlas.models.zoo import LoadedModel


def _hook_count(module: nn.Module) -> int:
    return sum(len(m._forward_hooks) for m in module.modules())


def _chain() -> nn.Sequential:
    return nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def test_hooks_removed_after_normal_exit_and_stop():
    net = _chain()
    with LayerHooks({"1": net[1], "3": net[3]}) as hooks:
        assert _hook_count(net) == 2
        assert hooks.run(net, torch.rand(5, 4)) is None  # stopped after layer 3: no output
    assert _hook_count(net) == 0
    assert hooks.outputs["3"].shape == (5, 3)
    assert list(hooks.outputs) == ["1", "3"]


def test_hooks_removed_after_an_exception_in_the_forward():
    net = _chain()

    def boom(*_a: object) -> None:
        raise ValueError("boom")

    net[2].register_forward_hook(boom)
    with pytest.raises(ValueError, match="boom"), LayerHooks({"4": net[4]}) as hooks:
        hooks.run(net, torch.rand(1, 4))
    assert _hook_count(net) == 1  # only the test's own hook on net[2] is left


def test_hooks_removed_when_registration_fails_halfway():
    net = _chain()
    with pytest.raises(AttributeError), LayerHooks({"1": net[1], "bad": object()}):  # type: ignore[dict-item]
        pass
    assert _hook_count(net) == 0


def test_non_tensor_outputs_raise_unless_lenient():
    class Pair(nn.Module):
        def forward(self, x: torch.Tensor) -> dict:
            return {"a": x}

    net = nn.Sequential(nn.Linear(2, 2), Pair())
    with pytest.raises(TypeError, match="not a tensor"), LayerHooks({"1": net[1]}) as hooks:
        hooks.run(net, torch.rand(1, 2))
    with LayerHooks({"0": net[0], "1": net[1]}, stop=False, strict=False) as hooks:
        hooks.run(net, torch.rand(1, 2))
    assert list(hooks.outputs) == ["0"] and _hook_count(net) == 0


def test_probe_and_split_forward_leave_no_hooks(lite0, photos):
    x = photos[:1]
    with torch.no_grad():
        out = Probe(lite0, ["_blocks.4", "logits"])(x)
    a, leaf, acts = split_forward(lite0, x, "_blocks.2", ["_blocks.4"])
    assert out["logits"].shape == (1, 1000) and acts["_blocks.4"].shape == (1, 40, 28, 28)
    assert leaf.requires_grad and not leaf.grad_fn and a.shape[1] == leaf.shape[1]
    with pytest.raises(AtlasError, match="'_blocks.8' does not run before"):
        split_forward(lite0, x, "_blocks.8", ["_blocks.4"])  # split below the deepest layer
    assert _hook_count(lite0.module) == 0


def test_describe_layers_reports_the_units_mining_uses():
    """A ViT's blocks output (tokens, width): the units are the width, not the token count."""
    from torchvision.models.vision_transformer import VisionTransformer

    vit = VisionTransformer(image_size=32, patch_size=16, num_layers=1, num_heads=2,
                            hidden_dim=24, mlp_dim=48).eval()
    model = LoadedModel("tiny-vit", vit, 32, (0.5,) * 3, (0.5,) * 3, channels_last=False)
    rows = {name: (shape, units) for name, _kind, shape, units in describe_layers(model)}
    block = "encoder.layers.encoder_layer_0"
    assert rows[block] == ((5, 24), 24)  # 4 patches + class token, width 24
    assert rows["conv_proj"] == ((24, 2, 2), 24)
    acts = Probe(model, [block])(torch.rand(2, 3, 32, 32))[block]
    assert acts.shape == (2, 5, 24)  # mining's statistics run over the last dimension
    assert unit_count(()) == 0 and _hook_count(vit) == 0
