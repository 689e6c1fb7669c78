import argparse
import subprocess
import sys

import pytest

from atlas.cli.main import parser
from atlas.config.load import TREE
from atlas.config.sections import SiteConfig
from atlas.config.tree import build_config
from atlas.config.units import check_units, parse_layer_unit, parse_layer_units, parse_units
from atlas.errors import AtlasError


@pytest.mark.parametrize("name", ["bundled", "resnet50-folder", "hf-dataset"])
def test_example_configs_load(name):
    cfg = build_config(argparse.Namespace(config=name))
    assert cfg.mine.layers and cfg.select.k >= 1 and cfg.run_dir.startswith("runs/")


def test_flags_override_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\n[accent]\nlam = 3\nsteps = 7\n[mine]\nk = 9\n')
    args = parser().parse_args(["build", str(path), "--steps", "5",
                                "--set", 'accent.param="maco"', "--crops", "3"])
    cfg = build_config(args)
    assert (cfg.accent.lam, cfg.accent.steps, cfg.accent.param) == (3.0, 5, "maco")
    assert cfg.accent.augment.crops == 3
    assert cfg.mine.k == 9 and cfg.run_dir == "runs/x"


def test_every_command_reads_the_same_tree(tmp_path):
    """validate, render and report take the TOML file and --set like build (one home each)."""
    path = tmp_path / "c.toml"
    path.write_text('[site]\nthumb_px = 96\nreport_px = 64\n[validate]\nunits = 4\n'
                    '[accent]\nlam = 2\n')
    v = build_config(parser().parse_args(["validate", str(path), "--naturals", "3",
                                          "--set", "validate.sweep_units=1", "--lam", "5"]))
    assert (v.validate.units, v.validate.naturals, v.validate.sweep_units) == (4, 3, 1)
    assert v.accent.lam == 5.0
    r = build_config(parser().parse_args(["render", "RUN", "--config", str(path), "--out", "s2",
                                          "--set", "site.title='T'"]))
    assert (r.site.thumb_px, r.site.out, r.site.title) == (96, "s2", "T")
    rep = build_config(parser().parse_args(["report", "RUN", "--units", "a:1", "--config",
                                            str(path)]))
    assert rep.site.report_px == 64
    with pytest.raises(AtlasError, match="unknown config key 'validate.accent'"):
        build_config(validate__accent={"lam": 1})  # [accent] is its only home
    assert "accent" not in build_config().to_dict()["validate"]


def test_flags_name_their_config_key():
    text = parser().parse_args(["build"])
    assert all(k.startswith(TREE) for k in vars(text) if "." in k)
    helps = parser()._subparsers._group_actions[0].choices["validate"].format_help()
    assert "[validate.units]" in helps and "[accent.lam]" in helps


@pytest.mark.parametrize("override, message", [
    ({"accent__lamda": 1}, "unknown config key 'accent.lamda'; closest: accent.lam"),
    ({"mine__k": 0}, "mine.k must be an integer in [1, 10000], got 0"),
    ({"accent__param": "wavelet"}, "accent.param must be one of fourier, maco, pixel"),
    ({"accent__target": "direction"}, "accent.target must be one of mean, max, neuron, got"),
    ({"select__method": "best"}, "select.method"),
    ({"units": "a:b"}, "units must look like '0:32' or '1,5,9'"),
    ({"units": "5:2"}, "units '5:2' select no unit"),
    ({"device": "tpu"}, "device must be one of"),
    ({"site__thumb_px": 4}, "site.thumb_px must be an integer in [16, 1024], got 4"),
    ({"site__reports_max_units": -5}, "site.reports_max_units must be an integer >= -1"),
    ({"site__thumb": 64}, "unknown config key 'site.thumb'; closest: site.thumb_px"),
    ({"validate__units": 1}, "validate.units must be an integer in [2, 100000], got 1"),
    ({"device": "cudaaa"}, "device must be one of auto, cpu, cuda, cuda:N, mps, got 'cudaaa'"),
    ({"device": "cuda:x"}, "device must be one of"),
    ({"device": " "}, "device must not be empty"),
    ({"name": ".."}, "name must be a folder name"),
    ({"name": "a/b"}, "name must be a folder name"),
    ({"out": "runs/\0x"}, "out must not contain a NUL character"),
    ({"data__images": "  "}, "data.images must not be empty"),
    ({"mine__layers": ["_blocks.10", "_blocks.10"]}, "mine.layers lists '_blocks.10' twice"),
    ({"validate__lambdas": [1.0, float("nan")]}, "validate.lambdas must hold finite numbers"),
    ({"embed__seed": 2**32}, "embed.seed must be an integer in [0, 4294967295], got 4294967296"),
    ({"units": "0:" + "9" * 30 + ":1"}, "units must look like"),
])
def test_invalid_values_name_field_and_range(override, message):
    with pytest.raises(AtlasError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        build_config(**override)


def test_site_config_is_one_class():
    from atlas.site import render

    assert render.SiteConfig is SiteConfig
    assert SiteConfig().report_px == 192 and SiteConfig().refresh == 60


def test_parse_units():
    assert parse_units("", 4) == [0, 1, 2, 3]
    assert parse_units("2:", 4) == [2, 3]
    assert parse_units("1,3", 4) == [1, 3]
    assert parse_units(" 0:2 ", 112, "_blocks.10") == [0, 1]
    with pytest.raises(AtlasError, match=r"out of range: layer '_blocks.10' has 112 units "
                                         r"\(0..111\)"):
        parse_units("500:510", 112, "_blocks.10")
    with pytest.raises(AtlasError, match="has 112 units"):
        parse_units("110:200", 112, "_blocks.10")  # never cut to fit
    with pytest.raises(AtlasError, match="has 4 units"):
        parse_units("2,9", 4)
    check_units("3:")  # form only: the end is known once the layer is
    for bad in ("a", "5:2", "1,,2", "-3", "1:2:3"):
        with pytest.raises(AtlasError, match=r"^units "):
            check_units(bad)


def test_huge_unit_ranges_are_checked_without_being_spelled_out():
    big = "0:" + "9" * 30  # spelled out, this fails at once (too large for a list)
    check_units(big)
    with pytest.raises(AtlasError, match=r"has 112 units \(0..111\); 9{27}887 of those"):
        parse_units(big, 112, "_blocks.10")
    with pytest.raises(AtlasError, match="select no unit"):
        check_units("9" * 30 + ":5")


def test_parse_layer_units():
    assert parse_layer_units(" a:1,b.c:2 ") == [("a", 1), ("b.c", 2)]
    assert parse_layer_units([("a", 1), "b:3"]) == [("a", 1), ("b", 3)]
    assert parse_layer_unit("_blocks.10:5") == ("_blocks.10", 5)
    for bad in ("_blocks.10", "_blocks.10:x", ":3", "", None):
        with pytest.raises(AtlasError, match="expected LAYER:UNIT") as e:
            parse_layer_unit(bad)
        assert "\n" not in str(e.value)
    with pytest.raises(AtlasError, match="takes one LAYER:UNIT, got 2"):
        parse_layer_unit("a:1,a:2")


def test_cli_errors_are_one_line():
    cmds = [["mine", "--images", "/no/such/folder", "--out", "/tmp/x-atlas"],
            ["layers", "resnet5O"],
            ["build", "--set", "accent.lam=-1"]]
    for args in cmds:
        done = subprocess.run([sys.executable, "-m", "atlas", *args], capture_output=True,
                              text=True)
        assert done.returncode == 2, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("atlas: error: "), done.stderr
