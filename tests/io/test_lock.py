"""The run directory's exclusive lock: it names its holder, is released on exceptions and is
taken over from a process that is gone."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from atlas.errors import AtlasError
from atlas.io.lock import LOCK, RunLock


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
