"""The Python API (issue 18): an atlas of an in-memory module over in-memory images, through
the same stages, run directory, resume and config tree as ``atlas build``."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torch import nn

import atlas
from atlas.api import preprocessing
from atlas.data import PHOTOS
from atlas.data.memory import MemorySource, TorchSource
from atlas.errors import AtlasError
from atlas.models.zoo import load_model
from atlas.pipeline.rundir import RunDir

FAST = {"mine__k": 4, "mine__bottom_k": 1, "mine__workers": 0, "select__k": 2,
        "accent__steps": 3, "accent__canvas": 64, "accent__augment__crops": 2,
        "embed__n_epochs": 10, "site__refresh": 0, "device": "cpu"}


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(8, 6, 3, 2, 1), nn.ReLU())
        self.block3 = nn.Sequential(nn.Conv2d(6, 4, 3, 2, 1), nn.ReLU())
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x):
        return self.head(self.block3(self.block2(self.block1(x))))


def _net(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet()


def _photos(n: int = 12) -> list[Image.Image]:
    return [Image.open(f).convert("RGB") for f in sorted(PHOTOS.glob("*.webp"))[:n]]


@pytest.mark.slow
def test_tiny_atlas_of_an_in_memory_module_and_a_list_of_images(tmp_path):
    out = tmp_path / "run"
    a = atlas.Atlas(_net(), ["block2", "block3"], _photos(), input_size=64, out=out,
                    class_names=["cat", "bee", "gibbon"], units="block3:0:2,block2:1",
                    **FAST)
    done = a.build(progress=False)
    run = RunDir(out)
    accents = run.read_table("accents")
    # every mined layer the units name is accentuated (not only the first), as named
    pairs = zip(accents.layer, accents.unit, strict=True)
    assert sorted(set(pairs)) == [("block2", 1), ("block3", 0), ("block3", 1)]
    assert set(run.read_table("vis").layer) == {"block2", "block3"}
    # each layer kept close to its seed at its own regularization layer (the model's rule)
    regs = dict(zip(accents.layer, accents.reg_layer, strict=True))
    assert regs == {"block2": "block1.0", "block3": "block2.0"}
    manifest = run.manifest()
    assert manifest["build"]["planned"] == {"block2": [1], "block3": [0, 1]}
    assert manifest["config"]["model"]["name"] == "python:TinyNet"
    assert manifest["source"] == {"key": "python:images", "split": None}
    index = Path(done["site"]) / "index.html"
    assert index.is_file() and Path(done["site"]) == out / "site"
    page = (Path(done["site"]) / "units" / "block2" / "0.html").read_text()
    assert "this build was asked for units block3:0:2,block2:1 only" in page
    assert "accentuates units of" not in page
    # the same module and pictures in a new session: every stage is found done
    stages = {k: v["finished"] for k, v in manifest["stages"].items()}
    again = atlas.Atlas(_net(), ["block2", "block3"], _photos(), input_size=64, out=out,
                        class_names=["cat", "bee", "gibbon"], units="block3:0:2,block2:1",
                        **FAST)
    again.build(site=False, progress=False)
    assert {k: v["finished"] for k, v in run.manifest()["stages"].items()} == stages
    assert a.site(tmp_path / "elsewhere") == tmp_path / "elsewhere" / "index.html"


def test_in_memory_inputs_are_fingerprinted_by_content():
    imgs = _photos(3)
    a, b = MemorySource(imgs), MemorySource([im.copy() for im in imgs])
    assert a.fingerprint() == b.fingerprint()
    assert [r.image_id for r in a.records] == [r.image_id for r in b.records]
    flipped = [imgs[0].transpose(Image.Transpose.FLIP_LEFT_RIGHT), *imgs[1:]]
    assert MemorySource(flipped).fingerprint() != a.fingerprint()
    one = atlas.Atlas(_net(0), "block2", imgs, input_size=64, device="cpu")
    same = atlas.Atlas(_net(0), "block2", imgs, input_size=64, device="cpu")
    other = atlas.Atlas(_net(1), "block2", imgs, input_size=64, device="cpu")
    assert one.model.fingerprint() == same.model.fingerprint() != other.model.fingerprint()
    shifted = atlas.Atlas(_net(0), "block2", imgs, input_size=64, mean=(0.5,) * 3,
                          device="cpu")
    assert shifted.model.fingerprint() != one.model.fingerprint()  # its input differs


def test_pictures_of_every_kind_and_clear_lines_for_others():
    t = torch.rand(3, 20, 24)
    src = MemorySource([(t, "bee"), ((t * 255).to(torch.uint8), "cat"), _photos(1)[0]])
    assert [r.label for r in src.records] == ["bee", "cat", ""]
    assert [(r.path, r.source) for r in src.records][0] == ("images[0]", "python:images")
    with pytest.raises(AtlasError, match=r"image 0 has values from -[12].* atlas takes images in "
                                         r"\[0, 1\]"):
        MemorySource([t * 4 - 2])  # normalized: the transform belongs to the model
    with pytest.raises(AtlasError, match="image 1 is a str"):
        MemorySource([t, "cat.jpg"])

    class Pairs(torch.utils.data.Dataset):
        classes = ["cat", "bee"]

        def __len__(self):
            return 4

        def __getitem__(self, i):
            return torch.full((3, 16, 16), i / 4), i % 2

    ds = TorchSource(Pairs())
    assert [r.label for r in ds.records] == ["cat", "bee", "cat", "bee"]
    assert len(set(r.image_id for r in ds.records)) == 4
    import datasets

    hf = datasets.Dataset.from_dict({"image": [_photos(1)[0]] * 2, "label": [0, 1]}).cast_column(
        "label", datasets.ClassLabel(names=["cat", "bee"]))
    a = atlas.Atlas(_net(), "block2", hf, input_size=64, device="cpu")
    assert [r.label for r in a.source.records] == ["cat", "bee"]


def test_preprocessing_read_from_the_models_transform():
    from torchvision import transforms as T

    tv = T.Compose([T.Resize(72), T.CenterCrop(64), T.ToTensor(),
                    T.Normalize((0.1, 0.2, 0.3), (0.4, 0.5, 0.6))])
    p = preprocessing(tv, None, None, None)
    assert (p.input_size, p.mean, p.std, p.function) == (64, (0.1, 0.2, 0.3),
                                                          (0.4, 0.5, 0.6), None)
    assert preprocessing(tv, 96, None, None).input_size == 96
    from transformers import CLIPImageProcessor

    hf = preprocessing(CLIPImageProcessor(crop_size={"height": 48, "width": 48}), None, None,
                       None)
    assert hf.input_size == 48 and hf.mean[0] == pytest.approx(0.48145466)

    def scale(x):
        return x * 2 - 1

    fn = preprocessing(scale, 32, None, None)
    assert fn.function is scale and fn.input_size == 32
    a = atlas.Atlas(_net(), "block2", _photos(2), transform=scale, input_size=32, device="cpu")
    x = torch.rand(1, 3, 32, 32)
    assert torch.equal(a.model.normalize(x), x * 2 - 1)
    with pytest.raises(AtlasError, match="transform is a int"):
        preprocessing(3, None, None, None)


def test_accentuate_one_photo_toward_a_unit(tmp_path):
    a = atlas.Atlas(_net(), ["block2", "block3"], _photos(2), input_size=64, **FAST)
    r = a.accentuate(PHOTOS / "erase-bee.webp", ("block3", 1), out=tmp_path)
    assert r.image.size == (64, 64) and r.overlay.size == (64, 64) and r.reg_layer == "block2.0"
    assert r.seed_activation != r.final_activation
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"erase-bee-block3-1-{k}.png" for k in ("accent", "overlay", "side")]
    with pytest.raises(AtlasError, match="units '9' out of range: layer 'block3' has 4 units"):
        a.accentuate(_photos(1)[0], "block3:9")


def test_the_config_tree_and_its_errors_are_the_clis():
    a = atlas.Atlas("resnet18", "layer3", "bundled", out="runs/x", accent__lam=2,
                    **{"select.k": 3})
    cfg = a.config
    assert (cfg.model.name, cfg.mine.layers, cfg.data.images, cfg.accent.lam, cfg.select.k,
            cfg.site.out) == ("resnet18", ["layer3"], "bundled", 2.0, 3, "runs/x/site")
    with pytest.raises(AtlasError, match="unknown config key 'accent.lamb'; closest"):
        atlas.Atlas(_net(), "block2", _photos(1), accent__lamb=2)
    with pytest.raises(AtlasError, match=r"model 'python:TinyNet' was an nn.Module given to "
                                         r"atlas.Atlas"):
        load_model("python:TinyNet")
    with pytest.raises(AtlasError, match="unknown mine.layers entry of python:TinyNet 'blok2'"):
        atlas.Atlas(_net(), "blok2", _photos(1), device="cpu").mine(progress=False)


def test_import_atlas_stays_light():
    import subprocess
    import sys

    code = "import sys, atlas; print('torch' in sys.modules, hasattr(atlas, 'Atlas'))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["False", "True"]
