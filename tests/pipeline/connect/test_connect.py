"""The connect stage: drives (activation x gradient) between consecutive mined layers."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atlas.accent.split import split_forward
from atlas.data.loader import make_loader
from atlas.models.zoo import LoadedModel
from atlas.pipeline.connect.drive import DriveForward, NoPath
from atlas.pipeline.connect.stage import CONNECT, layer_pairs
from tests.helpers.mined import TWO_LAYERS, copy_run, first
from tests.helpers.stages import run_alone


def test_drive_is_activation_times_gradient_summed_over_positions(lite0_112, photos) -> None:
    images = photos[:3]
    rows = [(0, 5), (1, 5), (2, 40), (0, 40), (2, 0)]
    got = DriveForward(lite0_112, "_blocks.8", "_blocks.10")(images, rows)
    for r, (i, u) in enumerate(rows):  # one autograd pass per row, the plain way
        a, leaf, acts = split_forward(lite0_112, images[i:i + 1], "_blocks.8", ["_blocks.10"])
        (g,) = torch.autograd.grad(acts["_blocks.10"][0, u].mean(), leaf)
        want = (leaf * g)[0].flatten(1).sum(1).detach()
        torch.testing.assert_close(got[r], want, rtol=1e-4, atol=1e-5)
    mx = DriveForward(lite0_112, "_blocks.8", "_blocks.10", "max")(images, rows[:1])
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


def test_connect_lists_strongest_inputs_and_marks_the_shortcut(mined_two, lite0_112,
        tmp_path) -> None:
    run = copy_run(mined_two, tmp_path)
    info = run_alone(CONNECT, run.root, lite0_112, first(), mine__layers=TWO_LAYERS,
                     connect__top_n=3, connect__keep=4)
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
    d = DriveForward(lite0_112, "_blocks.8", "_blocks.10")(imgs, [(i, 7) for i in range(len(ids))])
    assert row["drive"] == pytest.approx(float(d[:, int(row["input_unit"])].mean()), rel=1e-4)


def test_one_mined_layer_gives_an_empty_connections_table(mined_two, lite0_112,
        tmp_path) -> None:
    run = copy_run(mined_two, tmp_path)
    info = run_alone(CONNECT, run.root, lite0_112, first(), mine__layers=["_blocks.10"])
    assert info["pairs"] == {} and run.has("connections")
    assert run.read_table("connections").empty
    assert layer_pairs(lite0_112, ["_blocks.10", "_blocks.3", "_blocks.8"]) == [
        ("_blocks.3", "_blocks.8"), ("_blocks.8", "_blocks.10")]
    assert layer_pairs(lite0_112, ["_blocks.10", "_blocks.10/sae"]) == []  # a basis: not a module
