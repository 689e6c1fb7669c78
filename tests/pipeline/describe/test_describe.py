"""The describe stage: where units fire (maps, views, receptive-field boxes), dataset classes
over-represented among top images, and causal labels from mean ablation."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import hypergeom
from torch import nn

from atlas.config.sections import DescribeConfig
from atlas.data.sources import Limited, bundled
from atlas.models.zoo import LoadedModel, imagenet_classes
from atlas.pipeline import stage
from atlas.pipeline.describe.causal import BASELINE, CutForward
from atlas.pipeline.describe.causal_stage import CAUSAL, causal_skip_reason
from atlas.pipeline.describe.classes import enriched_classes
from atlas.pipeline.describe.maps import peak_box, pool_map, view_box
from atlas.pipeline.describe.stage import DESCRIBE
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.rundir import RunDir
from tests.helpers.models import tiny_model
from tests.helpers.stages import run_alone, stage_context

LAYERS = ["_blocks.3", "_blocks.10"]  # 14x14 and 7x7 maps at 112 px; fields 35 px and all


def first(n: int) -> Limited:
    """The first ``n`` bundled photos."""
    return Limited(bundled(), n)


@pytest.fixture(scope="module")
def mined(lite0_112, tmp_path_factory):
    root = tmp_path_factory.mktemp("describe") / "mined"
    run_alone(MINE, root, lite0_112, first(24), mine__layers=LAYERS, mine__k=8, mine__bottom_k=2,
              mine__batch_size=8, mine__workers=0)
    return root


def _copy(root, tmp_path, name="run") -> RunDir:
    shutil.copytree(root, tmp_path / name)
    return RunDir(tmp_path / name)


@pytest.fixture(scope="module")
def described(mined, lite0_112, tmp_path_factory):
    run = _copy(mined, tmp_path_factory.mktemp("described"))
    info = run_alone(DESCRIBE, run.root, lite0_112, first(24), mine__layers=LAYERS,
                     describe__top_n=4)
    info["causal"] = run_alone(CAUSAL, run.root, lite0_112, first(24), mine__layers=LAYERS,
                               describe__top_n=4)["causal"]
    return run, info


def test_where_rows_match_topk_one_to_one(described, lite0_112):
    run, info = described
    topk, where = run.read_table("topk"), run.read_table("where")
    keys = ["layer", "unit", "kind", "rank", "image_id"]
    assert where[keys].equals(topk[keys]) and len(where) == (112 + 40) * (8 + 2)
    assert info["rf_theoretical_px"] == {"_blocks.3": 35, "_blocks.10": 112}  # input: 112 px
    assert info["rf_px"] == {"_blocks.3": 21, "_blocks.10": 73}  # the crops: 3/4 of the gradient
    assert (where["rf_px"] == where["layer"].map(info["rf_px"])).all()
    for (_, t), (_, w) in zip(topk.iterrows(), where.iterrows(), strict=True):
        m = np.asarray(w["map"]).reshape(w["map_h"], w["map_w"])
        assert (w["map_h"], w["map_w"]) == (t["map_h"], t["map_w"])  # 14 and 7: not pooled
        assert divmod(int(m.argmax()), w["map_w"]) == (t["argmax_y"], t["argmax_x"])
        # the map is the unit's map: its mean is the mined (mean-reduced) activation
        assert m.mean() == pytest.approx(t["activation"], rel=1e-3, abs=1e-3)


def test_boxes_sit_on_the_peak_at_the_receptive_field(described):
    run, _ = described
    where = run.read_table("where").merge(run.read_table("images"), on="image_id")
    for _, w in where.iterrows():
        vx0, vy0, vx1, vy1 = w["view"]
        x0, y0, x1, y1 = w["box"]
        assert vx0 <= x0 < x1 <= vx1 + 1e-9 and vy0 <= y0 < y1 <= vy1 + 1e-9
        side = min(w["width"], w["height"])  # the view: the centre square
        assert (vx1 - vx0) * w["width"] == pytest.approx(side)
        m = np.asarray(w["map"]).reshape(w["map_h"], w["map_w"])
        py, px = divmod(int(m.argmax()), w["map_w"])
        cx = vx0 + (px + 0.5) / w["map_w"] * (vx1 - vx0)
        cy = vy0 + (py + 0.5) / w["map_h"] * (vy1 - vy0)
        assert x0 <= cx <= x1 and y0 <= cy <= y1
        to_input = 112 / side  # model-input pixels per original pixel
        bw, bh = (x1 - x0) * w["width"] * to_input, (y1 - y0) * w["height"] * to_input
        assert bw <= w["rf_px"] + 1e-6 and bh <= w["rf_px"] + 1e-6
        if w["layer"] == "_blocks.3" and 2 <= px <= 11 and 2 <= py <= 11:  # not clipped
            assert bw == pytest.approx(21) and bh == pytest.approx(21)


def test_map_helpers():
    m = torch.arange(2 * 20 * 20, dtype=torch.float32).reshape(2, 20, 20)
    p = pool_map(m, 10)
    assert p.shape == (2, 10, 10) and p[0, 0, 0] == m[0, :2, :2].mean()
    assert pool_map(m, 32) is m
    assert view_box(300, 100) == [1 / 3, 0.0, 2 / 3, 1.0]
    # cell (0, 0) of 4x4 on a 16-px input: centre 2 px, an 8-px field clipped to [0, 6] px;
    # the view is x 100..200 of 300 at 0.16 input px per original px: 6 px = 37.5 px there
    assert peak_box(0, 0, 4, 4, 8, 16, 300, 100) == pytest.approx([1 / 3, 0, 137.5 / 300,
                                                                   0.375])


def test_scale_is_the_median_peak_of_the_units_top_maps(described):
    where = described[0].read_table("where")
    top = where[where["kind"] == "top"]
    peak = top.groupby(["layer", "unit"])["map"].agg(lambda ms: np.median([max(m) for m in ms]))
    got = where.groupby(["layer", "unit"])["scale"].agg(["min", "max"])
    assert np.allclose(got["min"], got["max"])  # one scale per unit, bottom images included
    assert np.allclose(got["max"], peak.clip(lower=1e-6).loc[got.index])


def test_causal_labels_on_top_images(described):
    run, info = described
    causal = run.read_table("causal")
    assert info["causal"] == "done" and set(causal["layer"]) == set(LAYERS)
    assert (causal["drop"] > 0).all() and (causal["images"] == 4).all()
    assert set(causal["class_name"]) <= set(imagenet_classes())
    ranks = causal.groupby(["layer", "unit"])["rank"].agg(list)
    assert all(r == list(range(len(r))) for r in ranks)
    assert causal.groupby(["layer", "unit"])["drop"].is_monotonic_decreasing.all()


def _manual(model: LoadedModel, layer: str, image: torch.Tensor, unit: int, value: float):
    def hook(_m, _i, out):
        out = out.clone()
        if unit >= 0:
            out[:, unit] = value
        return out

    h = model.layer(layer).register_forward_hook(hook)
    try:
        with torch.no_grad():
            return model.module(model.normalize(image[None]))[0]
    finally:
        h.remove()


def test_ablation_rows_equal_one_forward_each(lite0_112, photos):
    images = torch.nn.functional.interpolate(photos[:3], size=112, mode="area")
    means = torch.linspace(-1, 1, 112)
    seen = {"first": 0, "head": 0}
    hooks = [lite0_112.layer("_blocks.0").register_forward_hook(
                 lambda _m, i, _o: seen.__setitem__("first", seen["first"] + len(i[0]))),
             lite0_112.layer("_fc").register_forward_hook(
                 lambda _m, i, _o: seen.__setitem__("head", seen["head"] + len(i[0])))]
    rows = [(0, BASELINE), (0, 5), (0, 9), (2, BASELINE), (2, 5)]
    try:
        acts, logits = CutForward(lite0_112, "_blocks.10", means)(images, rows)
    finally:
        for h in hooks:
            h.remove()
    assert seen == {"first": 3, "head": 5}  # the prefix once per image, the rest per row
    assert acts.shape == (3, 112, 7, 7)
    for r, (i, u) in enumerate(rows):
        want = _manual(lite0_112, "_blocks.10", images[i], u, float(means[u]) if u >= 0 else 0)
        assert torch.allclose(logits[r], want, atol=1e-4)
    assert (logits[0] - logits[1]).abs().max() > 1e-3  # ablating a unit changes the logits


class _Skip(nn.Module):
    """A skip connection around the cut: the expanded batch cannot meet it."""

    def __init__(self):
        super().__init__()
        self.a, self.b, self.fc = nn.Conv2d(3, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1), \
            nn.Linear(4, 5)

    def forward(self, x):
        a = self.a(x)
        return self.fc((a + self.b(a)).mean((2, 3)))


def test_ablation_falls_back_to_repeated_inputs_around_a_skip():
    torch.manual_seed(0)
    model = tiny_model(_Skip(), 8)
    images = torch.rand(2, 3, 8, 8)
    cut = CutForward(model, "b", torch.tensor([0.5, -0.5, 1.0, 2.0]))
    for rows in ([(0, BASELINE), (0, 1), (1, BASELINE), (1, 3)], [(1, BASELINE), (1, 2)]):
        _, logits = cut(images, rows)
        for r, (i, u) in enumerate(rows):
            want = _manual(model, "b", images[i], u, float(cut.means[u]) if u >= 0 else 0)
            assert torch.allclose(logits[r], want, atol=1e-5)
    assert cut.expand is False


def test_without_causal_labels_one_pass_feeds_each_listed_image_once(mined, lite0_112,
                                                                     tmp_path):
    """The maps of both layers come from one forward per listed image; with random weights
    the causal stage runs no ablation (their classes mean nothing) and writes an empty table
    with the reason; a rerun is resumed and no hook is left on the model."""
    run = _copy(mined, tmp_path)
    untrained = dataclasses.replace(lite0_112, weights="none")  # same module, hooked below
    ctx = stage_context(run.root, untrained, first(24), mine__layers=LAYERS, describe__top_n=4)
    seen = []
    h = lite0_112.layer("_conv_stem").register_forward_hook(
        lambda _m, i, _o: seen.append(len(i[0])))
    try:
        stage.run_alone(DESCRIBE, ctx)
        assert sum(seen) == run.read_table("topk")["image_id"].nunique()  # two layers, one pass
        assert not run.has("causal")  # not the describe pass's table
        stage.run_alone(CAUSAL, ctx)
        assert sum(seen) == run.read_table("topk")["image_id"].nunique()  # no ablation ran
        assert run.stage("causal")["causal"].startswith("random weights")
        assert run.has("causal") and run.read_table("causal").empty
        assert len(run.read_table("where")) == len(run.read_table("topk"))
        seen.clear()
        assert stage.run_alone(DESCRIBE, ctx).cached and stage.run_alone(CAUSAL, ctx).cached
        assert seen == []  # resumed: nothing recomputed
        ctx.cfg.describe.top_n = 3
        assert stage.pending(DESCRIBE, ctx)  # a changed setting: it would run again
    finally:
        h.remove()
    assert not any(m._forward_hooks for m in lite0_112.module.modules())


def test_why_there_are_no_causal_labels(lite0_112):
    assert causal_skip_reason(lite0_112, DescribeConfig()) == ""
    assert causal_skip_reason(lite0_112, DescribeConfig(causal=False)) == \
        "describe.causal is off"


def test_enriched_classes_on_a_crafted_table():
    ids = [f"i{n}" for n in range(100)]
    label = ["fish"] * 10 + ["common"] * 50 + ["rare"] * 2 + [""] * 38
    images = pd.DataFrame({"image_id": ids, "label": label, "group": ["g"] * 100})
    top = ["i0", "i1", "i2", "i3", "i4", "i60", "i10", "i11", "i12", "i13"]  # 5 fish, 1 rare
    topk = pd.DataFrame({"layer": "L", "unit": 3, "kind": "top", "rank": range(10),
                         "image_id": top})
    got = enriched_classes(images, topk, n=8)
    assert got[["field", "name", "count", "top_n", "data_count", "data_total"]].values.tolist() \
        == [["label", "fish", 5, 8, 10, 100]]  # common (2 of 8) and rare (1) do not qualify
    assert got["p_value"][0] == pytest.approx(hypergeom.sf(4, 100, 10, 8))
    assert got["enrichment"][0] == pytest.approx((5 / 8) / (10 / 100)) and got["rank"][0] == 0
    assert enriched_classes(images.drop(columns="group"), topk, n=8)["field"].tolist() == \
        ["label"]  # an older run without groups


def test_the_pass_also_writes_each_listed_images_vector_and_copy(described):
    """vectors.parquet rides on the describe pass: one vector per (layer, image some unit of
    that layer lists), and a unit's entry is the mean of its map there."""
    run, _ = described
    nat, where = run.read_table("vectors"), run.read_table("where")
    for layer in LAYERS:
        listed = set(where.loc[where["layer"] == layer, "image_id"])
        got = nat[nat["layer"] == layer]
        assert set(got["image_id"]) == listed and len(got) == len(listed)
    vec = {(r.layer, r.image_id): np.asarray(r.vector) for r in nat.itertuples()}
    for w in where.head(40).itertuples():
        assert vec[(w.layer, w.image_id)][w.unit] == pytest.approx(np.mean(w.map), rel=1e-4,
                                                                   abs=1e-5)
    copies = {p.stem for p in (run.root / "media" / "images").glob("*.webp")}
    assert copies == set(where["image_id"])
