"""atlas validate / explain: the statistics, the sweep's region finder, attributions, outputs."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch import nn

from atlas.config.accent import AccentConfig, AugmentConfig
from atlas.config.fields import check
from atlas.config.validate import ValidateConfig
from atlas.data.sources import bundled
from atlas.errors import AtlasError
from atlas.evaluation.data import pick_units
from atlas.evaluation.pathway import (
    attributions,
    bootstrap_ci,
    drop_channel,
    own_channel,
    pearson,
    unit_correlations,
    unit_summary,
)
from atlas.evaluation.shortcut import shortcut_result, stream_layers
from atlas.evaluation.summary import charts, format_table
from atlas.evaluation.sweep import recommend, sensitive_region
from atlas.evaluation.validate import check_layers, first_target, validate
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel, load_model
from atlas.pipeline.results import (
    Claims,
    Closeness,
    Distribution,
    Interval,
    LayerResult,
    NaturalPairs,
    PathwayStats,
    ResultError,
    Shortcut,
    ValidationResult,
    read_result,
)
from tests.helpers.stages import resolved_for

TINY = AccentConfig(steps=2, canvas=96, augment=AugmentConfig(crops=1))


def test_pearson_identical_is_one_shuffled_is_low_negated_is_minus_one():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(1, 2000))
    assert pearson(v, v)[0, 0] == pytest.approx(1.0)
    assert pearson(v, -v)[0, 0] == pytest.approx(-1.0)
    assert pearson(3 * v + 7, v)[0, 0] == pytest.approx(1.0)  # scale and shift invariant
    assert abs(pearson(v, v[:, rng.permutation(2000)])[0, 0]) < 0.1


def test_unit_correlations_exclude_own_seed_and_rank_kinds():
    rng = np.random.default_rng(1)
    base = rng.normal(size=200)
    nat = base + 0.5 * rng.normal(size=(5, 200))
    acc = nat[:2].copy()  # identical to their own seeds (rows 0 and 1)
    vis = rng.normal(size=(2, 200))  # unrelated pathway
    rand = base * 0.3 + rng.normal(size=(4, 200))
    c = unit_correlations(nat, acc, vis, rand)
    assert c.accent_own_seed == pytest.approx(1.0)
    assert c.accent_natural < 0.95  # the trivial own-seed pairs were left out
    assert abs(c.accent_natural - c.natural_natural) < 0.1  # copies of naturals
    assert c.vis_natural < 0.2 < c.random_natural < c.natural_natural


def test_bootstrap_ci_brackets_the_mean_and_collapses_for_constants():
    rng = np.random.default_rng(2)
    v = rng.normal(0.5, 0.2, size=40)
    ci = bootstrap_ci(v, 1000, seed=0)
    assert ci.lo < ci.mean < ci.hi and ci.n == 40
    assert ci.hi - ci.lo == pytest.approx(2 * 1.96 * 0.2 / np.sqrt(40), rel=0.35)
    flat = bootstrap_ci(np.full(10, 0.3), 200)
    assert flat.lo == pytest.approx(0.3) and flat.hi == pytest.approx(0.3)


@pytest.mark.parametrize("mid", [-0.7, 0.3, 1.1])
def test_sensitive_region_finds_the_sigmoid_midpoint(mid):
    lams = np.logspace(-2, 2, 41)
    x = np.log10(lams)
    dist = 0.1 + 0.8 / (1 + np.exp((x - mid) / 0.25))  # far from seed at small lambda
    r = sensitive_region(lams, dist)
    lo, hi = r.steepest
    assert np.log10(lo) - 0.11 <= mid <= np.log10(hi) + 0.11

    def inverse(f):  # where the curve is a fraction f of the way from its seed-like end
        level = dist[-1] + f * (dist[0] - dist[-1])
        return mid + 0.25 * np.log(0.8 / (level - 0.1) - 1)

    assert np.log10(r.mid) == pytest.approx(inverse(0.5), abs=0.02)
    assert abs(inverse(0.5) - mid) < 0.1  # ~ the midpoint (exact when the ends saturate)
    assert np.log10(r.region) == pytest.approx([inverse(0.8), inverse(0.2)], abs=0.03)
    assert recommend(r) == float(f"{r.mid:.2g}")


def test_sensitive_region_rejects_bad_grids_and_flat_curves_have_no_region():
    with pytest.raises(ValueError):
        sensitive_region([1.0, 0.1, 10.0], [1, 2, 3])
    r = sensitive_region([0.1, 1.0, 10.0], [0.5, 0.5, 0.5])
    assert r.mid is None and r.region is None and recommend(r) is None


def test_config_errors_are_one_line_with_the_field(lite0):
    for bad, field in [(dict(units=1), "validate.units"), (dict(seeds=7), "validate.seeds"),
                       (dict(lambdas=[1.0, 0.1, 10.0]), "validate.lambdas")]:
        with pytest.raises(AtlasError, match=field) as e:
            check(ValidateConfig(**bad))
        assert "\n" not in str(e.value)
    with pytest.raises(AtlasError, match="no attribution layer runs before"):
        check_layers(lite0, ValidateConfig(layers=["_blocks.4"], attr_layers=["_blocks.8"]),
                     "_blocks.2")
    with pytest.raises(AtlasError, match="reg_layer"):
        check_layers(lite0, ValidateConfig(layers=["_blocks.3"], attr_layers=["_blocks.1"]),
                     "_blocks.4")
    with pytest.raises(AtlasError, match="closest: _blocks.10"):
        check_layers(lite0, ValidateConfig(layers=["_block.10"]), "_blocks.4")
    six = ValidateConfig(layers=["_blocks.6"])
    reg = resolved_for(lite0, first_target(lite0, six)).reg_layer
    assert check_layers(lite0, six, reg)["_blocks.6"] == ["_blocks.4"]
    with pytest.raises(AtlasError, match="at most 112"):
        pick_units(112, 113)
    assert pick_units(112, 4) == [0, 37, 74, 111]


def test_attributions_batched_equal_one_at_a_time_and_manual(lite0, photos):
    """One backward for the batch must give each image its own gradient (no leakage)."""
    units = torch.tensor([3, 50, 3, 99])
    x = photos[:4]
    batch = attributions(lite0, x, units, "_blocks.10", ["_blocks.4", "_blocks.8"], 4)
    single = [attributions(lite0, x[i:i + 1], units[i:i + 1], "_blocks.10", ["_blocks.4"], 1)
              for i in range(4)]
    assert batch["_blocks.4"].shape == (4, 40) and batch["_blocks.8"].shape == (4, 112)
    for i in range(4):
        assert torch.allclose(batch["_blocks.4"][i], single[i]["_blocks.4"][0], atol=1e-5,
                              rtol=1e-4)
    xi = x[1:2].clone().requires_grad_(True)
    acts = Probe(lite0, ["_blocks.4", "_blocks.10"])(xi)
    (g,) = torch.autograd.grad(acts["_blocks.10"][0, 50].mean(), acts["_blocks.4"])
    manual = (acts["_blocks.4"] * g).sum((2, 3))[0]
    assert torch.allclose(batch["_blocks.4"][1], manual, atol=1e-5, rtol=1e-4)


def test_validate_writes_documented_json_and_charts_and_caches(lite0, tmp_path, monkeypatch):
    cfg = ValidateConfig(layers=["_blocks.10"], units=2, naturals=3, randoms=2, images=24,
                         natural_pairs=6, sweep_units=1, lambdas=[0.1, 1.0, 10.0],
                         bootstrap=200, accent=TINY)
    resolved = resolved_for(lite0, first_target(lite0, cfg))
    res = validate(tmp_path, lite0, bundled(), cfg, resolved)
    path = tmp_path / "validation" / "validation.json"
    saved = read_result(path)
    assert saved == res and path.read_text() == res.to_json()  # the file round-trips exactly
    assert {"format", "key", "model", "source", "config", "layers", "natural_pairs", "sweep",
            "seconds", "charts"} <= set(json.loads(path.read_text()))
    lay = saved.layers["_blocks.10"]
    assert lay.units == [0, 111] and lay.attr_layers == ["_blocks.4", "_blocks.6", "_blocks.8"]
    assert set(lay.pathway) == {"_blocks.4", "_blocks.6", "_blocks.8", "all"}
    assert lay.pathway["_blocks.4"].natural_natural.n == lay.pathway["all"].accent_minus_vis.n == 2
    assert lay.closeness.accent_distance.n == 2 and len(lay.per_unit) == 2
    assert len(saved.natural_pairs.distance) == 6
    assert len(saved.sweep.distance[0]) == 3 and saved.sweep.rule
    assert len(saved.charts) == 5
    for rel in saved.charts:
        ET.fromstring((tmp_path / rel).read_text())  # well-formed SVG
    assert "pathway similarity" in format_table(res) and "recommended lambda" in format_table(res)
    sc = lay.shortcut  # _blocks.9 and _blocks.10 add _blocks.8's output back unchanged
    assert sc.layers == ["_blocks.8"] and set(sc.pathway) == {"_blocks.8", "all"}
    assert sc.pathway["all"].vis_natural.n == 2 and sc.rule and sc.claims is not None
    assert sc.own_channel["_blocks.8"].chance == pytest.approx(1 / 112)
    for u in lay.per_unit:  # the "all" average mixes unchanged _blocks.4 and _blocks.6 in
        plain, cut = u.correlations, u.correlations_no_shortcut
        assert cut["_blocks.4"] == plain["_blocks.4"] and cut["_blocks.8"] != plain["_blocks.8"]
        want = np.mean([cut[a].vis_natural for a in lay.attr_layers])
        assert cut["all"].vis_natural == pytest.approx(want)
    table = format_table(res)
    assert "shortcut removed" in table and "own channel at _blocks.8" in table
    assert format_table(saved) == table
    assert "_blocks.8 -own" in (tmp_path / "validation" / "pathway-_blocks.10.svg").read_text()

    def boom(*a, **k):
        raise AssertionError("recomputed a finished validation")

    monkeypatch.setattr("atlas.evaluation.validate.layer_results", boom)
    assert validate(tmp_path, lite0, bundled(), cfg, resolved).key == saved.key
    path.write_text(path.read_text()[:200])  # truncated: measured again and replaced
    monkeypatch.undo()
    assert validate(tmp_path, lite0, bundled(), cfg, resolved).key == saved.key
    assert read_result(path).key == saved.key


def test_svg_labels_are_escaped():
    from atlas.evaluation.charts import bar_chart, line_chart

    svg = bar_chart("<b>&", "y", ["<script>"], ["s"], [[0.5]], [[0.4]], [[0.6]])
    root = ET.fromstring(svg)
    assert "<script>" not in svg and any(t.text == "<script>" for t in root.iter()
                                         if t.tag.endswith("text"))
    ET.fromstring(line_chart("t", "y", [0.1, 1, 10], {"a": [1, 2, 3]}, [0.5, 2], 1.0))


def test_claims_use_the_issue_thresholds():
    from atlas.evaluation.layer import claims

    def res(an, nn_, vn):
        ci = {k: Interval(v, v, v, 4) for k, v in (("accent_natural", an),
                                                   ("natural_natural", nn_),
                                                   ("vis_natural", vn))}
        zero = Interval(0.0, 0.0, 0.0, 4)
        return PathwayStats(**ci, random_natural=zero, accent_own_seed=zero,
                            accent_minus_natural=zero, accent_minus_vis=zero)

    assert claims(res(0.50, 0.51, 0.29)) == Claims(accent_ge_natural=True, accent_beats_vis=True,
                                                   margin=0.02, gap=0.2)
    assert not claims(res(0.48, 0.51, 0.10)).accent_ge_natural
    assert not claims(res(0.50, 0.40, 0.31)).accent_beats_vis


def test_unit_images_reuse_the_runs_topk(lite0, tmp_path):
    import pandas as pd

    from atlas.evaluation.data import unit_images
    from atlas.pipeline.rundir import RunDir

    src = bundled()
    ids = [r.image_id for r in src.records]
    rows = [("_blocks.10", u, "top", r, ids[p], 1.0, 0, 0, 7, 7)
            for u, ps in ((0, [5, 6, 7]), (111, [9, 3, 1])) for r, p in enumerate(ps)]
    run = RunDir(tmp_path)
    run.write_table("topk", pd.DataFrame(rows, columns=["layer", "unit", "kind", "rank",
                                                        "image_id", "activation", "argmax_y",
                                                        "argmax_x", "map_h", "map_w"]))
    ui = unit_images(lite0, src, run, "_blocks.10", 2, 3, 4, 20, seed=0)
    assert ui.units == [0, 111] and ui.top == [[5, 6, 7], [9, 3, 1]]
    assert all(len(r) == 4 and not set(r) & set(t) for r, t in zip(ui.random, ui.top, strict=True))
    fresh = unit_images(lite0, src, None, "_blocks.10", 2, 3, 4, 20, seed=0)
    assert fresh.top != ui.top and len(fresh.top[0]) == 3  # mined here instead


class _Residual(nn.Module):
    """``x + scale * conv(x)``, optionally followed by a ReLU (torchvision ResNet style)."""

    def __init__(self, c: int, scale: float, relu: bool):
        super().__init__()
        self.conv, self.scale, self.relu = nn.Conv2d(c, c, 3, padding=1, bias=False), scale, relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x + self.scale * self.conv(x)
        return torch.relu(y) if self.relu else y


def _tiny_resnet(scale: float, relu: bool = False) -> LoadedModel:
    """stem (8 ch) -> pre (12 ch, no shortcut) -> b1, b2 (identity shortcuts) -> down (12 ch,
    stride 2, no shortcut) -> b3 (identity shortcut): one stream per grid."""
    torch.manual_seed(0)
    m = nn.Sequential(OrderedDict(
        stem=nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU()),
        pre=nn.Sequential(nn.Conv2d(8, 12, 3, padding=1), nn.ReLU()),
        b1=_Residual(12, scale, relu), b2=_Residual(12, scale, relu),
        down=nn.Conv2d(12, 12, 3, stride=2, padding=1), b3=_Residual(12, scale, relu))).eval()
    for p in m.parameters():
        p.requires_grad_(False)
    return LoadedModel("tiny-resnet", m, 16, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0),
                       channels_last=False)


def test_stream_rule_same_channels_and_grid_on_synthetic_torchvision_and_lite0(lite0):
    tiny = _tiny_resnet(0.1)
    assert stream_layers(tiny, "b2", ["stem", "pre", "b1"]) == ["pre", "b1"]
    assert stream_layers(tiny, "b3", ["pre", "b1", "down"]) == ["down"]  # 12 ch, other grid
    r18 = load_model("resnet18", "none")
    assert stream_layers(r18, "layer2.1", ["layer1.1", "layer2.0"]) == ["layer2.0"]
    assert stream_layers(r18, "layer3.1", ["layer2.1", "layer3.0"]) == ["layer3.0"]
    attr = ["_blocks.4", "_blocks.6", "_blocks.8"]
    assert stream_layers(lite0, "_blocks.10", attr) == ["_blocks.8"]
    assert stream_layers(lite0, "_blocks.12", attr) == []  # 192 channels from _blocks.11 on


@pytest.mark.parametrize("relu", [False, True])
def test_pure_identity_shortcut_puts_all_attribution_in_the_own_channel(relu):
    """With the residual branches at zero, t = mean of pre[u] (through the ReLUs): the
    attribution at pre is exactly that mean in channel u and zero elsewhere."""
    tiny = _tiny_resnet(0.0, relu)
    x = torch.rand(3, 3, 16, 16)
    v = attributions(tiny, x, torch.tensor([5, 5, 5]), "b2", ["pre"])["pre"]
    pre = Probe(tiny, ["pre"])(x)["pre"]
    assert torch.allclose(v[:, 5], pre[:, 5].mean((1, 2)), atol=1e-6)
    assert drop_channel(v.numpy(), 5).shape == (3, 11) and not drop_channel(v.numpy(), 5).any()
    assert own_channel(v.numpy(), 5) == {"share": pytest.approx(1.0), "top": 1.0}


class _Linear1x1(nn.Module):
    """``x + conv1x1(x)`` with given weights: a residual block whose pathways are known."""

    def __init__(self, w: torch.Tensor):
        super().__init__()
        self.conv = nn.Conv2d(w.shape[0], w.shape[0], 1, bias=False)
        self.conv.weight.data = w[:, :, None, None].clone()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


def test_removing_the_shortcut_leaves_exactly_the_branch_pathway():
    """A linear model: pre = M x + b (channel 0 offset to stay positive), b1 = pre + W pre.
    For unit 0 of b1 the attribution at pre is m * (e_0 + W[0]) with m the channel means:
    the identity term m_0 swamps it, so images of unrelated colours correlate ~1. Without
    channel 0 what is left is the branch's pathway m * W[0], whose correlation is about 0."""
    g = torch.Generator().manual_seed(0)
    pre = nn.Conv2d(3, 6, 1)
    pre.weight.data = torch.randn(6, 3, 1, 1, generator=g)
    pre.bias.data = torch.tensor([3.0, 0, 0, 0, 0, 0])
    w = 0.1 * torch.randn(6, 6, generator=g)
    m = nn.Sequential(OrderedDict(pre=pre, b1=_Linear1x1(w))).eval().requires_grad_(False)
    model = LoadedModel("linear", m, 8, (0.5, 0.5, 0.5), (1.0, 1.0, 1.0), channels_last=False)
    x = torch.rand(8, 3, 1, 1, generator=g).expand(8, 3, 8, 8).contiguous()  # flat colours
    v = attributions(model, x, torch.zeros(8, dtype=torch.long), "b1", ["pre"])["pre"].numpy()
    means = Probe(model, ["pre"])(x)["pre"].mean((2, 3)).numpy()
    np.testing.assert_allclose(v, means * (np.eye(6)[0] + w[0].numpy()), atol=1e-5)
    np.testing.assert_allclose(drop_channel(v, 0), (means * w[0].numpy())[:, 1:], atol=1e-5)
    off = ~np.eye(8, dtype=bool)
    assert pearson(v, v)[off].mean() > 0.99
    assert abs(pearson(*[drop_channel(v, 0)] * 2)[off].mean()) < 0.2
    assert own_channel(v, 0)["top"] == 1.0 and own_channel(v, 0)["share"] > 0.9  # chance 1/6
    vectors = {k: {"pre": v[i:i + 2]} for k, i in (("natural", 0), ("accent", 2), ("vis", 4),
                                                  ("random", 6))}
    section, rows = shortcut_result([0], [vectors], ["pre"], ["pre"], 200, 0)
    assert section.layers == ["pre"] and set(section.pathway) == {"pre", "all"}
    assert section.own_channel["pre"].share.vis.mean > 0.9
    plain = unit_summary(vectors, ["pre"])["pre"]
    assert plain.vis_natural > 0.99 and abs(rows[0]["pre"].vis_natural) < 0.6
    assert shortcut_result([0], [vectors], ["pre"], [], 200, 0) == (
        Shortcut(rule=section.rule, layers=[], pathway=None, own_channel={}, claims=None), None)


def test_drop_removes_only_the_named_layers_channel_and_changes_what_it_should():
    """Synthetic vectors: a shared, large own-channel term on top of a natural pathway that
    accentuations share and visualizations do not. Plain: vis<->natural looks natural;
    shortcut removed: it falls to chance while accent<->natural stays."""
    rng = np.random.default_rng(3)
    c, u = 60, 7
    path = rng.normal(size=c)
    own = np.zeros(c)
    own[u] = 40.0

    def rows(n, shared):
        return own + shared * path + 0.5 * rng.normal(size=(n, c))

    vec = {"natural": rows(5, 1.0), "accent": rows(2, 1.0), "vis": rows(2, 0.0),
           "random": rows(4, 0.0)}
    vectors = {k: {"a": v, "b": v.copy()} for k, v in vec.items()}
    plain = unit_summary(vectors, ["a", "b"])
    cut = unit_summary(vectors, ["a", "b"], drop={"a": u})
    assert plain["a"].vis_natural > 0.8  # the shortcut alone makes them look alike
    assert cut["a"].vis_natural < 0.2 and cut["a"].accent_natural > 0.6
    assert cut["b"] == plain["b"]
    assert cut["all"].vis_natural == pytest.approx(
        (cut["a"].vis_natural + plain["b"].vis_natural) / 2)
    assert own_channel(vec["vis"], u)["top"] == 1.0


def test_lite0_blocks8_own_channel_outweighs_chance_on_photos(lite0, photos):
    """The premise on the real model: at _blocks.8, unit u of _blocks.10's own channel takes
    many times its 1/112 share of the natural photos' attribution (identity shortcuts)."""
    shares = []
    for u in (3, 50, 99):
        v = attributions(lite0, photos, torch.full((8,), u), "_blocks.10", ["_blocks.8"])
        shares.append(own_channel(v["_blocks.8"].numpy(), u)["share"])
    assert np.mean(shares) > 4 / 112


def _small_result() -> ValidationResult:
    """A one-layer result written before the shortcut variant existed (no ``shortcut``)."""
    ci = Interval(0.5, 0.4, 0.6, 2)
    p = PathwayStats(*[ci] * 7)
    d = Distribution.of([0.5, 1.0, 2.0])
    lay = LayerResult(units=[0, 1], attr_layers=["x"], pathway={"x": p, "all": p},
                      claims=Claims(True, False, 0.02, 0.2), per_unit=[],
                      closeness=Closeness(*[d] * 8, reg_layer="r"))
    return ValidationResult(
        key="k", model="m", source="s", layers={"L": lay}, sweep=None, seconds={"total": 1},
        natural_pairs=NaturalPairs("r", [1.0, 1.2]),
        config={"units": 2, "naturals": 3, "seeds": 1, "randoms": 2,
                "accent": {"steps": 2, "lam": 1.0, "canvas": 96, "augment": {"crops": 1},
                           "reg_layer": "r"}})


def test_report_without_a_shortcut_section_still_formats():
    """Results written before the variant existed have no ``shortcut``: no second table, and
    the file still reads (the field's default)."""
    res = _small_result()
    data = res.to_dict()
    assert "shortcut" not in data["layers"]["L"]
    assert ValidationResult.from_dict(data) == res
    assert "shortcut removed" not in format_table(res)
    assert "-own" not in charts(res)["validation/pathway-L.svg"]
    res.layers["L"].shortcut = Shortcut(rule="r", layers=[], pathway=None, own_channel={},
                                        claims=None)
    assert "L           no attribution layer on its residual stream" in format_table(res)


def test_a_long_target_name_keeps_its_own_column():
    """A feature layer's name (``_blocks.10/sae``) is longer than the default column: the
    target column widens, so the attribution layer never runs into it."""
    res = _small_result()
    res.layers = {"_blocks.10/sae": res.layers["L"]}
    rows = [ln for ln in format_table(res).splitlines() if ln.startswith("_blocks.10/sae")]
    assert rows and all(ln.startswith("_blocks.10/sae  ") for ln in rows)


def _edit(data: dict, path: str, value: object) -> dict:
    """``data`` with the value at a dotted path (``layers.L.claims``) set, or removed (...)."""
    out = json.loads(json.dumps(data))
    *head, last = path.split(".")
    node = out
    for k in head:
        node = node[k]
    if value is ...:
        del node[last]
    else:
        node[last] = value
    return out


@pytest.mark.parametrize("path,value,match", [
    ("format", ..., "has format None; this atlas reads format 1"),
    ("format", 0, "has format 0; this atlas reads format 1"),
    ("format", True, "has format True"),
    ("layers.L.claims", ..., r"layers\['L'\]\.claims is missing"),
    ("layers.L.closeness.accent_gain.median", "x",
     r"layers\['L'\]\.closeness\.accent_gain\.median: expected a number, got \"x\""),
    ("layers.L.units", [0, 1.5], r"units\[1\]: expected a whole number, got 1.5"),
    ("layers.L.pathway", {"x": None}, r"pathway\['x'\]: expected a JSON object, got null"),
    ("layers.L.attr_layers", ["x", "y"], "pathway lacks 'y'"),
    ("natural_pairs.distance", [], "distance is empty"),
    ("layers.L.claims.accent_ge_natural", 1, "expected true or false, got 1"),
    ("seconds", [1], "seconds: expected a JSON object, got \\[1\\]"),
    ("layers.L.shortcut", {"rule": "r", "layers": ["x"], "pathway": None, "own_channel": {},
                           "claims": None}, "pathway and claims must be given"),
])
def test_a_bad_result_is_one_line_naming_the_field(tmp_path, path, value, match):
    good = _small_result().to_dict()
    with pytest.raises(ResultError, match=match) as e:
        ValidationResult.from_dict(_edit(good, path, value), "f.json")
    assert "\n" not in str(e.value) and str(e.value).startswith("f.json")
    assert str(e.value).endswith("re-run `atlas validate` (it replaces the file)")


@pytest.mark.parametrize("text,match", [
    ("", "is not readable JSON"), ("{not json", "is not readable JSON"),
    (b"\xff\xfe{}", "is not readable JSON"), ("[" * 100_000, "is not readable JSON"),
    ("[1, 2]", "is not a validation result \\(a JSON array\\)"),
    ('"text"', "a JSON string"), ('{"format": 99}', "has format 99")])
def test_unreadable_files_are_one_line(tmp_path, text, match):
    path = tmp_path / "validation.json"
    (path.write_bytes if isinstance(text, bytes) else path.write_text)(text)
    with pytest.raises(ResultError, match=match) as e:
        read_result(path)
    assert "\n" not in str(e.value) and repr(str(path)) in str(e.value)
    whole = _small_result().to_json()
    path.write_text(whole[: len(whole) // 2])  # truncated mid-way
    with pytest.raises(ResultError, match="is not readable JSON"):
        read_result(path)
    with pytest.raises(ResultError, match="cannot be read"):
        read_result(tmp_path / "absent.json")


def test_nan_and_infinite_numbers_survive_the_file():
    res = _small_result()
    res.layers["L"].closeness.accent_gain = Distribution.of([1.0, math.nan, math.inf])
    res.layers["L"].pathway["x"] = replace(res.layers["L"].pathway["x"],
                                           vis_natural=Interval(math.nan, -math.inf, math.inf, 2))
    back = ValidationResult.from_json(res.to_json())
    gain = back.layers["L"].closeness.accent_gain
    assert math.isnan(gain.values[1]) and gain.values[2] == math.inf and math.isnan(gain.mean)
    vis = back.layers["L"].pathway["x"].vis_natural
    assert math.isnan(vis.mean) and (vis.lo, vis.hi) == (-math.inf, math.inf)
    assert "nan" in format_table(back)  # the terminal shows what was measured


def test_the_writer_refuses_what_the_reader_would():
    res = _small_result()
    res.layers["L"].units = [np.int64(0), 1]  # a numpy scalar is no JSON number
    with pytest.raises(TypeError, match=r"units\[0\]: expected a whole number"):
        res.to_json()
    res = _small_result()
    res.layers["L"].pathway.pop("all")
    with pytest.raises(TypeError, match="pathway lacks 'all'"):
        res.to_dict()
