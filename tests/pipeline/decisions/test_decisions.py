"""The decision stages: predict (top-1 and the mapped truth), the class-accentuation plan and
stage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import torch

from atlas.config.decisions import ClassesConfig
from atlas.data.loader import make_loader
from atlas.models.hooks import LOGITS, Probe
from atlas.pipeline.decisions.accent import CLASS_ACCENTUATE
from atlas.pipeline.decisions.plan import batches, class_order, failures, plan
from atlas.pipeline.decisions.predict import PREDICT
from tests.helpers.mined import N_MINED, TWO_LAYERS, copy_run, first
from tests.helpers.stages import run_alone


@pytest.fixture(scope="module")
def predicted(mined_two, lite0_112, tmp_path_factory):
    run = copy_run(mined_two, tmp_path_factory.mktemp("predicted"))
    info = run_alone(PREDICT, run.root, lite0_112, first(), mine__layers=TWO_LAYERS)
    return run, info


def test_predictions_are_the_models_top1_with_the_mapped_truth(predicted, lite0_112) -> None:
    run, info = predicted
    p = run.read_table("predictions")
    images = run.read_table("images")
    assert list(p["image_id"]) == list(images["image_id"]) and info["predictions"] == N_MINED
    batch = next(iter(make_loader(first(), 112, N_MINED, 0)))
    with torch.inference_mode():
        probs = Probe(lite0_112, [LOGITS])(batch.images)[LOGITS].softmax(-1)
    top = probs.max(1)
    assert list(p["class_index"]) == top.indices.tolist()
    np.testing.assert_allclose(p["prob"], top.values.numpy(), rtol=1e-4)
    names = lite0_112.class_names
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


def test_random_weights_give_empty_predictions_with_the_reason(mined_two, lite0_112,
        tmp_path) -> None:
    run = copy_run(mined_two, tmp_path)
    rand = dataclasses.replace(lite0_112, weights="none")
    info = run_alone(PREDICT, run.root, rand, first(), mine__layers=TWO_LAYERS)
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


def test_class_accentuation_stage_and_resume(predicted, lite0_112, tmp_path) -> None:
    run = copy_run(predicted[0].root, tmp_path)
    preds = run.read_table("predictions")
    wrong = preds[preds["correct"] == 0]
    kw = dict(mine__layers=TWO_LAYERS, accent__steps=2, classes__accents=1, classes__failures=1)
    info = run_alone(CLASS_ACCENTUATE, run.root, lite0_112, first(), **kw)
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
    again = run_alone(CLASS_ACCENTUATE, run.root, lite0_112, first(), **kw)
    assert again["cached"]
