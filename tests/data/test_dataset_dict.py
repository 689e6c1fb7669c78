"""A saved DatasetDict's split named as ``PATH:SPLIT``, the default split said aloud, and the
split read named in the run's manifest."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from atlas.errors import AtlasError
from atlas.models.zoo import from_module
from atlas.pipeline.rundir import RunDir


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
