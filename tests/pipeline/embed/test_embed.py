"""Manifestation maps: deterministic, separating, robust to tiny sets, schema-valid tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas.config.sections import EmbedConfig
from atlas.pipeline.embed.layer_map import unit_vectors
from atlas.pipeline.embed.layout import embed_points
from atlas.pipeline.embed.stage import EMBED, EMBED_NATURAL
from atlas.pipeline.rundir import RunDir
from tests.helpers.blobs import blobs as seeded_blobs
from tests.helpers.stages import run_alone


def nn_agreement(xy: np.ndarray, labels: np.ndarray) -> float:
    d = ((xy[:, None, :] - xy[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    return float((labels[d.argmin(axis=1)] == labels).mean())


def blobs(sizes=(30, 20, 14), dim=112):
    return seeded_blobs(sizes, dim, seed=2)  # the maps' tests were written on this draw


def test_map_is_deterministic_and_keeps_blobs_apart():
    feats, labels = blobs()
    a, b = embed_points(feats, EmbedConfig(seed=3)), embed_points(feats, EmbedConfig(seed=3))
    assert np.array_equal(a, b)
    assert nn_agreement(a, labels) >= 0.9
    assert a.min() >= 0.0 and a.max() <= 1.0 and np.isclose(a.max(axis=0).max(), 1.0)


@pytest.mark.parametrize("n", [1, 2, 3, 5, 9])
def test_tiny_sets_give_finite_unit_square_points(n):
    feats, _ = blobs(sizes=(n,))
    xy = embed_points(feats, EmbedConfig())
    assert xy.shape == (n, 2) and np.isfinite(xy).all()
    assert xy.min() >= 0.0 and xy.max() <= 1.0


def test_degenerate_rows_do_not_break_the_map():
    same = np.ones((6, 32))
    assert np.allclose(embed_points(same, EmbedConfig()), 0.5)
    zeros = np.vstack([np.zeros((2, 32)), blobs(sizes=(6,), dim=32)[0]])
    assert np.isfinite(embed_points(zeros, EmbedConfig())).all()


def make_run(tmp_path, accents: bool) -> tuple[RunDir, np.ndarray]:
    """Two units of layer L sharing 40 images; unit 0 has 3 accentuations when ``accents``."""
    run = RunDir(tmp_path)
    feats, labels = blobs(sizes=(16, 12, 12))
    ids = [f"im{i}" for i in range(len(feats))]
    tops = []
    for unit, order in [(0, np.arange(40)), (7, np.arange(40)[::-1][:30])]:
        tops.append(
            pd.DataFrame(
                {"layer": "L", "unit": unit, "kind": "top", "rank": np.arange(len(order)),
                 "image_id": [ids[i] for i in order], "activation": np.linspace(9, 1, len(order)),
                 "argmax_y": 0, "argmax_x": 0, "map_h": 7, "map_w": 7}
            )
        )  # fmt: skip
    run.write_table("topk", pd.concat(tops))
    vec = [list(v) for v in feats]
    run.write_table("vectors", pd.DataFrame({"layer": "L", "image_id": ids, "vector": vec}))
    if accents:
        seeds = ["im0", "im1", "im2"]
        run.write_table("accent_vectors", pd.DataFrame(
            {"layer": "L", "unit": 0, "rank": [0, 1, 2], "image_id": seeds,
             "vector": [vec[i] for i in range(3)]}))
    return run, labels


def run_embed(run, accents: bool = True) -> pd.DataFrame:
    """The embed stage alone over ``run``: its per-unit maps (the layer map: ``layer_map``)."""
    run_alone(EMBED if accents else EMBED_NATURAL, run.root)
    return run.read_table("embed")


def test_run_embed_with_accents(tmp_path):
    run, _ = make_run(tmp_path, accents=True)
    out = run_embed(run)
    u0 = out[out["unit"] == 0]
    assert (u0["kind"] == "natural").sum() == 40 and (u0["kind"] == "accent").sum() == 3
    nat = u0[u0["kind"] == "natural"].set_index("image_id")["cluster"]
    acc = u0[u0["kind"] == "accent"]
    assert (acc["cluster"].to_numpy() == nat[acc["image_id"]].to_numpy()).all()  # seed's cluster
    assert nat.nunique() == 3
    assert len(out[out["unit"] == 7]) == 30  # not accentuated yet: natural images alone
    glob = run.read_table("layer_map")
    acc_rows, unit_rows = glob[glob["kind"] == "accent"], glob[glob["kind"] == "unit"]
    assert len(acc_rows) == 3 and set(acc_rows["unit"]) == {0}
    # every unit is on the layer map, accentuated (0) or not (7): one point at its top images
    assert unit_rows["unit"].tolist() == [0, 7] and (unit_rows["rank"] == -1).all()
    assert unit_rows["image_id"].tolist() == ["im0", "im39"]
    assert out[["x", "y"]].stack().between(0, 1).all()
    assert glob[["x", "y"]].stack().between(0, 1).all()


def test_run_embed_without_accents_places_every_unit(tmp_path):
    run, _ = make_run(tmp_path, accents=False)
    out = run_embed(run, accents=False)
    assert set(out["kind"]) == {"natural"}
    glob = run.read_table("layer_map").set_index("unit")
    assert set(glob["kind"]) == {"unit"} and sorted(glob.index) == [0, 7]
    assert glob.loc[0, "image_id"] == "im0" and glob.loc[7, "image_id"] == "im39"  # top images
    assert run.stage("embed-natural")["status"] == "done"
    pd.testing.assert_frame_equal(run_embed(run, accents=False), out)


def test_unit_point_is_the_weighted_direction_of_its_top_images():
    top = pd.DataFrame({"unit": [3, 3, 3], "rank": [0, 1, 2], "image_id": ["a", "b", "c"],
                        "activation": [3.0, 1.0, 5.0]})
    nat = {"a": np.array([2.0, 0.0]), "b": np.array([0.0, 5.0]), "c": np.array([1.0, 1.0])}
    got = unit_vectors(top, nat, n=2)  # only the top 2 ranks count; lengths do not
    assert got["unit"].tolist() == [3] and got["image_id"].tolist() == ["a"]
    np.testing.assert_allclose(got["vector"][0], [0.75, 0.25])
