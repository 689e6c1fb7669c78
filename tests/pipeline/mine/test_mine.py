import subprocess
import sys

import pandas as pd
import pytest
import torch

from atlas.data.sources import Limited, bundled
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.mine.topk import RunningMoments, RunningTopK
from atlas.pipeline.rundir import RunDir
from tests.helpers.kill import atlas_killed_at
from tests.helpers.stages import run_alone


def test_running_topk_matches_sort_and_merges_exactly():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(300, 6, generator=g).round(decimals=1)  # many ties
    ids, pos = torch.arange(300), torch.randint(0, 50, (300, 6), generator=g)
    a = RunningTopK(6, 10)
    for j in range(0, 300, 17):
        a.add(s[j:j + 17], ids[j:j + 17], where=pos[j:j + 17])
    # reference: score descending, ties to the smaller id
    for u in range(6):
        order = sorted(range(300), key=lambda i: (-float(s[i, u]), i))[:10]
        assert a.ids[u].tolist() == order
        assert a.payload["where"][u].tolist() == [int(pos[i, u]) for i in order]
    b, c = RunningTopK(6, 10), RunningTopK(6, 10)
    b.add(s[1::2], ids[1::2], where=pos[1::2])
    c.add(s[::2], ids[::2], where=pos[::2])
    b.merge(c)
    assert torch.equal(b.ids, a.ids) and torch.equal(b.scores, a.scores)
    d = RunningTopK(6, 10)
    d.load_state_dict(a.state_dict())
    assert torch.equal(d.ids, a.ids) and torch.equal(d.payload["where"], a.payload["where"])


def test_running_moments():
    x = torch.randn(100, 3, dtype=torch.float64)
    m, m1, m2 = RunningMoments(3), RunningMoments(3), RunningMoments(3)
    m.add(x)
    m1.add(x[:40])
    m2.add(x[40:])
    m1.merge(m2)
    assert torch.allclose(m.mean, x.mean(0)) and torch.allclose(m.std, x.std(0, unbiased=False))
    assert torch.allclose(m1.std, m.std) and torch.equal(m1.max, x.max(0).values)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory, lite0):
    run = RunDir(tmp_path_factory.mktemp("mine"))
    info = run_alone(MINE, run.root, lite0, Limited(bundled(), 48),
                     mine__layers=["_blocks.4", "_blocks.10"], mine__k=5, mine__bottom_k=3,
                     mine__batch_size=16, mine__workers=0)
    return run, info


def test_mine_tables(small_run):
    run, info = small_run
    topk, stats, images = (run.read_table(t) for t in ("topk", "stats", "images"))
    assert info["images"] == 48 and len(images) == 48
    assert set(topk["layer"]) == {"_blocks.4", "_blocks.10"}
    t10 = topk[(topk.layer == "_blocks.10") & (topk.kind == "top")]
    assert len(t10) == 112 * 5 and t10.groupby("unit").size().eq(5).all()
    # ranks in descending activation, bottom ranks ascending
    for _, g in t10.groupby("unit"):
        assert g.sort_values("rank")["activation"].is_monotonic_decreasing
    b10 = topk[(topk.layer == "_blocks.10") & (topk.kind == "bottom")]
    for _, g in b10.groupby("unit"):
        assert g.sort_values("rank")["activation"].is_monotonic_increasing
    assert t10["argmax_y"].between(0, 13).all() and (t10["map_h"] == 14).all()
    s10 = stats[stats.layer == "_blocks.10"].set_index("unit")
    assert (s10["count"] == 48).all() and (s10["hist_counts"].map(sum) == 48).all()
    top1 = t10[t10["rank"] == 0].set_index("unit")["activation"]
    assert (abs(s10["max"] - top1) < 1e-5).all()
    assert (s10["q01"] <= s10["q50"]).all() and (s10["q50"] <= s10["q99"]).all()
    assert not (run.root / "checkpoints").exists()  # cleaned after success


def test_mine_is_cached_when_inputs_unchanged(small_run, lite0):
    run, _ = small_run
    again = run_alone(MINE, run.root, lite0, Limited(bundled(), 48),  # batching does not
                      mine__layers=["_blocks.4", "_blocks.10"], mine__k=5,  # change the result:
                      mine__bottom_k=3, mine__batch_size=8, mine__workers=0)  # still cached
    assert again["cached"] is True


def _mine_args(out):
    return ["mine", "--images", "bundled", "--limit", "96", "--layer", "_blocks.10", "--k", "8",
            "--out", str(out), "-q", "--set", "mine.batch_size=8",
            "--set", "mine.checkpoint_every=1", "--set", "mine.workers=0"]


def _mine_cmd(out):
    return [sys.executable, "-m", "atlas", *_mine_args(out)]


@pytest.mark.slow
def test_sigkill_midway_then_resume_gives_identical_topk(tmp_path):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_mine_cmd(ref), check=True, capture_output=True)
    ckpt = killed / "checkpoints" / "mine-r0.pt"
    run = atlas_killed_at(ckpt, _mine_args(killed))  # at the first checkpoint
    assert run.returncode == -9, "the run finished without a checkpoint"
    assert not (killed / "topk.parquet").exists()
    state = torch.load(ckpt, weights_only=False)
    assert state["consumed"] == 8  # one batch
    subprocess.run(_mine_cmd(killed), check=True, capture_output=True)
    for table in ("topk", "images", "stats"):
        a = pd.read_parquet(ref / f"{table}.parquet")
        b = pd.read_parquet(killed / f"{table}.parquet")
        pd.testing.assert_frame_equal(a, b, check_exact=(table != "stats"))
