"""A site is swapped in whole: a render killed or failed midway leaves the previous site, and
the next render clears what a killed one left."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.site.render import render_site
from tests.helpers.fakerun import FakeRunConfig, make_fake_run

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}
KILL_AT_INDEX = """
import os, signal, sys
from pathlib import Path
import atlas.site.render as r
real = r.atomic_write_bytes
def write(path, data):
    if Path(path).name == "index.html":  # every unit page is written by now
        os.kill(os.getpid(), signal.SIGKILL)
    real(path, data)
r.atomic_write_bytes = write
r.render_site(sys.argv[1], sys.argv[2], r.SiteConfig(title="Renamed"))
"""


def _files(site: Path) -> dict[Path, bytes]:
    return {p.relative_to(site): p.read_bytes() for p in site.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_kill_during_render_leaves_the_previous_site(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2, layers=("L",)))
    site, first = tmp_path / "site", tmp_path / "first"
    kill = [sys.executable, "-c", KILL_AT_INDEX, str(run)]
    assert subprocess.run([*kill, str(first)], env=ENV).returncode == -9
    assert not _files(first)  # a first render killed leaves no half site
    render_site(run, site)
    before = _files(site)
    media = next(p for p in site.rglob("media/**/*.webp"))
    inode = media.stat().st_ino
    assert subprocess.run([*kill, str(site)], env=ENV).returncode == -9
    assert _files(site) == before  # not one page of the killed render shows
    left = list(tmp_path.glob(".site.staged-*"))
    assert len(left) == 1 and b"Renamed" in (left[0] / "units/L/0.html").read_bytes()
    render_site(run, site)  # the next render clears what the killed one left
    assert not list(tmp_path.glob(".site.staged-*")) and (site / "index.html").exists()
    assert media.stat().st_ino == inode  # unchanged media are linked, never copied again


def test_failed_render_discards_its_staging_and_keeps_the_site(tmp_path: Path,
                                                               monkeypatch) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=2, layers=("L",)))
    site = tmp_path / "site"
    render_site(run, site)
    before = _files(site)

    def broken(*args, **kwargs):
        raise RuntimeError("template failed")

    import atlas.site.render as r

    monkeypatch.setattr(r, "_about", broken)
    with pytest.raises(RuntimeError):
        render_site(run, site)
    assert _files(site) == before and not list(tmp_path.glob(".site.staged-*"))
