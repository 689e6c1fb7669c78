"""End-to-end builds in subprocesses: determinism, SIGKILL + resume, the site opening early
and filling in, torchrun with gloo."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.helpers.kill import atlas_killed_at

CONFIG = """
name = "tiny"
units = "0:3"
[data]
images = "bundled"
limit = 40
[mine]
layers = ["_blocks.10"]
k = 8
bottom_k = 2
batch_size = 8
checkpoint_every = 1
workers = 0
[select]
k = 2
[accent]
steps = 3
batch_size = 2
reg_layer = "_blocks.4"
[accent.augment]
crops = 2
"""
TABLES = ("images", "topk", "seeds", "accents", "embed", "layer_map", "vis")
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _args(cfg: Path, out: Path) -> list[str]:
    return ["build", str(cfg), "--out", str(out), "-q", "--set", f'site.out="{out}-site"',
            "--device", "cpu"]


def _cmd(cfg: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "atlas", *_args(cfg, out)]


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(out / f"{t}.parquet") for t in TABLES}


def _state(out: Path) -> str | None:
    manifest = out / "manifest.json"
    return json.loads(manifest.read_text()).get("build", {}).get("state") if manifest.exists() \
        else None


def _assert_same(a: dict, b: dict) -> None:
    for t in TABLES:
        pd.testing.assert_frame_equal(a[t], b[t], check_exact=True, obj=t)


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    root = tmp_path_factory.mktemp("build")
    cfg = root / "tiny.toml"
    cfg.write_text(CONFIG)
    out = root / "ref"
    done = subprocess.run(_cmd(cfg, out), env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "atlas build:" in done.stdout and "6 accentuations" in done.stdout
    assert not (out / "checkpoints").exists() and not (out / "atlas.lock").exists()
    return cfg, out, _tables(out)


@pytest.mark.slow
def test_build_is_deterministic(reference, tmp_path):
    cfg, _, ref = reference
    subprocess.run(_cmd(cfg, tmp_path / "again"), env=ENV, check=True, capture_output=True)
    _assert_same(ref, _tables(tmp_path / "again"))
    assert len(ref["accents"]) == 6 and set(ref["accents"]["unit"]) == {0, 1, 2}
    assert (ref["layer_map"]["kind"] == "accent").sum() == 6


@pytest.mark.slow
def test_sigkill_at_two_moments_then_resume(reference, tmp_path):
    cfg, _, ref = reference
    out = tmp_path / "killed"
    # 1) at mining's first checkpoint, 2) at accentuation's first part file
    for marker in ("checkpoints/mine-r0.pt", "checkpoints/accents-*/*.pt"):
        killed = atlas_killed_at(out / marker, _args(cfg, out), ENV)
        assert killed.returncode == -9, f"the build ended before {marker} appeared"
        assert _state(out) != "done"
    subprocess.run(_cmd(cfg, out), env=ENV, check=True, capture_output=True)
    _assert_same(ref, _tables(out))


@pytest.mark.slow
def test_site_opens_early_with_every_unit_pending_then_fills_in(reference, tmp_path):
    """Killed as soon as the first render exists (right after mining and seed selection): that
    site already has every unit with its natural images, the chosen units marked pending and
    the others saying why they are not accentuated. Resumed, the build ends with none pending
    and the same tables as an uninterrupted build."""
    cfg, _, ref = reference
    out = tmp_path / "early"
    site = Path(f"{out}-site")
    killed = atlas_killed_at(site / "index.html", [*_args(cfg, out), "--set", "site.refresh=1"],
                             ENV)
    assert killed.returncode == -9, "the build ended before its site first appeared"
    assert not (out / "accents.parquet").exists()  # the first render comes before any
    index = (site / "index.html").read_text()
    assert index.count('class="card"') == 112 and "Build in progress" in index
    assert index.count("accentuation pending</span>") == 3  # units 0:3
    assert index.count(">not accentuated</span>") == 109
    first = (site / "units/_blocks.10/0.html").read_text()
    assert "Accentuation pending" in first and "Top images" in first
    assert "asked for units 0:3 only" in (site / "units/_blocks.10/40.html").read_text()

    done = subprocess.run(_cmd(cfg, out), env=ENV, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    _assert_same(ref, _tables(out))
    assert _state(out) == "done"
    index = (site / "index.html").read_text()
    assert "Build in progress" not in index and "accentuation pending" not in index
    assert index.count(">not accentuated</span>") == 109
    page = (site / "units/_blocks.10/0.html").read_text()
    assert "pending" not in page and "Feature visualization" in page
    flat = json.loads((site / "data/map/_blocks.10.js").read_text().rstrip(";\n").split(
        "]=", 1)[1])  # (window.ATLAS_MAPS=...)["_blocks.10"]=[x, y, unit, rank, ...]
    units = {flat[i + 2] for i in range(0, len(flat), 4) if flat[i + 3] == -1}
    assert len(units) == 112  # every unit on the layer map, accentuated or not


@pytest.mark.slow
def test_torchrun_two_gloo_processes_equal_single_process(reference, tmp_path):
    cfg, _, ref = reference
    out = tmp_path / "dist"
    # torchrun (as a module: a virtual environment may lack its script) runs "-m atlas" per
    # process; --standalone: the rendezvous on a free port the system picks, so parallel runs
    # never collide
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
           *_cmd(cfg, out)[1:]]
    done = subprocess.run(cmd, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    _assert_same(ref, _tables(out))
