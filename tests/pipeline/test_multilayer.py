"""Multi-layer builds (issue 18): every mined layer planned, each layer with its own
regularization layer, and the checks before long work."""

from __future__ import annotations

import pytest

from atlas.config.tree import build_config
from atlas.errors import AtlasError
from atlas.pipeline.resolve import preflight
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.session import planned_units


def test_planned_units_cover_every_mined_layer(tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.start_stage("mine", "k")
    run.finish_stage("mine", "k", units={"_blocks.8": 80, "_blocks.10": 112})
    cfg = build_config(mine__layers=["_blocks.8", "_blocks.10"], units="0:2")
    assert planned_units(cfg, run) == {"_blocks.8": [0, 1], "_blocks.10": [0, 1]}
    cfg = build_config(mine__layers=["_blocks.8", "_blocks.10"], units="_blocks.10:3")
    assert planned_units(cfg, run) == {"_blocks.10": [3]}
    with pytest.raises(AtlasError, match="has not recorded layer '_blocks.12'"):
        planned_units(build_config(mine__layers=["_blocks.12"]), run)


def test_preflight_resolves_a_regularization_layer_per_layer(tmp_path):
    cfg = build_config(mine__layers=["_blocks.10", "_blocks.4"], out=str(tmp_path / "r"),
                       units="_blocks.4:0:2,_blocks.10:0:2", device="cpu")
    model, resolved = preflight(cfg)
    assert resolved.reg_for("_blocks.10") == "_blocks.4"  # the measured default, unchanged
    assert resolved.reg_for("_blocks.4") == "_blocks.1"
    bad = build_config(mine__layers=["_blocks.10", "_blocks.4"], out=str(tmp_path / "r"),
                       units="_blocks.4:0:2", accent__reg_layer="_blocks.6", device="cpu")
    with pytest.raises(AtlasError, match="'_blocks.6' must run before the target layer "
                                         "'_blocks.4'"):
        preflight(bad)
    with pytest.raises(AtlasError, match="unknown layer in units '_blocks.9'"):
        preflight(build_config(mine__layers=["_blocks.10"], out=str(tmp_path / "r"),
                               units="_blocks.9:0:2", device="cpu"))


def test_a_plain_spec_plans_a_basis_features_and_a_per_layer_spec_any_unit_layer(tmp_path):
    run = RunDir(tmp_path / "run")
    run.root.mkdir()
    run.start_stage("mine", "k")
    run.finish_stage("mine", "k", units={"_blocks.10/sae": 448, "_blocks.10": 112})
    cfg = build_config(mine__layers=["_blocks.10"], basis__kind="sae", units="0:3")
    assert cfg.unit_layers == ["_blocks.10/sae", "_blocks.10"]
    assert planned_units(cfg, run) == {"_blocks.10/sae": [0, 1, 2]}  # the features, as before
    cfg = build_config(mine__layers=["_blocks.10"], basis__kind="sae",
                       units="_blocks.10:5,_blocks.10/sae:400:")
    assert planned_units(cfg, run) == {"_blocks.10/sae": list(range(400, 448)),
                                       "_blocks.10": [5]}
    with pytest.raises(AtlasError, match="units '0:500' out of range: layer '_blocks.10/sae' "
                                         "has 448 units"):
        planned_units(build_config(mine__layers=["_blocks.10"], basis__kind="sae",
                                   units="_blocks.10/sae:0:500"), run)
