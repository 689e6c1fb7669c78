"""The decision stages: connect (drives between mined layers), predict (top-1 and the mapped
truth), the class-accentuation plan and stage."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import run_alone
from torch import nn

from atlas.accent.split import split_forward
from atlas.config.decisions import ClassesConfig
from atlas.data.loader import make_loader
from atlas.data.sources import Limited, bundled
from atlas.models.hooks import LOGITS, Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.connect.drive import DriveForward, NoPath
from atlas.pipeline.connect.stage import CONNECT, layer_pairs
from atlas.pipeline.decisions.accent import CLASS_ACCENTUATE
from atlas.pipeline.decisions.plan import batches, class_order, failures, plan
from atlas.pipeline.decisions.predict import PREDICT
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.rundir import RunDir

LAYERS = ["_blocks.10", "_blocks.8"]  # config order: the later one first
N = 24


def first(n: int = N) -> Limited:
    return Limited(bundled(), n)


@pytest.fixture(scope="module")
def small(lite0):
    return dataclasses.replace(lite0, input_size=112)


@pytest.fixture(scope="module")
def mined(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("decisions") / "mined"
    run_alone(MINE, root, small, first(), mine__layers=LAYERS, mine__k=6, mine__bottom_k=2,
              mine__batch_size=8, mine__workers=0)
    return root


def _copy(root, tmp_path, name="run") -> RunDir:
    shutil.copytree(root, tmp_path / name)
    return RunDir(tmp_path / name)


def test_drive_is_activation_times_gradient_summed_over_positions(small, photos) -> None:
    images = photos[:3]
    rows = [(0, 5), (1, 5), (2, 40), (0, 40), (2, 0)]
    got = DriveForward(small, "_blocks.8", "_blocks.10")(images, rows)
    for r, (i, u) in enumerate(rows):  # one autograd pass per row, the plain way
        a, leaf, acts = split_forward(small, images[i:i + 1], "_blocks.8", ["_blocks.10"])
        (g,) = torch.autograd.grad(acts["_blocks.10"][0, u].mean(), leaf)
        want = (leaf * g)[0].flatten(1).sum(1).detach()
        torch.testing.assert_close(got[r], want, rtol=1e-4, atol=1e-5)
    mx = DriveForward(small, "_blocks.8", "_blocks.10", "max")(images, rows[:1])
    assert not torch.allclose(mx[0], got[0])  # the objective follows mining's reduction


class Skip(nn.Module):
    """A skip around the cut at ``a``: ``c`` reads ``b``'s output plus the input."""

    def __init__(self) -> None:
        super().__init__()
        self.a, self.b, self.c = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 1), nn.ReLU()

    def forward(self, x):
        return self.c(self.b(self.a(x)) + x.mean(1, keepdim=True))


def test_a_skip_around_the_cut_falls_back_to_repeated_images() -> None:
    torch.manual_seed(0)
    model = LoadedModel("skip", Skip().eval(), 8, (0.0,) * 3, (1.0,) * 3, channels_last=False)
    images = torch.rand(2, 3, 8, 8)
    for rows in ([(0, 1), (1, 1), (1, 2)], [(1, 0), (0, 3)]):  # more rows; as many, reordered
        fwd = DriveForward(model, "a", "c")
        got = fwd(images, rows)
        assert not fwd.expand  # the expanded rows met the skip and were refused
        want = torch.stack([DriveForward(model, "a", "c")(images[i:i + 1], [(0, u)])[0]
                            for i, u in rows])
        torch.testing.assert_close(got, want)
    with pytest.raises(NoPath):
        DriveForward(model, "c", "a")(images, [(0, 1)])  # a runs first: no path back


def test_connect_lists_strongest_inputs_and_marks_the_shortcut(mined, small, tmp_path) -> None:
    run = _copy(mined, tmp_path)
    info = run_alone(CONNECT, run.root, small, first(), mine__layers=LAYERS, connect__top_n=3,
                     connect__keep=4)
    assert info["pairs"] == {"_blocks.10": "_blocks.8"}  # by execution order, not config order
    df = run.read_table("connections")
    assert set(df["layer"]) == {"_blocks.10"} and set(df["input_layer"]) == {"_blocks.8"}
    assert df["unit"].nunique() == 112 and (df["images"] == 3).all()
    for unit, g in df.groupby("unit"):
        g = g.sort_values("rank")
        pos, neg = g[g["drive"] > 0], g[g["drive"] < 0]
        own = g[g["input_unit"] == unit]
        assert len(own) == 1 and int(own["shortcut"].iloc[0]) == 1  # kept, marked
        assert (g[g["input_unit"] != unit]["shortcut"] == 0).all()
        assert len(pos[pos["input_unit"] != unit]) <= 4 and len(neg[neg["input_unit"] != unit]) <= 4
        assert list(g["drive"]) == sorted(g["drive"], reverse=True)  # rank follows the drive
    # the drive of a listed row, measured directly on the unit's 3 top images
    topk = run.read_table("topk")
    row = df[(df["unit"] == 7)].iloc[0]
    ids = topk[(topk["layer"] == "_blocks.10") & (topk["unit"] == 7) & (topk["kind"] == "top")
               & (topk["rank"] < 3)]["image_id"].tolist()
    src = first()
    pos = [r.index for r in src.records if r.image_id in ids]
    imgs = next(iter(make_loader(src, 112, 8, 0, pos))).images
    d = DriveForward(small, "_blocks.8", "_blocks.10")(imgs, [(i, 7) for i in range(len(ids))])
    assert row["drive"] == pytest.approx(float(d[:, int(row["input_unit"])].mean()), rel=1e-4)


def test_one_mined_layer_gives_an_empty_connections_table(mined, small, tmp_path) -> None:
    run = _copy(mined, tmp_path)
    info = run_alone(CONNECT, run.root, small, first(), mine__layers=["_blocks.10"])
    assert info["pairs"] == {} and run.has("connections")
    assert run.read_table("connections").empty
    assert layer_pairs(small, ["_blocks.10", "_blocks.3", "_blocks.8"]) == [
        ("_blocks.3", "_blocks.8"), ("_blocks.8", "_blocks.10")]
    assert layer_pairs(small, ["_blocks.10", "_blocks.10/sae"]) == []  # a basis: not a module


@pytest.fixture(scope="module")
def predicted(mined, small, tmp_path_factory):
    run = _copy(mined, tmp_path_factory.mktemp("predicted"))
    info = run_alone(PREDICT, run.root, small, first(), mine__layers=LAYERS)
    return run, info


def test_predictions_are_the_models_top1_with_the_mapped_truth(predicted, small) -> None:
    run, info = predicted
    p = run.read_table("predictions")
    images = run.read_table("images")
    assert list(p["image_id"]) == list(images["image_id"]) and info["predictions"] == N
    batch = next(iter(make_loader(first(), 112, N, 0)))
    with torch.inference_mode():
        probs = Probe(small, [LOGITS])(batch.images)[LOGITS].softmax(-1)
    top = probs.max(1)
    assert list(p["class_index"]) == top.indices.tolist()
    np.testing.assert_allclose(p["prob"], top.values.numpy(), rtol=1e-4)
    names = small.class_names
    assert list(p["class_name"]) == [names[i] for i in top.indices.tolist()]
    lm = run.read_table("label_map")
    assert set(lm["label"]) == set(images["label"]) - {""}
    truth = dict(zip(lm["label"], lm["class_index"], strict=True))
    for r in p.itertuples():
        assert r.true_index == truth[r.label]
        if r.true_index < 0:
            assert r.correct == -1 and np.isnan(r.true_prob)
        else:
            assert r.correct == int(r.true_index == r.class_index)
            assert r.true_prob == pytest.approx(float(probs[r.Index, r.true_index]), rel=1e-4)
    assert info["mapped"] == int((p["true_index"] >= 0).sum()) > 0


def test_random_weights_give_empty_predictions_with_the_reason(mined, small, tmp_path) -> None:
    run = _copy(mined, tmp_path)
    rand = dataclasses.replace(small, weights="none")
    info = run_alone(PREDICT, run.root, rand, first(), mine__layers=LAYERS)
    assert "random weights" in info["reason"] and run.read_table("predictions").empty
    assert run.has("label_map")


def _preds() -> pd.DataFrame:
    rows = [("a", 5, 0.9, 7, 0), ("b", 5, 0.8, 5, 1), ("c", 3, 0.95, 9, 0), ("d", 9, 0.5, -1, -1),
            ("e", 3, 0.4, -1, -1), ("f", 1, 0.7, 2, 0)]
    return pd.DataFrame(rows, columns=["image_id", "class_index", "prob", "true_index",
                                       "correct"])


def test_plan_puts_failures_and_their_classes_first() -> None:
    p = _preds()
    assert list(failures(p)["image_id"]) == ["c", "a", "f"]  # most confident wrong first
    assert class_order(p, []) == [3, 5, 1, 9]  # by images, then best confidence
    assert class_order(p, [9, 7, 5]) == [9, 5, 3, 1]  # 7 is nobody's top-1: no page
    q = plan(p, ClassesConfig(accents=2, failures=2))
    pairs = q[q["kind"] != "class"]
    assert list(pairs["image_id"]) == ["c", "c", "a", "a"]
    assert list(pairs["kind"]) == ["predicted", "true"] * 2
    assert list(pairs["class_index"]) == [3, 9, 5, 7]
    cls = q[q["kind"] == "class"]
    assert list(cls["class_index"]) == [3, 9] and list(cls["image_id"]) == ["c", "d"]
    assert list(q["rank"]) == list(range(len(q)))
    for b in batches(q, 1):  # a pair is never split, even when the batch holds one
        assert b.groupby("group").size().isin([1, 2]).all()
        assert set(b["group"]) == set(q[q["group"].isin(b["group"])]["group"])
    none = plan(p, ClassesConfig(accents=0, failures=0))
    assert none.empty and list(none.columns) == ["group", "kind", "class_index", "image_id",
                                                 "rank"]


def test_class_accentuation_stage_and_resume(predicted, small, tmp_path) -> None:
    run = _copy(predicted[0].root, tmp_path)
    preds = run.read_table("predictions")
    wrong = preds[preds["correct"] == 0]
    kw = dict(mine__layers=LAYERS, accent__steps=2, classes__accents=1, classes__failures=1)
    info = run_alone(CLASS_ACCENTUATE, run.root, small, first(), **kw)
    df = run.read_table("class_accents")
    n_pairs = min(1, len(wrong))
    assert info["accents"] == len(df) == 1 + 2 * n_pairs
    cls = df[df["kind"] == "class"].iloc[0]
    if n_pairs:  # the failure's predicted class comes first
        assert cls["class_index"] == wrong.sort_values("prob").iloc[-1]["class_index"]
    else:
        assert cls["class_index"] == class_order(preds, [])[0]
    mine = preds[preds["class_index"] == cls["class_index"]]
    assert cls["image_id"] == mine.sort_values("prob").iloc[-1]["image_id"]  # its best photo
    for r in df.itertuples():
        for col in ("seed_media", "accent_media", "mask_media", "overlay_media", "change_media"):
            assert (run.root / getattr(r, col)).is_file()
        assert r.reg_layer == "_blocks.8"  # the logits' rule, resolved once
        assert 0 <= r.prob_before <= 1 and 0 <= r.prob_after <= 1
    if n_pairs:
        pair = df[df["kind"] != "class"]
        f = wrong.sort_values("prob", ascending=False).iloc[0]
        assert set(pair["image_id"]) == {f["image_id"]}
        assert list(pair["class_index"]) == [f["class_index"], f["true_index"]]
    again = run_alone(CLASS_ACCENTUATE, run.root, small, first(), **kw)
    assert again["cached"]
