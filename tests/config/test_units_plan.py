"""Units per layer (issue 18): plain specs for every mined layer, ``NAME:A:B`` per layer, read
from the right so feature-set names stay opaque, and one line for each bad form."""

from __future__ import annotations

import pytest

from atlas.config.tree import build_config
from atlas.config.units import check_units, is_plain, parse_plan
from atlas.errors import AtlasError

COUNTS = {"_blocks.8": 80, "_blocks.10": 112, "_blocks.10/sae": 4096}


def test_plain_specs_apply_to_every_layer():
    assert parse_plan("0:4", COUNTS) == {layer: [0, 1, 2, 3] for layer in COUNTS}
    assert parse_plan("1,5,9", COUNTS)["_blocks.10/sae"] == [1, 5, 9]
    assert [len(v) for v in parse_plan("", COUNTS).values()] == [80, 112, 4096]
    assert is_plain("") and is_plain(" 0:32 ") and is_plain("3:") and is_plain("1, 5")


def test_per_layer_specs_read_units_from_the_right():
    assert parse_plan("_blocks.10:0:16,_blocks.8:0:8", COUNTS) == {
        "_blocks.8": list(range(8)), "_blocks.10": list(range(16))}  # in mining order
    assert parse_plan("_blocks.10:1,5,9", COUNTS) == {"_blocks.10": [1, 5, 9]}
    # feature sets name a layer with a /basis suffix: names are opaque
    assert parse_plan("_blocks.10/sae:0:3,_blocks.8:2", COUNTS) == {
        "_blocks.8": [2], "_blocks.10/sae": [0, 1, 2]}
    assert parse_plan("_blocks.10:1,5,_blocks.8:70:", COUNTS) == {
        "_blocks.8": list(range(70, 80)), "_blocks.10": [1, 5]}
    assert parse_plan("_blocks.8", COUNTS) == {"_blocks.8": list(range(80))}
    assert parse_plan("_blocks.8:1,_blocks.8:2", COUNTS) == {"_blocks.8": [1, 2]}


@pytest.mark.parametrize("spec, message", [
    ("_blocks.9:0:4", "unknown layer in units '_blocks.9'; closest: _blocks.8"),
    ("_blocks.8:0:99", "units '0:99' out of range: layer '_blocks.8' has 80 units"),
    ("_blocks.8:0:4,5", "unit 5 follows a range of '_blocks.8'"),
    ("x:y:z", "cannot read 'x:y:z'"),
])
def test_bad_per_layer_specs_are_one_line(spec, message):
    with pytest.raises(AtlasError, match=message.replace("(", r"\(")) as e:
        parse_plan(spec, COUNTS)
    assert "\n" not in str(e.value)


def test_the_config_checks_the_form_at_once():
    check_units("_blocks.10:0:16,_blocks.8:0:8")
    assert build_config(units="_blocks.10:0:16").units == "_blocks.10:0:16"
    with pytest.raises(AtlasError, match="units '5:2' select no unit"):
        build_config(units="_blocks.10:5:2")
