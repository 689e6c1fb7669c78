"""atlas explain: a photo accentuated toward its predicted class and a chosen one, side by side."""

from __future__ import annotations

import json

import pytest

from atlas.config.accent import AccentConfig, AugmentConfig
from atlas.data.sources import bundled
from atlas.errors import AtlasError
from tests.helpers.stages import resolved_for


@pytest.mark.slow  # two accentuations at 224 px, end to end
def test_explain_predicted_and_chosen_class(lite0, tmp_path):
    from atlas.tools.explain import explain

    src = bundled()
    gibbon = src.root / "erase-gibbon.webp"
    cfg = AccentConfig(steps=3, canvas=128, augment=AugmentConfig(crops=1))
    logits = resolved_for(lite0, "logits")
    r = explain(lite0, gibbon, None, cfg, logits, tmp_path)
    assert r["predicted"]["name"] == "gibbon" and r["chosen_is_default"]
    assert r["chosen"]["prob_before"] < r["predicted"]["prob_before"]  # runner-up
    assert r["predicted"]["logit_after"] > r["predicted"]["logit_before"]
    bee = explain(lite0, src.root / "erase-bee.webp", "Bee", cfg, logits, tmp_path)  # wrong
    assert bee["predicted"]["name"] != "bee" and bee["chosen"]["name"] == "bee"
    assert bee["chosen"]["logit_after"] > bee["chosen"]["logit_before"]
    from PIL import Image

    with Image.open(tmp_path / "explain-erase-bee.png") as im:
        assert im.width > 3 * 224 and im.height > 224
    saved = json.loads((tmp_path / "explain-erase-bee.json").read_text())
    assert saved["chosen"]["name"] == "bee" and "images" not in saved
    with pytest.raises(AtlasError, match="closest: .*tabby"):
        explain(lite0, gibbon, "tabyy", cfg, logits)
