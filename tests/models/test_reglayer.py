"""The regularization layer's rule: a layer of the model's own, below the target."""

from __future__ import annotations

import pytest

from atlas.errors import AtlasError
from atlas.models.reglayer import auto_reg_layer


def test_reg_layer_rule_on_the_bundled_model(lite0):
    # the layer the accentuation settings were measured with stays the default for _blocks.10
    assert auto_reg_layer(lite0, "_blocks.10") == "_blocks.4"
    assert auto_reg_layer(lite0, "_blocks.0") == "_conv_stem"
    assert auto_reg_layer(lite0, "logits") == "_blocks.8"
    with pytest.raises(AtlasError, match="no layer with weights runs before '_conv_stem'"):
        auto_reg_layer(lite0, "_conv_stem")
    with pytest.raises(AtlasError, match="closest: _blocks.10"):
        auto_reg_layer(lite0, "_block.10")
