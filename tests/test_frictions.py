"""The small frictions a new user hits (issue 18): short layer names, a saved DatasetDict's
split, the random-weights note, numeric export columns and one unit for causal effects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from fakerun import FakeRunConfig, make_fake_run
from torch import nn

from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.zoo import from_module
from atlas.pipeline.rundir import RunDir
from atlas.site.export import export_run
from atlas.site.render import render_site


def _encoder() -> nn.Module:
    """Module paths shaped like torchvision's ViT: encoder.layers.encoder_layer_N."""
    torch.manual_seed(0)
    layers = nn.Sequential()
    for i in range(3):
        layers.add_module(f"encoder_layer_{i}", nn.Conv2d(3, 3, 3, padding=1))
    net = nn.Sequential()
    net.add_module("encoder", nn.Module())
    net.encoder.add_module("layers", layers)
    net.encoder.forward = layers.forward
    net.add_module("norm", nn.Conv2d(3, 3, 1))
    return net


def test_unique_suffixes_name_layers():
    model = from_module(_encoder(), 32)
    assert model.full_name("encoder_layer_1") == "encoder.layers.encoder_layer_1"
    assert model.full_name("layers.encoder_layer_1") == "encoder.layers.encoder_layer_1"
    acts = Probe(model, ["encoder_layer_1"])(torch.rand(1, 3, 32, 32))
    assert list(acts) == ["encoder_layer_1"] and acts["encoder_layer_1"].shape == (1, 3, 32, 32)
    from atlas.models.reglayer import reg_layer_for

    assert reg_layer_for(model, "encoder_layer_2", "") == "encoder.layers.encoder_layer_1"
    assert reg_layer_for(model, "encoder_layer_2", "encoder_layer_0") == \
        "encoder.layers.encoder_layer_0"
    with pytest.raises(AtlasError, match="unknown layer of python:Sequential 'coder_layer_1'"):
        model.full_name("coder_layer_1")  # a suffix starts after a dot: not any substring


def test_an_ambiguous_suffix_says_so():
    net = nn.Sequential()
    for part in ("a", "b"):
        net.add_module(part, nn.Sequential())
        getattr(net, part).add_module("conv", nn.Conv2d(3, 3, 1))
    model = from_module(net, 16)
    with pytest.raises(AtlasError, match=r"layer 'conv' of python:Sequential is ambiguous: it "
                                         r"ends 2 layer names \(a.conv, b.conv\); give more"):
        model.full_name("conv")
    assert model.full_name("b.conv") == "b.conv"


def _dataset_dict(root: Path) -> Path:
    import datasets
    from PIL import Image

    imgs = [Image.new("RGB", (20, 16), (i * 40, 0, 0)) for i in range(5)]
    ds = datasets.Dataset.from_dict({"image": imgs, "label": ["a", "b", "a", "b", "b"]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "label": datasets.Value(
                                                                    "string")}))
    datasets.DatasetDict({"train": ds, "validation": ds.select([0, 1])}).save_to_disk(
        str(root / "dd"))
    return root / "dd"


def test_saved_dataset_dict_split_in_the_spec_and_named_in_the_manifest(tmp_path, capsys):
    from atlas.config.tree import build_config
    from atlas.data.sources import open_source
    from atlas.pipeline.resolve import source_of
    from atlas.pipeline.session import record_inputs

    path = _dataset_dict(tmp_path)
    capsys.readouterr()  # datasets' own progress bars
    src = open_source(f"{path}:validation")
    assert len(src) == 2 and src.split == "validation"
    assert capsys.readouterr().err == ""
    train = open_source(str(path))  # no split named: train, and a line says so
    assert len(train) == 5 and train.split == "train"
    assert "reading 'train' (name another as" in capsys.readouterr().err
    with pytest.raises(AtlasError, match="unknown split 'valid'; closest: validation"):
        open_source(f"{path}:valid")
    with pytest.raises(AtlasError, match="names split 'validation' but data.split is 'train'"):
        open_source(f"{path}:validation", split="train")
    cfg = build_config(data__images=f"{path}:validation", out=str(tmp_path / "run"),
                       mine__layers=["1"], device="cpu")
    model = from_module(nn.Sequential(nn.Conv2d(3, 2, 1), nn.Conv2d(2, 2, 1)), 16)
    from atlas.pipeline.resolve import resolve

    record_inputs(RunDir(cfg.run_dir), cfg, model, source_of(cfg), resolve(cfg, model))
    assert RunDir(cfg.run_dir).manifest()["source"]["split"] == "validation"


def test_every_page_of_a_random_weights_atlas_says_so(tmp_path):
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2, weights="none"))
    classes = RunDir(run).read_table("classes")
    RunDir(run).write_table("classes", classes[classes.unit != 0])  # a unit without classes
    site = render_site(run, tmp_path / "site")
    pages = list(site.rglob("*.html"))
    assert len(pages) > 4
    for page in pages:
        assert "model has random weights (model.weights = none)" in page.read_text(), page
    bare = (site / "units" / "_blocks.10" / "0.html").read_text()
    assert "Dataset classes" not in bare and "random weights" in bare


def test_export_columns_are_numbers_with_their_unit(tmp_path):
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2))
    _, files = export_run(run, "csv", tmp_path / "csv")
    rows = list(csv.DictReader(files[0].open()))
    head = list(rows[0])
    assert "strongest_accentuation" not in head
    for col in ("strongest_accentuation_activation", "strongest_accentuation_percentile_pct",
                "strongest_accentuation_x_best_photo"):
        assert col in head
    assert any(r["strongest_accentuation_x_best_photo"] for r in rows)
    for r in rows:  # numbers a script reads as numbers, never "1.7× the best photo"
        for col in head:
            if col.startswith("strongest_accentuation") and r[col]:
                float(r[col])
    causal = RunDir(run).read_table("causal")
    first = causal[(causal.layer == rows[0]["layer"]) & (causal.unit == int(rows[0]["unit"]))]
    top = first.sort_values("rank").iloc[0]
    # one unit everywhere: percentage points of probability, as the pages say "−N pts"
    assert rows[0]["causal_effect_pts"].startswith(f"{top['class_name']} {-100 * top['drop']:+.3g}")
    _, units = export_run(run, "json", tmp_path / "json")
    rec = json.loads(next(p for p in units if p.parent.name == rows[0]["layer"]
                          and p.stem == rows[0]["unit"]).read_text())
    assert rec["causal_effect"][0]["probability_drop_pts"] == pytest.approx(100 * top['drop'])
    site = render_site(run, tmp_path / "site")
    page = (site / "units" / rows[0]["layer"] / f"{rows[0]['unit']}.html").read_text()
    assert f"−{100 * top['drop']:.1f} pts" in page
