"""Models saved as programs (issue 18): torch.export files read at inner layers, TorchScript
files read at their output with one line about the layers they hide."""

from __future__ import annotations

import warnings

import pytest
import torch
import torchvision

from atlas.cli.main import main
from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.probe import describe_layers
from atlas.models.receptive import receptive_field
from atlas.models.zoo import load_model

SIDE = 64


@pytest.fixture(scope="module")
def r18():
    torch.manual_seed(0)
    return torchvision.models.resnet18(weights=None, num_classes=10).eval()


@pytest.fixture(scope="module")
def files(r18, tmp_path_factory):
    """The same resnet18 exported (dynamic and fixed batch), scripted and traced."""
    root = tmp_path_factory.mktemp("exported")
    x = torch.rand(2, 3, SIDE, SIDE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        dyn = torch.export.export(r18, (x,), dynamic_shapes=({0: torch.export.Dim("batch")},))
        torch.export.save(dyn, root / "dyn.pt2")
        torch.export.save(torch.export.export(r18, (x[:1],)), root / "fixed.pt2")
        torch.jit.save(torch.jit.script(r18), root / "scripted.pt")
        torch.jit.save(torch.jit.trace(r18, x), root / "traced.pt")
    return root


def _eager(r18, model, x):
    """What the original module computes at layer3 and at its output for images ``x``."""
    seen = {}
    handle = r18.layer3.register_forward_hook(lambda _m, _i, o: seen.setdefault("l3", o))
    try:
        with torch.no_grad():
            out = r18(model.normalize(x))
    finally:
        handle.remove()
    return seen["l3"], out


def test_exported_program_reads_inner_layers_like_the_module(r18, files):
    model = load_model(str(files / "dyn.pt2"))
    assert model.input_size == SIDE  # the side it was exported at
    names = [n for n, *_ in describe_layers(model)]
    assert {"layer3", "layer3.1.conv2", "fc"} <= set(names)
    x = torch.rand(3, 3, SIDE, SIDE)  # a batch the export never saw
    acts = Probe(model, ["layer3", "logits"])(x)
    l3, out = _eager(r18, model, x)
    torch.testing.assert_close(acts["layer3"], l3)
    torch.testing.assert_close(acts["logits"], out)
    xg = torch.rand(2, 3, SIDE, SIDE, requires_grad=True)  # accentuation needs the gradient
    Probe(model, ["layer3"])(xg)["layer3"].sum().backward()
    assert xg.grad is not None and xg.grad.abs().sum() > 0
    field = receptive_field(model, "layer2")  # probed as it is: no float64 copy of a program
    assert 1 < field.effective <= field.theoretical <= SIDE


def test_exported_fixed_batch_fails_in_one_line(files):
    with pytest.raises(AtlasError, match=r"fixed batch of 1; .*dynamic_shapes") as e:
        load_model(str(files / "fixed.pt2"))
    assert "\n" not in str(e.value)
    with pytest.raises(AtlasError, match="takes 64x64 images only"):
        load_model(str(files / "dyn.pt2"), input_size=224)


@pytest.mark.parametrize("kind", ["scripted", "traced"])
def test_torchscript_reads_its_output_and_says_it_hides_layers(r18, files, kind, capsys):
    model = load_model(str(files / f"{kind}.pt"), input_size=SIDE)
    assert describe_layers(model) == []  # nothing listed that cannot be hooked
    x = torch.rand(2, 3, SIDE, SIDE)
    torch.testing.assert_close(Probe(model, ["logits"])(x)["logits"], _eager(r18, model, x)[1])
    with pytest.raises(AtlasError, match=r"layer 'layer3' .* cannot be read: TorchScript hides "
                                         r".*torch\.export\.save \(a \.pt2 file\)") as e:
        Probe(model, ["layer3"])
    assert "\n" not in str(e.value)
    assert main(["layers", str(files / f"{kind}.pt")]) == 0
    out = capsys.readouterr().out
    assert "logits" in out and "TorchScript hides" in out and "layer3" not in out.split(
        "note:")[0]
    code = main(["mine", "--model", str(files / f"{kind}.pt"), "--layer", "layer3",
                 "--out", str(files / f"run-{kind}"), "-q"])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "TorchScript hides" in err
    assert "Traceback" not in err
