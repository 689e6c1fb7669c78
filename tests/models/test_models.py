import re
from urllib.error import URLError

import pytest
import torch

from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.lite0 import LiteNet, reference_lite0
from atlas.models.probe import describe_layers
from atlas.models.zoo import load_model


def test_lean_lite0_equals_reference(photos):
    ref = reference_lite0()
    lean = LiteNet(ref).eval()
    x = (photos * 255 - 127) / 128
    with torch.no_grad():
        a, b = ref(x), lean(x)
    assert (a - b).abs().max() < 1e-3
    assert torch.equal(a.argmax(1), b.argmax(1))


def test_bundled_model_classifies_real_photos(lite0):
    """Real ImageNet weights: photos whose label is an ImageNet class get it in the top 5."""
    from atlas.data.loader import make_loader
    from atlas.data.sources import bundled
    from atlas.models.zoo import imagenet_classes

    src = bundled()
    classes = [c.lower() for c in imagenet_classes()]
    pos = [r.index for r in src.records if r.label.lower() in classes]
    assert len(pos) >= 15
    batch = next(iter(make_loader(src, 224, len(pos), 0, pos)))
    with torch.no_grad():
        logits = Probe(lite0, ["logits"])(batch.images)["logits"]
    top5 = logits.topk(5, dim=1).indices
    hits = [classes.index(src.records[p].label.lower()) in top5[i].tolist()
            for i, p in enumerate(batch.positions)]
    assert sum(hits) / len(hits) >= 0.6, sum(hits)
    assert len(lite0.class_names) == 1000


def test_probe_stops_at_deepest_layer(lite0):
    called = []
    hooks = [lite0.layer(n).register_forward_hook(lambda *_a, n=n: called.append(n))
             for n in ("_blocks.11", "_conv_head", "_fc")]
    try:
        out = Probe(lite0, ["_blocks.10", "_blocks.4"])(torch.rand(2, 3, 224, 224))
    finally:
        for h in hooks:
            h.remove()
    assert out["_blocks.10"].shape == (2, 112, 14, 14)
    assert out["_blocks.4"].shape == (2, 40, 28, 28)
    assert called == []  # nothing after _blocks.10 ran: the head was not computed
    assert all(not m._forward_hooks for m in lite0.module.modules())  # no hooks left


def test_unknown_names_suggest_closest(lite0):
    with pytest.raises(AtlasError, match="closest: _blocks.10"):
        lite0.layer("_block.10")
    with pytest.raises(AtlasError, match="resnet50"):
        load_model("resnet5O")
    with pytest.raises(AtlasError, match="weights must be"):
        load_model("efficientnet-lite0", weights="/no/such/file.pt")


def test_torchvision_model_random_and_local_weights(tmp_path):
    m = load_model("torchvision:resnet18", weights="none")
    assert m.input_size == 224 and m.std[0] == pytest.approx(0.229)
    path = tmp_path / "w.pt"
    torch.save(m.module.state_dict(), path)
    m2 = load_model("resnet18", weights=str(path))
    assert m2.fingerprint() == m.fingerprint()
    out = Probe(m2, ["layer3.1"])(torch.rand(1, 3, 224, 224))["layer3.1"]
    assert out.shape == (1, 256, 14, 14)


def test_torchscript_file(tmp_path, lite0):
    scripted = torch.jit.trace(lite0.module, torch.rand(1, 3, 224, 224))
    path = tmp_path / "lite0.pt"
    scripted.save(str(path))
    m = load_model(str(path))
    with torch.no_grad():
        out = Probe(m, ["logits"])(torch.rand(1, 3, 224, 224))["logits"]
    assert out.shape == (1, 1000)


def test_describe_layers_lists_shapes(lite0):
    rows = {name: (shape, ch) for name, _t, shape, ch in describe_layers(lite0)}
    assert rows["_blocks.10"] == ((112, 14, 14), 112)
    assert rows["_blocks.15"][1] == 320


def test_pick_device(monkeypatch):
    from atlas.models.runtime import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == torch.device("cpu") == pick_device("cpu")
    with pytest.raises(AtlasError, match="'cuda:1' requested but CUDA is not available"):
        pick_device("cuda:1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto", local_rank=1) == torch.device("cuda:1")


def test_state_dict_of_another_architecture_is_one_line(tmp_path):
    path = tmp_path / "resnet18.pt"
    torch.save(load_model("resnet18", weights="none").module.state_dict(), path)
    with pytest.raises(AtlasError) as err:
        load_model("efficientnet-lite0", weights=str(path))
    msg = str(err.value)
    assert "\n" not in msg and len(msg) < 600, msg
    assert "do not fit efficientnet-lite0" in msg
    assert re.search(r"\d+ missing keys \(\w[\w.]*, .*more\)", msg)
    assert re.search(r"\d+ unexpected keys \(conv1\.weight, bn1\.weight, bn1\.bias, …", msg)
    bad = tmp_path / "not-torch.pth"
    bad.write_text("hello")
    with pytest.raises(AtlasError, match=r"could not be read as a state_dict: \w+"):
        load_model("resnet18", weights=str(bad))


def test_shape_mismatch_is_named(tmp_path):
    state = load_model("resnet18", weights="none").module.state_dict()
    state["fc.weight"] = torch.zeros(10, 512)
    path = tmp_path / "w.pt"
    torch.save(state, path)
    with pytest.raises(AtlasError, match=r"1 of another shape \(fc\.weight \(10, 512\) vs "
                                         r"\(1000, 512\)\)"):
        load_model("resnet18", weights=str(path))


def test_default_weights_without_network_say_how_to_pass_a_file(tmp_path, monkeypatch):
    import torch.hub

    def offline(*_a: object, **_k: object) -> None:
        raise URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # nothing cached: it must download
    monkeypatch.setattr(torch.hub, "urlopen", offline)
    with pytest.raises(AtlasError) as err:
        load_model("resnet18")
    msg = str(err.value)
    assert "\n" not in msg
    assert "could not download the default weights of resnet18 (no network)" in msg
    assert "--weights path/to/file.pth" in msg


@pytest.mark.slow
def test_random_weights_are_the_same_network_in_every_process():
    """--weights none: a fixed-seed init, so mine, a later build and every rank agree; and the
    bundled model really is random then (it used to load the ImageNet weights anyway)."""
    import subprocess
    import sys

    code = ("from atlas.models.zoo import load_model; import torch; torch.manual_seed({s}); "
            "print(load_model('{m}', 'none').fingerprint(), torch.rand(1).item())")
    for m in ("efficientnet-lite0", "resnet18"):
        outs = [subprocess.run([sys.executable, "-c", code.format(s=s, m=m)], check=True,
                               capture_output=True, text=True).stdout.split() for s in (1, 2)]
        assert outs[0][0] == outs[1][0]  # same network
        assert outs[0][1] != outs[1][1]  # the caller's own random stream is left alone
    assert load_model("efficientnet-lite0", "none").fingerprint() != \
        load_model("efficientnet-lite0").fingerprint()
