"""Diverse seed selection: coverage of every manifestation, strongest first, k, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from atlas.config.sections import SelectConfig
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.select.stage import SELECT, choose_seeds
from tests.helpers.blobs import blobs
from tests.helpers.stages import run_alone


def top_rows(n: int, unit: int = 3, layer: str = "L", prefix: str = "im") -> pd.DataFrame:
    """kind=='top' rows of one unit, rank 0 strongest."""
    return pd.DataFrame(
        {
            "layer": layer,
            "unit": unit,
            "kind": "top",
            "rank": np.arange(n),
            "image_id": [f"{prefix}{i}" for i in range(n)],
            "activation": np.linspace(10.0, 1.0, n) if n > 1 else np.array([10.0] * n),
            "argmax_y": 0,
            "argmax_x": 0,
            "map_h": 7,
            "map_w": 7,
        }
    )


def test_diverse_covers_every_blob_strongest_first():
    feats, labels = blobs()
    order = np.argsort(labels, kind="stable")  # blob 0 holds the 30 strongest: plain top-k
    feats, labels = feats[order], labels[order]  # would take all 8 seeds from it
    seeds = choose_seeds(top_rows(len(feats)), feats, SelectConfig(k=8))
    ranks = seeds["image_id"].str[2:].astype(int).to_numpy()  # top-N rank of each seed
    blob = labels[ranks]
    assert len(seeds) == 8 and seeds["rank"].tolist() == list(range(8))
    # round-robin: the strongest of each blob, clusters ordered by their strongest member
    assert ranks[:6].tolist() == [0, 30, 50, 1, 31, 51]
    assert sorted(blob[:3]) == [0, 1, 2]
    # clusters recover the blobs one-to-one; cluster 0 holds the unit's strongest image
    assert pd.crosstab(seeds["cluster"], blob).gt(0).sum(axis=1).eq(1).all()
    assert seeds["cluster"].iloc[0] == 0 and seeds["image_id"].iloc[0] == "im0"
    # within a cluster, exemplars come strongest first
    for _, grp in seeds.groupby("cluster"):
        assert grp["activation"].is_monotonic_decreasing


@pytest.mark.parametrize("k", [1, 3, 5, 64, 100])
def test_respects_k(k):
    feats, _ = blobs()
    seeds = choose_seeds(top_rows(len(feats)), feats, SelectConfig(k=k))
    assert len(seeds) == min(k, len(feats)) and seeds["image_id"].is_unique


def test_topk_method_takes_the_k_strongest():
    feats, _ = blobs()
    top = top_rows(len(feats)).sample(frac=1.0, random_state=0)  # order must not matter
    seeds = choose_seeds(top, feats[top["rank"].to_numpy()], SelectConfig(k=5, method="topk"))
    assert seeds["image_id"].tolist() == [f"im{i}" for i in range(5)]
    assert seeds["rank"].tolist() == list(range(5))


def test_row_order_and_repeats_do_not_change_the_choice():
    feats, _ = blobs()
    top = top_rows(len(feats))
    first = choose_seeds(top, feats, SelectConfig())
    pd.testing.assert_frame_equal(first, choose_seeds(top, feats, SelectConfig()))
    perm = np.random.default_rng(0).permutation(len(top))
    pd.testing.assert_frame_equal(first, choose_seeds(top.iloc[perm], feats[perm], SelectConfig()))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5])
def test_tiny_top_sets(n):
    feats, _ = blobs(sizes=(n,)) if n else (np.zeros((0, 112)), None)
    seeds = choose_seeds(top_rows(n), feats, SelectConfig(k=8))
    assert sorted(seeds["image_id"]) == sorted(f"im{i}" for i in range(n))
    assert seeds["rank"].tolist() == list(range(n))
    schema.check(seeds, "seeds")


def vector_rows(feats: np.ndarray, ids: list[str], layer: str = "L") -> pd.DataFrame:
    return pd.DataFrame({"layer": layer, "image_id": ids, "vector": [list(v) for v in feats]})


def run_select(run: RunDir, **settings) -> pd.DataFrame:
    """The select stage alone, with ``select`` settings (``k=4``); its seeds."""
    run_alone(SELECT, run.root, **{f"select__{k}": v for k, v in settings.items()})
    return run.read_table("seeds")


def test_run_select_writes_schema_valid_seeds(tmp_path):
    run = RunDir(tmp_path)
    feats, _ = blobs()
    top = pd.concat([top_rows(40, unit=0), top_rows(24, unit=5, prefix="im40")])
    top = top.assign(image_id=[f"im{i}" for i in range(64)])
    run.write_table("topk", top)
    run.write_table("vectors", vector_rows(feats, [f"im{i}" for i in range(64)]))
    seeds = run_select(run, k=4)
    back = run.read_table("seeds")
    pd.testing.assert_frame_equal(back, schema.check(back, "seeds"))
    assert back.groupby("unit").size().to_dict() == {0: 4, 5: 4}
    assert run.stage("select")["status"] == "done"
    pd.testing.assert_frame_equal(run_select(run, k=4), seeds)  # resumed
    assert len(run_select(run, k=2)) == 4  # settings changed: recomputed


def test_run_select_without_vectors_says_what_to_do(tmp_path):
    run = RunDir(tmp_path)
    run.write_table("topk", top_rows(10))
    with pytest.raises(AtlasError, match="vectors.parquet"):
        run_select(run)
    assert len(run_select(run, k=3, method="topk")) == 3
