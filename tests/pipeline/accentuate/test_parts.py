"""Accentuation parts: each finished batch is its own file; the tables publish what is done."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.accentuate.parts import AccentParts, unit_batches
from atlas.pipeline.rundir import RunDir


def _part(unit: int) -> dict[str, pd.DataFrame]:
    row = {c: None for c in schema.TABLES["accents"]}
    row.update(layer="L", unit=unit, image_id=f"im{unit}", rank=0, seed_activation=1.0,
               final_activation=2.0, gain=2.0, latent_distance=0.1, pixel_rmse=0.1, steps=3,
               lam=1.0, param="fourier", reg_layer="R", seed_media="s", accent_media="a",
               mask_media="m", overlay_media="o", change_media="c", change_gain=4.0,
               frames_media=[], trajectory=[1.0])
    vec = pd.DataFrame({"layer": "L", "unit": [unit], "rank": [0], "image_id": [f"im{unit}"],
                        "vector": [[1.0, 0.0]]})
    return {"accents": pd.DataFrame([row]), "accent_vectors": vec, "labels": pd.DataFrame()}


def test_accent_parts_publish_what_is_done(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    seeds = pd.DataFrame({"layer": "L", "unit": [0, 1, 2], "rank": 0,
                          "image_id": ["im0", "im1", "im2"]})
    parts = AccentParts(run, seeds, "k", batch_size=1)
    assert len(parts.batches) == 3 and len(parts.publish(final=False)) == 0
    for b in (parts.batches[0], parts.batches[2]):  # unit 1 not done
        parts.store.save(parts.name(b), _part(int(b["unit"].iloc[0])))
    acc = parts.publish(final=False)
    assert acc["unit"].tolist() == [0, 2]
    assert run.read_table("accent_vectors")["unit"].tolist() == [0, 2]
    with pytest.raises(AtlasError, match="1 of 3|2 of 3"):
        parts.publish(final=True)


def test_a_batch_holds_whole_units_of_one_layer() -> None:
    """Two layers' seeds, 2 per unit, batches of 4 pairs: a unit is never split, and a batch
    never mixes layers (it optimizes one layer's objective)."""
    seeds = pd.DataFrame([{"layer": layer, "unit": u, "rank": r, "image_id": f"{layer}-{u}-{r}"}
                          for layer, units in (("block2", [1]), ("block3", [0, 1]))
                          for u in units for r in range(2)])
    batches = unit_batches(seeds, 4)
    assert [sorted(set(zip(b.layer, b.unit, strict=True))) for b in batches] == [
        [("block2", 1)], [("block3", 0), ("block3", 1)]]
    assert sum(map(len, batches)) == len(seeds)
