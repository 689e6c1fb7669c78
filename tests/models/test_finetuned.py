"""Fine-tuned models (issue 18): another head's size, class names, training checkpoints and
pickled whole models, each loaded or refused in one clean line."""

from __future__ import annotations

import pytest
import torch
import torchvision

from atlas.config.tree import build_config
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.zoo import load_model
from atlas.pipeline.resolve import model_of

NAMES = [f"class {i}" for i in range(10)]


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """A resnet18 with a 10-class head, its state_dict saved plain and as trainers wrap it."""
    root = tmp_path_factory.mktemp("tuned")
    torch.manual_seed(1)
    net = torchvision.models.resnet18(weights=None, num_classes=10).eval()
    state = net.state_dict()
    torch.save(state, root / "plain.pth")
    torch.save({"state_dict": state, "epoch": 3}, root / "lightning.pth")
    torch.save({"model": {f"module.{k}": v for k, v in state.items()}, "optimizer": {}},
               root / "ddp.pth")
    torch.save(net, root / "whole.pth")
    (root / "classes.txt").write_text("\n".join(NAMES) + "\n")
    return root, net


def _same(model, net) -> None:
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        want = net(model.normalize(x))
    torch.testing.assert_close(Probe(model, ["logits"])(x)["logits"], want)


def test_another_head_says_which_setting_fits(tuned):
    root, _ = tuned
    with pytest.raises(AtlasError, match=r"fc.weight \(10, 512\) vs \(1000, 512\).*its head has "
                                         r"10 classes: set model.num_classes = 10"):
        load_model("resnet18", str(root / "plain.pth"))


def test_num_classes_and_class_names_from_the_config(tuned):
    root, net = tuned
    cfg = build_config(model__name="resnet18", model__weights=str(root / "plain.pth"),
                       model__num_classes=10, model__class_names=str(root / "classes.txt"),
                       device="cpu")
    model = model_of(cfg)
    assert model.class_names == NAMES and model.labels_classes
    _same(model, net)
    listed = load_model("resnet18", str(root / "plain.pth"), num_classes=10,
                        class_names=["a"] * 10)
    assert listed.class_names == ["a"] * 10
    with pytest.raises(AtlasError, match="class_names has 3 names but resnet18 has 10 outputs"):
        load_model("resnet18", str(root / "plain.pth"), num_classes=10,
                   class_names=["a", "b", "c"])
    with pytest.raises(AtlasError, match="default weights of resnet18 have 1000 classes"):
        load_model("resnet18", "default", num_classes=10)
    unnamed = load_model("resnet18", "none", num_classes=10)
    assert unnamed.class_names is None  # ImageNet's names would be wrong for 10 outputs


@pytest.mark.parametrize("file, how", [("lightning.pth", "['state_dict']"),
                                       ("ddp.pth", "['model'], prefix 'module.' stripped")])
def test_training_checkpoints_are_unwrapped_with_a_notice(tuned, file, how, capsys):
    root, net = tuned
    model = load_model("resnet18", str(root / file), num_classes=10)
    _same(model, net)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"took the state_dict at {how}" in err


def test_a_pickled_whole_model_is_refused_in_one_clean_line(tuned):
    root, _ = tuned
    with pytest.raises(AtlasError) as e:
        load_model("resnet18", str(root / "whole.pth"), num_classes=10)
    text = str(e.value)
    assert "pickled whole model (torchvision.models.resnet.ResNet)" in text
    assert "weights_only" in text and "atlas.Atlas" in text
    assert "\n" not in text and "\x1b" not in text  # no raw ANSI codes from torch's message
