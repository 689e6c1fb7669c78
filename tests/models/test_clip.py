"""The CLIP family's vision towers (issue 18): open_clip and transformers models built from
configs with random weights, offline; their layers, regularization layer and token maps; the
lines for a missing extra and for default weights without network."""

from __future__ import annotations

import json
import re
import sys
import time

import pytest
import torch

from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.maps import as_grid
from atlas.models.probe import unit_counts
from atlas.models.reglayer import auto_reg_layer
from atlas.models.zoo import load_model

TINY_CLIP = {"embed_dim": 16,
             "vision_cfg": {"image_size": 32, "layers": 4, "width": 32, "patch_size": 8,
                            "head_width": 16},
             "text_cfg": {"context_length": 8, "vocab_size": 64, "width": 16, "heads": 2,
                          "layers": 1}}


@pytest.fixture(scope="module")
def open_clip_tiny(tmp_path_factory):
    import open_clip

    path = tmp_path_factory.mktemp("oc") / "atlas-tiny-clip.json"
    path.write_text(json.dumps(TINY_CLIP))
    open_clip.add_model_config(path)
    return "open_clip:atlas-tiny-clip"


@pytest.fixture(scope="module")
def hf_tiny(tmp_path_factory):
    """A CLIP vision tower and a ViT classifier saved as save_pretrained writes them."""
    import transformers as tf

    root = tmp_path_factory.mktemp("hf")
    torch.manual_seed(5)  # not the seed of atlas's random init: "default" differs from "none"
    clip = tf.CLIPVisionModelWithProjection(tf.CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=4, num_attention_heads=2,
        image_size=32, patch_size=8, projection_dim=16))
    clip.save_pretrained(root / "clip")
    tf.CLIPImageProcessor(size={"shortest_edge": 32},
                          crop_size={"height": 32, "width": 32}).save_pretrained(root / "clip")
    vit = tf.ViTForImageClassification(tf.ViTConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        image_size=32, patch_size=8, num_labels=3,
        id2label={0: "tabby", 1: "bee", 2: "gibbon"}, label2id={"tabby": 0, "bee": 1,
                                                                  "gibbon": 2}))
    vit.save_pretrained(root / "vit")
    return root


def _tokens_on_the_grid(model, layer: str, grid: int) -> None:
    acts = Probe(model, [layer])(torch.rand(2, 3, model.input_size, model.input_size))[layer]
    assert acts.dim() == 3 and acts.shape[1] == grid * grid + 1  # class token + patches
    assert as_grid(acts).shape[-2:] == (grid, grid)  # heatmaps over the photo, as for ViT


def test_open_clip_vision_tower_random_weights(open_clip_tiny):
    model = load_model(open_clip_tiny, "none")
    assert model.input_size == 32 and model.class_names is None
    assert model.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073))
    layer = "transformer.resblocks.3"
    assert unit_counts(model, [layer]) == {layer: 32}
    assert auto_reg_layer(model, layer) == "transformer.resblocks.0"  # the rule: half way
    assert model.full_name("resblocks.3") == layer  # a unique suffix names it too
    _tokens_on_the_grid(model, layer, 4)
    assert Probe(model, ["logits"])(torch.rand(1, 3, 32, 32))["logits"].shape == (1, 16)
    again = load_model(open_clip_tiny, "none")  # seeded: the same network in every process
    assert again.fingerprint() == model.fingerprint()
    with pytest.raises(AtlasError, match="unknown open_clip model 'atlas-tiny-clp'; closest"):
        load_model("open_clip:atlas-tiny-clp", "none")


def test_open_clip_weights_file_of_the_whole_model(open_clip_tiny, tmp_path):
    import open_clip

    torch.manual_seed(3)
    whole = open_clip.create_model("atlas-tiny-clip", pretrained=None)
    torch.save(whole.state_dict(), tmp_path / "clip.pt")
    model = load_model(open_clip_tiny, str(tmp_path / "clip.pt"))
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        want = whole.visual(model.normalize(x))
    torch.testing.assert_close(Probe(model, ["logits"])(x)["logits"], want)


def test_hf_clip_vision_tower_from_a_folder(hf_tiny):
    model = load_model(f"hf:{hf_tiny / 'clip'}", "none")
    assert type(model.module).__name__ == "CLIPVisionModelWithProjection"
    assert model.input_size == 32 and model.std[0] == pytest.approx(0.26862954)
    layer = "vision_model.encoder.layers.3"
    assert auto_reg_layer(model, layer) == "vision_model.encoder.layers.0"
    _tokens_on_the_grid(model, layer, 4)
    assert Probe(model, ["logits"])(torch.rand(1, 3, 32, 32))["logits"].shape == (1, 16)
    trained = load_model(f"hf:{hf_tiny / 'clip'}", "default")  # the folder's weights
    assert trained.fingerprint() != model.fingerprint()


def test_hf_classifier_has_its_class_names(hf_tiny):
    model = load_model(f"hf:{hf_tiny / 'vit'}", "default")
    assert model.class_names == ["tabby", "bee", "gibbon"]
    assert Probe(model, ["logits"])(torch.rand(2, 3, 32, 32))["logits"].shape == (2, 3)
    block = next(n for n in model.layers if re.search(r"\.layers?\.1$", n))  # by version
    assert model.full_name(block.split(".", 1)[1]) == block


def test_the_accentuation_cut_keeps_a_blocks_tuple_output():
    """A block returning (hidden, attention) still returns a tuple when its output is swapped
    for the loop's detached stand-in; the next block reads hidden, not a batch row."""
    from atlas.models.hooks import LayerHooks

    class Block(torch.nn.Module):
        def forward(self, x):
            return (x * 2, "attention")

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = Block(), Block()

        def forward(self, x):
            return self.b(self.a(x)[0])[0]

    net, x = Net(), torch.ones(3, 2)
    with LayerHooks({}, stop=False, swap=(net.a, lambda t: t + 1)) as hooks:
        out = hooks.run(net, x)
    assert torch.equal(out, torch.full((3, 2), 6.0))


def test_a_missing_extra_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if not installed
    with pytest.raises(AtlasError, match=r"needs the Python package 'open_clip': pip install "
                                         r"'atlas-accent\[clip\]'"):
        load_model("open_clip:ViT-B-32", "none")


def test_default_weights_without_network_fail_fast_with_the_offline_hint(monkeypatch, tmp_path):
    """No network: the hub's host does not answer (a closed local port stands in for it), so
    the fetch runs offline against an empty cache and fails in seconds, naming HF_HUB_OFFLINE,
    instead of retrying for most of a minute."""
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    t0 = time.perf_counter()
    with pytest.raises(AtlasError) as e:
        load_model("timm:resnet18", "default")
    took = time.perf_counter() - t0
    text = str(e.value)
    assert took < 10 and "\n" not in text
    assert "127.0.0.1 is not reachable" in text and "HF_HUB_OFFLINE=1" in text
    assert "--weights none" in text
    assert not constants.HF_HUB_OFFLINE  # offline mode was for that fetch only
