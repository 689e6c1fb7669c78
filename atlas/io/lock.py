"""An exclusive lock on a run directory: two builds writing one run would corrupt each other.

The lock is a file created with ``O_EXCL`` that holds its owner's PID and host. A second build
fails at once with one line naming the holder; a lock left by a process that is gone (killed, on
this host) is taken over with a one-line notice. A lock held from another host cannot be checked
from here: the message says which file to delete if that build is gone.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType

from atlas.errors import AtlasError

LOCK = "atlas.lock"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _holder(path: Path) -> dict | None:
    """The lock's record; None while unreadable (retried briefly: its owner may be writing it)."""
    for _ in range(5):
        try:
            rec = json.loads(path.read_text())
            if isinstance(rec, dict) and isinstance(rec.get("pid"), int):
                return rec
        except FileNotFoundError:
            return {}  # released meanwhile: try again
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    return None


class RunLock:
    """``with RunLock(run_dir):`` holds the run directory for this process."""

    def __init__(self, root: str | os.PathLike[str]):
        self.path = Path(root) / LOCK
        self.me = {"pid": os.getpid(), "host": socket.gethostname()}

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        for _ in range(3):  # a stale or just-released lock costs one more try
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._take_over_if_stale(_holder(self.path))
                continue
            except OSError as e:
                raise AtlasError(f"cannot write to run directory {self.path.parent}: "
                                 f"{e.strerror}; choose another --out") from None
            rec = {**self.me, "started": time.time(), "command": " ".join(sys.argv)}
            with os.fdopen(fd, "w") as f:
                f.write(json.dumps(rec))
            return
        raise AtlasError(f"could not lock run directory {self.path.parent}; another build "
                         "keeps taking it")

    def _take_over_if_stale(self, rec: dict | None) -> None:
        if rec == {}:
            return  # released between our create and our read
        if rec is None:
            why = "an unreadable lock"
        elif rec.get("host") == self.me["host"] and not pid_alive(rec["pid"]):
            why = f"the lock of PID {rec['pid']}, which is no longer running"
        else:
            where = "" if rec.get("host") == self.me["host"] else f" on host {rec.get('host')}"
            raise AtlasError(
                f"run directory {self.path.parent} is in use by PID {rec['pid']}{where}; wait "
                f"for that build to end or use another --out (if it is gone, delete {self.path})")
        print(f"atlas: taking over {why} ({self.path})", file=sys.stderr)
        self.path.unlink(missing_ok=True)

    def release(self) -> None:
        """Remove the lock if it is still ours (never another process's)."""
        rec = _holder(self.path) if self.path.exists() else {}
        if rec and rec.get("pid") == self.me["pid"] and rec.get("host") == self.me["host"]:
            self.path.unlink(missing_ok=True)
