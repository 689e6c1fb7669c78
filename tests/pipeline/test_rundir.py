"""Run-directory safety: the exclusive lock, a full disk, checkpoints removed when a stage ends,
and a site swapped in whole so a kill mid-render leaves the previous one."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fakerun import FakeRunConfig, make_fake_run

from atlas.errors import AtlasError
from atlas.io.files import atomic_write_bytes
from atlas.io.lock import LOCK, RunLock
from atlas.pipeline import rundir
from atlas.pipeline.rundir import RunDir
from atlas.site.render import render_site

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def test_lock_names_the_holder_and_is_released_on_exceptions(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
        with pytest.raises(AtlasError, match=rf"in use by PID {os.getpid()};"):
            RunLock(tmp_path).acquire()
        raise RuntimeError("a stage failed")
    assert not (tmp_path / LOCK).exists()
    with RunLock(tmp_path):  # free again
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path: Path, capsys) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (tmp_path / LOCK).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    with RunLock(tmp_path):
        assert json.loads((tmp_path / LOCK).read_text())["pid"] == os.getpid()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"PID {dead.pid}, which is no longer running" in err[0]


def test_second_build_into_a_locked_run_fails_at_once(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with RunLock(run):
        done = subprocess.run([sys.executable, "-m", "atlas", "mine", "--images", "bundled",
                               "--limit", "8", "--out", str(run), "-q", "--device", "cpu"],
                              env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and f"PID {os.getpid()}" in lines[0], done.stderr[-2000:]
    assert not (run / "topk.parquet").exists() and not (run / "checkpoints").exists()


def test_full_disk_is_one_line_and_keeps_the_previous_file(tmp_path: Path, monkeypatch) -> None:
    run = RunDir(tmp_path)
    old = pd.DataFrame({"layer": ["L"], "unit": [0], "rank": [0], "image_id": ["a"],
                        "cluster": [0], "activation": [1.0]})
    run.write_table("seeds", old)
    before = sorted(p.name for p in tmp_path.iterdir())

    def full(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(rundir.os, "fsync", full)
    with pytest.raises(AtlasError, match=r"^disk full writing .*seeds\.parquet"):
        run.write_table("seeds", old.assign(unit=[5]))
    with pytest.raises(AtlasError, match="disk full"):
        atomic_write_bytes(tmp_path / "note.txt", b"x")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no partial or temp file
    assert run.read_table("seeds")["unit"].tolist() == [0]


def test_clear_checkpoints_removes_matches_and_the_empty_folder(tmp_path: Path) -> None:
    run = RunDir(tmp_path)
    ck = tmp_path / "checkpoints"
    (ck / "vis-abc").mkdir(parents=True)
    (ck / "vis-abc" / "L-000001.json").write_text("[]")
    (ck / "mine-r0.pt").write_bytes(b"x")
    run.clear_checkpoints(("vis-*",))
    assert sorted(p.name for p in ck.iterdir()) == ["mine-r0.pt"]
    run.clear_checkpoints(("mine-*",))
    assert not ck.exists()


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
