"""An atlas command killed at a chosen moment, for the resume tests.

Every file atlas writes lands by a rename (atomic writes, the site's staged folder), so the
command runs with ``os.replace`` and ``os.rename`` wrapped: right after the rename that makes a
file matching the marker appear, the process SIGKILLs itself. The kill comes at the same step
on a fast machine and a slow one, with no polling and no sleep.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

KILL_AT = """
import glob, os, runpy, signal, sys
marker = sys.argv[1]
before = set(glob.glob(marker))
def killing(real):
    def rename(*args, **kwargs):
        real(*args, **kwargs)
        if set(glob.glob(marker)) - before:
            os.kill(os.getpid(), signal.SIGKILL)
    return rename
os.replace, os.rename = killing(os.replace), killing(os.rename)
sys.argv = ["atlas", *sys.argv[2:]]
runpy.run_module("atlas", run_name="__main__")
"""


def atlas_killed_at(marker: Path | str, args: list[str], env: Mapping[str, str] | None = None,
                    timeout: float = 600) -> subprocess.CompletedProcess:
    """Run ``python -m atlas ARGS`` until a new file matches the glob ``marker`` and kill it
    there. Its return code is -9 when it was killed, else the command's own (it finished
    before the marker appeared)."""
    return subprocess.run([sys.executable, "-c", KILL_AT, str(marker), *args], env=env,
                          capture_output=True, text=True, timeout=timeout)
