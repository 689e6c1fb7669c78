"""The site during a build: the re-render throttle, pending and not-chosen notes, partial tables.

The end-to-end check (a build killed at its first render, then resumed) is in test_build.py.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from fakerun import MINE_TABLES, FakeRunConfig, make_fake_run

from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.accentuate.parts import AccentParts
from atlas.pipeline.progressive import Refresher, mark_build
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.vis import VisPlan
from atlas.site.render import render_site
from atlas.site.status import PENDING, BuildStatus


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def test_refresher_waits_for_the_interval_and_a_bounded_share_of_the_time() -> None:
    clock, calls = Clock(), []

    def render() -> None:  # a render that costs 10 s of the clock
        calls.append(clock.t)
        clock.t += 10.0

    r = Refresher(render, every=60, share=0.1, clock=clock)
    assert r.maybe() and calls == [0.0]  # the first is always due
    clock.t += 59
    assert not r.maybe()
    clock.t += 1  # 60 s passed, but a 10 s render may only run after 90 s more (10% share)
    assert not r.maybe()
    clock.t += 30
    assert r.maybe() and r.count == 2 and r.seconds == 20.0
    off = Refresher(render, every=0, clock=clock)
    assert not off.maybe() and not off.due()


def _atlas_status(tmp_path: Path, state: str, tables=MINE_TABLES) -> Path:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=3, tables=tables))
    mark_build(RunDir(run), state, planned={"_blocks.10": [0, 1]}, units="0:2")
    return render_site(run, tmp_path / f"site-{state}")


def test_pages_mark_pending_units_while_the_build_runs(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "running")
    index = (site / "index.html").read_text()
    assert "Build in progress: 2 units still pending" in index
    assert index.count("accentuation pending</span>") == 2
    assert index.count(">not accentuated</span>") == 4  # unit 2 and the other layer
    page = (site / "units/_blocks.10/0.html").read_text()
    assert "Accentuation pending" in page and "Feature visualization pending" in page
    assert "asked for units 0:2 only" in (site / "units/_blocks.10/2.html").read_text()
    assert "accentuates units of _blocks.10 only" in (site / "units/_blocks.4/0.html").read_text()


def test_finished_build_says_why_a_unit_has_no_accentuation(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "done")
    index = (site / "index.html").read_text()
    assert "pending" not in index.replace('class="pending', "") and "Build in progress" not in index
    assert "finished without one" in (site / "units/_blocks.10/1.html").read_text()


def test_accentuated_units_have_no_note(tmp_path: Path) -> None:
    site = _atlas_status(tmp_path, "running", tables=FakeRunConfig().tables)
    index = (site / "index.html").read_text()
    assert "Build in progress: 0 units" in index and "accentuation pending</span>" not in index


def test_build_status_reads_damaged_records_safely() -> None:
    assert BuildStatus.of({}).state == "" and BuildStatus.of({"build": "x"}).planned == {}
    odd = BuildStatus.of({"build": {"state": "weird", "planned": {"L": [1, "2", None]}}})
    assert odd.state == "" and odd.planned == {"L": frozenset({1})}
    assert PENDING.startswith("Accentuation pending")


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


def test_vis_chunks_hold_one_layer_and_publish_partially(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    from atlas.config.accent import AccentConfig

    plan = VisPlan.make(run, [("B", 0), ("A", 2), ("A", 1)], AccentConfig(steps=5), "m", 2)
    assert plan.chunks() == [[("A", 1), ("A", 2)], [("B", 0)]]
    assert plan.cfg.frames == 0 and plan.cfg.mask_every == 6  # attribution on step 0 only
    assert len(plan.publish()) == 0
