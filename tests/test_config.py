import argparse
import subprocess
import sys

import pytest

from atlas.config.tree import build_config, parse_units
from atlas.errors import AtlasError


@pytest.mark.parametrize("name", ["bundled", "resnet50-folder", "hf-dataset"])
def test_example_configs_load(name):
    cfg = build_config(argparse.Namespace(config=name))
    assert cfg.mine.layers and cfg.select.k >= 1 and cfg.out.startswith("runs/")


def test_flags_override_toml(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('name = "x"\n[accent]\nlam = 3\nsteps = 7\n[mine]\nk = 9\n')
    args = argparse.Namespace(config=str(path), steps=5, set=["accent.param=\"maco\""],
                              out=None)
    cfg = build_config(args)
    assert (cfg.accent.lam, cfg.accent.steps, cfg.accent.param) == (3.0, 5, "maco")
    assert cfg.mine.k == 9 and cfg.out == "runs/x"


@pytest.mark.parametrize("override, message", [
    ({"accent__lamda": 1}, "unknown config key 'accent.lamda'; closest: accent.lam"),
    ({"mine__k": 0}, "mine.k must be an integer in [1, 10000], got 0"),
    ({"accent__param": "wavelet"}, "accent.param must be one of fourier, maco, pixel"),
    ({"select__method": "best"}, "select.method"),
    ({"units": "a:b"}, "units must look like '0:32' or '1,5,9'"),
    ({"device": "tpu"}, "device must be one of"),
])
def test_invalid_values_name_field_and_range(override, message):
    with pytest.raises(AtlasError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        build_config(**override)


def test_parse_units():
    assert parse_units("", 4) == [0, 1, 2, 3]
    assert parse_units("2:", 4) == [2, 3]
    assert parse_units("1,3", 4) == [1, 3]
    with pytest.raises(AtlasError, match="out of range; this layer has units 0..3"):
        parse_units("2,9", 4)


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
