"""Features beyond channels: a basis read at the hook, its files, its stage and its exactness."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file

from atlas.cli.main import main
from atlas.data.sources import Limited, bundled
from atlas.models import basis as bases
from atlas.models.basis import Basis, ablate
from atlas.pipeline.basis.stage import BASIS
from atlas.pipeline.describe.causal_stage import CAUSAL
from atlas.pipeline.describe.stage import DESCRIBE
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.rundir import RunDir
from tests.helpers.stages import run_alone

C = 112  # channels of Lite0's _blocks.10


def _identity(folder: Path) -> Path:
    eye = torch.eye(C)
    return bases.save(Basis("id", "file", "_blocks.10", eye, torch.zeros(C), eye.clone(),
                            torch.zeros(C), activation="none"), folder)


def _described(root: Path, model, **basis) -> RunDir:
    kw = {f"basis__{k}": v for k, v in basis.items()}
    src = Limited(bundled(), 24)
    for stage in (BASIS, MINE, DESCRIBE, CAUSAL):
        run_alone(stage, root, model, src, mine__k=6, mine__bottom_k=2, mine__workers=0,
                  describe__top_n=4, **kw)
    return RunDir(root)


def _rows(run: RunDir, table: str, layer: str, units: dict[int, int] | None = None
          ) -> pd.DataFrame:
    """``table``'s rows of ``layer`` with the layer column dropped (and units renumbered)."""
    df = run.read_table(table)
    df = df[df["layer"] == layer].drop(columns="layer")
    if units is not None:
        df = df[df["unit"].isin(units)].assign(unit=lambda d: d["unit"].map(units))
    return df.sort_values([c for c in ("unit", "kind", "field", "rank") if c in df]
                          ).reset_index(drop=True)


def _same(a: pd.DataFrame, b: pd.DataFrame) -> None:
    assert len(a) == len(b)
    for col in a.columns:
        for x, y in zip(a[col], b[col], strict=True):
            assert np.array_equal(np.asarray(x), np.asarray(y)), col


def test_identity_basis_reproduces_the_channel_tables_bit_for_bit(lite0_112, tmp_path):
    run = _described(tmp_path / "run", lite0_112, kind="file", file=str(_identity(tmp_path)),
                     name="id")
    for table in ("topk", "stats", "where", "classes", "causal"):
        _same(_rows(run, table, "_blocks.10/id"), _rows(run, table, "_blocks.10"))
    for table in ("topk", "stats", "where", "causal"):
        assert len(_rows(run, table, "_blocks.10/id")), table
    assert len(run.read_table("basis")) == C


def test_one_hot_directions_reproduce_their_channels(lite0_112, tmp_path):
    d = np.zeros((2, C), np.float32)
    d[0, 3], d[1, 7] = 1.0, 1.0
    np.save(tmp_path / "dirs.npy", d)
    (tmp_path / "dirs.txt").write_text("three\nseven\n")
    run = _described(tmp_path / "run", lite0_112, kind="directions",
                     file=str(tmp_path / "dirs.npy"))
    for table in ("topk", "stats", "where"):
        _same(_rows(run, table, "_blocks.10/directions"),
              _rows(run, table, "_blocks.10", {3: 0, 7: 1}))
    # the same ablation (bit for bit), but the rest of the network runs on batches of another
    # size (2 ablated units per image here, up to 112 for the channels), which CPU kernels
    # round differently in the last bits of the logits
    a = _rows(run, "causal", "_blocks.10/directions")
    b = _rows(run, "causal", "_blocks.10", {3: 0, 7: 1})
    assert len(a) and a[["unit", "rank", "class_index", "images"]].equals(
        b[["unit", "rank", "class_index", "images"]])
    assert np.allclose(a["drop"], b["drop"], rtol=1e-4, atol=1e-7)
    names = run.read_table("basis").set_index("unit")["name"]
    assert names.tolist() == ["three", "seven"]


def test_saelens_layout_round_trips_through_atlas_format(tmp_path):
    g = torch.Generator().manual_seed(0)
    c, f = 6, 10
    w = {"W_enc": torch.randn(c, f, generator=g), "b_enc": torch.randn(f, generator=g),
         "W_dec": torch.randn(f, c, generator=g), "b_dec": torch.randn(c, generator=g)}
    save_file(w, str(tmp_path / "sae_weights.safetensors"))
    (tmp_path / "cfg.json").write_text(json.dumps(
        {"d_in": c, "d_sae": f, "hook_name": "blocks.3.hook_resid_post",
         "architecture": "topk", "activation_fn_kwargs": {"k": 3}}))
    b = bases.load(tmp_path, layer="_blocks.3")
    x = torch.randn(5, c, generator=g)
    pre = (x - w["b_dec"]) @ w["W_enc"] + w["b_enc"]
    vals, idx = pre.topk(3, dim=1)
    want = torch.zeros_like(pre).scatter(1, idx, vals.clamp_min(0))
    assert b.kind == "file" and b.k == 3 and b.size == f and b.width == c
    assert torch.allclose(b.codes(x), want, atol=1e-5)
    assert torch.allclose(b.decode(b.codes(x)), want @ w["W_dec"] + w["b_dec"], atol=1e-5)
    again = bases.load(bases.save(b, tmp_path / "atlas"))
    assert torch.equal(again.codes(x), b.codes(x)) and again.layer == "_blocks.3"
    thr = torch.rand(f, generator=g)  # JumpReLU: a code fires above its feature's threshold
    save_file({**w, "threshold": thr}, str(tmp_path / "sae_weights.safetensors"))
    j = bases.load(tmp_path / "cfg.json", layer="_blocks.3")
    assert j.activation == "jumprelu"
    assert torch.allclose(j.codes(x), pre * (pre > thr), atol=1e-5)


def test_a_feature_ablation_moves_along_its_decoder_row():
    g = torch.Generator().manual_seed(1)
    b = Basis("s", "sae", "L", torch.randn(4, 3, generator=g), torch.zeros(4),
              torch.randn(4, 3, generator=g), torch.zeros(3), activation="relu")
    a = torch.randn(2, 3, 5, 5, generator=g)
    out = ablate(b, a, torch.tensor([1, 2]), torch.tensor([0.5, 0.0]))
    for i, f in enumerate((1, 2)):
        z = b.codes(a[i].permute(1, 2, 0))[..., f]
        want = a[i] + ((torch.tensor([0.5, 0.0])[i] - z)[None] * b.decoder[f][:, None, None])
        assert torch.allclose(out[i], want, atol=1e-5)


def _fails(argv: list[str], capsys) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("atlas: error: "), err
    return err[0]


@pytest.mark.parametrize("case", ["width", "corrupt", "missing", "names"])
def test_a_bad_basis_is_one_line_before_mining(case, tmp_path, capsys):
    path = tmp_path / "b.npy"
    if case == "width":
        np.save(path, np.ones((2, 50), np.float32))
    elif case == "corrupt":
        path = tmp_path / "b.safetensors"
        path.write_bytes(os.urandom(200))
    elif case == "names":
        np.save(path, np.ones((2, C), np.float32))
        (tmp_path / "b.txt").write_text("only one\n")
    line = _fails(["mine", "--limit", "8", "--out", str(tmp_path / "run"), "-q",
                   "--set", 'basis.kind="directions"', "--set", f'basis.file="{path}"'], capsys)
    want = {"width": "has 50 input channels, but layer '_blocks.10' of efficientnet-lite0 has "
                     "112", "corrupt": "cannot be read", "missing": "does not exist",
            "names": "names 1 directions, the file holds 2"}[case]
    assert want in line
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_learned_basis_records_its_figures(lite0_112, tmp_path):
    run = RunDir(tmp_path)
    info = run_alone(BASIS, tmp_path, lite0_112, Limited(bundled(), 24), basis__kind="sae",
                     basis__features=64, basis__k=4, basis__steps=40, basis__batch_size=256,
                     basis__batch_topk=True, basis__finetune_steps=8, basis__refine=2,
                     basis__finetune_encoder=False)
    for key in ("explained_variance", "l0", "dead_fraction", "dense_fraction",
                "splice_top1_agreement"):
        assert 0 <= info[key] <= max(1.0, info["l0"]), key
    assert 0 <= info["splice_top1_agreement_held_out"] <= 1
    assert info["features"] == 64
    b = bases.load(run.basis_dir / "sae.json")
    assert b.activation == "jumprelu" and 0 < b.meta["threshold_l0"] <= 4 and b.refine == 2
    assert b.meta["finetuned"]["steps"] == 8 and b.meta["images"]["calibration"] >= 1
    assert b.size == 64 and b.width == C and b.meta["metrics"]["l0"] == info["l0"]
    table = run.read_table("basis")
    assert len(table) == 64 and all(len(c) == 8 for c in table["channels"])


def _mine_cmd(out: Path) -> list[str]:
    return [sys.executable, "-m", "atlas", "mine", "--limit", "16", "--out", str(out), "-q",
            "--set", "model.input_size=96", "--set", 'basis.kind="sae"',
            "--set", "basis.features=64", "--set", "basis.k=4", "--set", "basis.steps=400",
            "--set", "basis.batch_size=512", "--set", "basis.batch_topk=true",
            "--set", "basis.finetune_steps=40", "--set", "mine.workers=0"]


@pytest.mark.slow
@pytest.mark.parametrize("phase, at", [("train", 50), ("finetune", 10)])
def test_learning_resumes_after_a_kill_with_the_same_basis(tmp_path, phase, at):
    ref, killed = tmp_path / "ref", tmp_path / "killed"
    subprocess.run(_mine_cmd(ref), check=True, capture_output=True)
    proc = subprocess.Popen(_mine_cmd(killed), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        ck = list((killed / "checkpoints").glob(f"basis-*-{phase}.pt"))
        if ck:
            state = torch.load(ck[0], weights_only=False)
            if state["step"] >= at:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (killed / "basis" / "sae.safetensors").exists(), "finished before the kill"
    subprocess.run(_mine_cmd(killed), check=True, capture_output=True)
    assert (ref / "basis" / "sae.safetensors").read_bytes() == \
        (killed / "basis" / "sae.safetensors").read_bytes()
    for table in ("topk", "stats"):
        pd.testing.assert_frame_equal(pd.read_parquet(ref / f"{table}.parquet"),
                                      pd.read_parquet(killed / f"{table}.parquet"))


def test_concept_from_two_folders_is_a_named_direction(tmp_path, capsys):
    photos = bundled().root
    pos, neg = tmp_path / "fish", tmp_path / "rest"
    pos.mkdir()
    neg.mkdir()
    files = sorted(photos.glob("*.webp"))
    for f in [f for f in files if f.name.startswith("fishes-")][:16]:
        (pos / f.name).symlink_to(f)
    for f in [f for f in files if not f.name.startswith("fishes-")][:40]:
        (neg / f.name).symlink_to(f)
    out = tmp_path / "concepts.safetensors"
    argv = ["concept", "--positive", str(pos), "--negative", str(neg), "--layer", "_blocks.10",
            "--out", str(out)]
    assert main([*argv, "--name", "fish"]) == 0
    line = capsys.readouterr().out
    assert "concept 'fish' at _blocks.10: held-out accuracy" in line
    acc = float(line.split("accuracy ")[1].split("%")[0]) / 100
    assert acc >= 0.8  # fish photos are linearly separable at _blocks.10
    assert main([*argv, "--name", "not fish", "--positive", str(neg), "--negative",
                 str(pos)]) == 0
    b = bases.load(out, layer="_blocks.10")
    assert b.names == ("fish", "not fish") and b.size == 2 and b.width == C
    assert torch.allclose(b.encoder.norm(dim=1), torch.ones(2))
    line = _fails([*argv, "--name", "x", "--layer", "_blocks.8"], capsys)
    assert "holds directions of layer '_blocks.10'" in line


def test_feature_pages_say_what_a_direction_is_and_link_its_channels(lite0_112, tmp_path):
    from atlas.site.render import render_site

    d = np.zeros((2, C), np.float32)
    d[0, 3], d[1, :] = 1.0, 1.0
    np.save(tmp_path / "dirs.npy", d)
    (tmp_path / "dirs.txt").write_text("<script>alert(1)</script>\nall of them\n")
    run = _described(tmp_path / "run", lite0_112, kind="directions",
                     file=str(tmp_path / "dirs.npy"),
                     name="concepts")
    site = render_site(run.root, tmp_path / "site")
    pages = {p.name: p for p in (site / "units").glob("*/*.html")}
    feature = next(p for p in (site / "units").glob("*/0.html") if "concepts" in p.parent.name)
    html = feature.read_text()
    assert "What this direction is" in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)" not in html
    assert 'href="../../units/_blocks.10/3.html">channel 3</a>' in html  # made of channel 3
    assert "fires at positions" in html and len(pages) >= 2
    data = json.loads(feature.with_suffix(".json").read_text())
    assert data["feature"]["name"] == "<script>alert(1)</script>"
    assert data["feature"]["made_of"][0] == {"channel": 3, "weight": 1.0}
    assert data["feature"]["basis"]["kind"] == "directions"
