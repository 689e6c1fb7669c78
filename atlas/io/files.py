"""Files written whole or not at all, and folders checked for writing before long work.

Every file is written to a temporary name in the same directory, flushed and renamed into place,
so a process killed at any moment, or a disk that fills up, leaves either the old file or the new
one, never half of one.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError

_FULL = (errno.ENOSPC, errno.EDQUOT)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (temp file in the same dir, fsync, rename).

    A full disk is one clear line, and leaves the previous file as it was.
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError) and e.errno in _FULL:
            raise AtlasError(f"disk full writing {path}; free some space and rerun "
                             "(finished stages are kept)") from None
        raise


def atomic_write_with(path: Path, writer: Callable[[io.BytesIO], None]) -> None:
    """Let ``writer`` fill a buffer, then write the buffer to ``path`` atomically."""
    buf = io.BytesIO()
    writer(buf)
    atomic_write_bytes(path, buf.getvalue())


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True, default=str).encode())


def _probe(p: Path, tries: int = 3) -> tuple[int, str]:
    """A new probe file in ``p``, made with its folders. Another process checking the same
    new folder (each rank under torchrun) may remove it between the two steps: make it again."""
    for attempt in range(tries):
        try:
            p.mkdir(parents=True, exist_ok=True)
            return tempfile.mkstemp(prefix=".atlas-probe-", dir=p)
        except FileNotFoundError:
            if attempt == tries - 1:
                raise
    raise AssertionError("unreachable")


def check_writable(folder: str | Path, what: str) -> None:
    """Write and delete a probe file in ``folder``; folders made for it are removed again,
    so a failed command leaves nothing behind."""
    p = Path(folder)
    made = [d for d in (p, *p.parents) if not d.exists()]
    try:
        fd, probe = _probe(p)
        try:
            os.write(fd, b"atlas")
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as e:
        raise AtlasError(f"{what} {str(p)!r} is not writable: {e.strerror or e}") from None
    finally:
        for d in made:  # deepest first
            with contextlib.suppress(OSError):
                d.rmdir()
