"""The command line: instant help, and the early checks that fail before any long work."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.cli.main import main, parser
from atlas.config.tree import build_config
from atlas.models.reglayer import auto_reg_layer
from atlas.pipeline.resolve import preflight

PROBE = """
import runpy, sys
sys.argv = ["atlas", *sys.argv[1:]]
try:
    runpy.run_module("atlas", run_name="__main__")
except SystemExit as e:
    code = e.code
print("EXIT", code, "HEAVY", sorted(m for m in ("torch", "pandas", "PIL", "numpy", "jinja2")
                                    if m in sys.modules))
"""


@pytest.mark.parametrize("argv, code", [(["--help"], 0), (["build", "--help"], 0),
                                        (["validate", "--help"], 0),
                                        (["build", "--k", "many"], 2), (["nosuch"], 2)])
def test_help_and_argument_errors_load_no_heavy_module(argv, code):
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip().splitlines()[-1] == f"EXIT {code} HEAVY []", done.stderr


BAD_VALUE = """
import contextlib, io, sys
from atlas.cli.main import main
bad, lines = ["--set", "accent.seed=abc"], []
for argv in (["build"], ["mine"], ["accentuate"], ["accentuate", "p.jpg", "--unit", "a:1"],
             ["validate"], ["explain", "p.jpg"], ["embed", "R"], ["render", "R"],
             ["report", "R", "--units", "a:1"]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = main([*argv, *bad])
    lines.append((code, err.getvalue()))
print(lines)
print(sorted(m for m in ("torch", "pandas", "PIL", "numpy", "jinja2") if m in sys.modules))
"""


def test_a_bad_value_is_one_line_before_any_heavy_module_loads(tmp_path):
    """Every command that takes the config tree checks it first: a bad value costs no model,
    no torch, not even pandas."""
    done = subprocess.run([sys.executable, "-c", BAD_VALUE], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    *_, results, heavy = done.stdout.strip().splitlines()
    line = "atlas: error: accent.seed must be an integer, got 'abc'\n"
    assert ast.literal_eval(results) == [(2, line)] * 9, done.stderr
    assert heavy == "[]"


def _fails(argv: list[str], capsys) -> str:
    """Run the CLI in-process; it must fail with exit 2 and one error line, which is returned."""
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("atlas: error: "), err
    return err[0]


def _run_args(tmp_path: Path, *extra: str) -> list[str]:
    return ["--out", str(tmp_path / "run"), "--set", f'site.out="{tmp_path / "site"}"',
            "--device", "cpu", "--limit", "12", "-q", *extra]


@pytest.mark.parametrize("units", ["500:510", "110:200"])
def test_units_beyond_the_layer_fail_before_mining(tmp_path, capsys, units):
    line = _fails(["mine", *_run_args(tmp_path, "--units", units)], capsys)
    assert "layer '_blocks.10' has 112 units (0..111)" in line
    assert not (tmp_path / "run").exists()  # nothing mined, and the probed folder removed


def test_reg_layer_the_model_lacks_fails_before_mining(tmp_path, capsys):
    line = _fails(["build", *_run_args(tmp_path, "--model", "resnet18", "--weights", "none",
                                       "--layer", "layer3", "--reg-layer", "layer_2")], capsys)
    assert "unknown accent.reg_layer of resnet18 'layer_2'; closest: layer2" in line
    assert line.endswith("leave it empty for the model's rule ('layer1.1')")
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_reg_layer_after_the_target_fails_before_mining(tmp_path, capsys):
    line = _fails(["mine", *_run_args(tmp_path, "--reg-layer", "_blocks.12")], capsys)
    assert "accent.reg_layer '_blocks.12' must run before the target layer '_blocks.10'" in line
    assert "model's rule ('_blocks.4')" in line


def test_default_reg_layer_follows_the_model(tmp_path):
    """resnet18's layer3 no longer inherits EfficientNet's _blocks.4: the rule picks a stage
    of this model; the checks resolve it once and leave the user's config as it was."""
    cfg = build_config(parser().parse_args(
        ["build", *_run_args(tmp_path, "--model", "resnet18", "--weights", "none",
                             "--layer", "layer3")]))
    assert cfg.accent.reg_layer == ""
    model, resolved = preflight(cfg, site=True)
    assert resolved.reg_layer == "layer1.1" == auto_reg_layer(model, "layer3")
    assert cfg.accent.reg_layer == ""
    assert auto_reg_layer(model, "layer4") == "layer2.0"


def test_an_input_size_the_model_refuses_fails_before_mining(tmp_path, capsys):
    line = _fails(["mine", *_run_args(tmp_path, "--set", "model.input_size=8")], capsys)
    assert line == ("atlas: error: model 'efficientnet-lite0' does not run on 8-px inputs "
                    "(model.input_size; 0 is the model's own size)")
    assert not (tmp_path / "run").exists()


def test_a_mined_layer_without_an_output_fails_before_mining(tmp_path, capsys):
    """_blocks is the ModuleList of the blocks: the forward never calls it."""
    want = "atlas: error: layer '_blocks' of efficientnet-lite0 gives no tensor output"
    line = _fails(["mine", *_run_args(tmp_path, "--layer", "_blocks.10", "--layer", "_blocks")],
                  capsys)
    assert line == want
    for flag in ("--layer", "--attr-layer"):
        assert _fails(["validate", flag, "_blocks", "--device", "cpu", "--out",
                       str(tmp_path / "run")], capsys) == want
    assert not (tmp_path / "run").exists()


def test_a_model_file_that_is_not_torchscript_is_one_line(tmp_path, capsys):
    path = tmp_path / "model.pt"
    path.write_bytes(b"not a model")
    want = f"atlas: error: model '{path}' is not a TorchScript file (torch.jit.save): "
    assert _fails(["layers", str(path)], capsys).startswith(want)
    assert _fails(["mine", *_run_args(tmp_path, "--model", str(path))], capsys).startswith(want)


def test_a_device_the_machine_lacks_fails_at_start(tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    line = _fails(["mine", *_run_args(tmp_path, "--device", "mps")], capsys)
    assert line == "atlas: error: device 'mps' requested but MPS is not available; valid: cpu, auto"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    line = _fails(["mine", *_run_args(tmp_path, "--device", "cuda:2")], capsys)
    assert line == ("atlas: error: device 'cuda:2' requested but this machine has 2 CUDA "
                    "devices; valid: cuda:0..cuda:1, cpu, auto")
    assert not (tmp_path / "run").exists()


def test_argument_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["build", "--steps", "many"])
    assert e.value.code == 2
    assert capsys.readouterr().err == ("atlas: error: argument --steps: invalid int value: "
                                       "'many' (see: atlas build --help)\n")


@pytest.mark.parametrize("key", ["out", "site.out"])
def test_unwritable_output_folders_fail_at_start(tmp_path, capsys, key):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")  # a folder below a file cannot be made, even by root
    bad = str(blocker / "sub")
    argv = ["build", *_run_args(tmp_path), "--set", f'{key}="{bad}"']
    line = _fails(argv, capsys)
    what = "run directory" if key == "out" else "site.out"
    assert f"{what} '{bad}' is not writable" in line
    assert not (tmp_path / "run" / "manifest.json").exists()


def test_render_and_report_check_their_output_first(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    (tmp_path / "run").mkdir()
    line = _fails(["render", str(tmp_path / "run"), "--out", str(blocker / "s")], capsys)
    assert "site.out" in line and "not writable" in line
    line = _fails(["report", str(tmp_path / "run"), "--units", "_blocks.10:1",
                   "--out", str(blocker / "r.html")], capsys)
    assert "report folder" in line and "not writable" in line
    line = _fails(["report", str(tmp_path / "run"), "--units", "_blocks.10:1",
                   "--out", str(tmp_path)], capsys)
    assert line.startswith(f"atlas: error: report --out '{tmp_path}' is a folder")
    line = _fails(["export", str(tmp_path / "run"), "--out", str(blocker)], capsys)
    assert line.startswith(f"atlas: error: --out folder '{blocker}' is not writable")
    monkeypatch.chdir(tmp_path)  # where the default site/ and report.html would go
    for cmd in (["render"], ["report", "--units", "_blocks.10:1"], ["embed"]):
        line = _fails([cmd[0], str(tmp_path / "norun"), *cmd[1:]], capsys)
        assert line == f"atlas: error: run directory '{tmp_path / 'norun'}' does not exist"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "run"]  # nothing made


def test_validate_rejects_bad_settings_before_loading_a_model(capsys):
    a = parser().parse_args(["validate", "--layer", "_blocks.10", "--layer", "_blocks.12",
                             "--units", "4", "--steps", "8", "--crops", "2", "--out", "x"])
    cfg = build_config(a)
    assert cfg.validate.layers == ["_blocks.10", "_blocks.12"] and cfg.out == "x"
    assert cfg.accent.steps == 8 and cfg.accent.augment.crops == 2
    assert cfg.data.images == "bundled"
    for argv, msg in ((["validate", "--units", "1"], "validate.units"),
                      (["validate", "--steps", "0"], "accent.steps"),
                      (["validate", "--set", "validate.lambdas=[1.0, 0.1, 10.0]"],
                       "validate.lambdas")):
        assert msg in _fails(argv, capsys)
    with pytest.raises(SystemExit):
        parser().parse_args(["validate", "--lambdas", "0.1,x"])
    assert "--lambdas" in capsys.readouterr().err
    e = parser().parse_args(["explain", "p.jpg", "--class", "tabby cat", "--out", "o"])
    assert (e.photo, e.class_name, e.out) == ("p.jpg", "tabby cat", "o")


def test_photo_accentuation_checks_the_unit_first_and_writes_into_a_new_folder(tmp_path, capsys):
    from atlas.data import PHOTOS

    photo = str(sorted(PHOTOS.glob("*.webp"))[0])
    line = _fails(["accentuate", photo, "--unit", "_blocks.10:500", "--device", "cpu"], capsys)
    assert "layer '_blocks.10' has 112 units (0..111)" in line
    out = tmp_path / "new" / "folder"
    assert main(["accentuate", photo, "--unit", "_blocks.10:5", "--steps", "1", "--crops", "1",
                 "--canvas", "64", "--device", "cpu", "--out", str(out)]) == 0
    assert "(_blocks.4)" in capsys.readouterr().out  # the model's rule named the reg layer
    assert len(list(out.glob("*-_blocks.10-5-*.png"))) == 3


def test_photo_and_unit_go_together(tmp_path, capsys):
    """A forgotten or empty photo is an error, not a full accentuation of the default run."""
    from atlas.data import PHOTOS

    out = tmp_path / "run"
    for argv in (["accentuate", "--unit", "_blocks.10:5"], ["accentuate", "", "--unit", "1:2"],
                 ["accentuate", "bundled", "--unit", "_blocks.10:5"]):
        assert "--unit goes with a photo" in _fails([*argv, "--out", str(out)], capsys)
    photo = str(sorted(PHOTOS.glob("*.webp"))[0])
    for argv in (["accentuate", photo], ["accentuate", photo, "--unit", ""]):
        assert "a photo needs --unit LAYER:UNIT" in _fails([*argv, "--out", str(out)], capsys)
    assert not out.exists()


def test_accentuate_takes_a_config_in_the_photo_slot(tmp_path, capsys):
    """`atlas accentuate bundled` accentuates a run's seeds: the name is a config, not a photo,
    so its unit spec is checked against the layer (before any mining)."""
    line = _fails(["accentuate", "bundled", "--units", "500:510", "--device", "cpu",
                   "--out", str(tmp_path / "run")], capsys)
    assert "112 units" in line and not (tmp_path / "run" / "topk.parquet").exists()
