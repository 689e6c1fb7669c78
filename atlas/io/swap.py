"""Replace a whole output folder at once: readers, and a kill, only ever see a complete one.

:func:`staged_folder` yields a sibling folder that starts as a copy of the current folder made
of hard links (no file data is copied, so a re-render still skips unchanged media: they keep
their inode and mtime). The caller rewrites it with atomic per-file writes, which replace a
link by a new file and so never touch the published folder. On success the two folders are
exchanged in one ``renameat2(RENAME_EXCHANGE)`` (Linux), or by two renames elsewhere, and the
old one is deleted. A kill leaves the published folder as it was, plus a leftover sibling that
the next render removes.
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from atlas.io.lock import pid_alive

_EXCHANGE = 2  # RENAME_EXCHANGE
_AT_FDCWD = -100


def _link_or_copy(src: str, dst: str) -> None:
    try:
        os.link(src, dst)
    except OSError:  # a filesystem without hard links: copy (slower, same result)
        shutil.copy2(src, dst)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; False where the system cannot (then the caller renames)."""
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    return fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _EXCHANGE) == 0


def _clear_leftovers(out: Path) -> None:
    """Remove staging folders of renders that were killed (their process is gone)."""
    for p in out.parent.glob(f".{out.name}.staged-*"):
        m = re.fullmatch(r"\.(.+)\.staged-(\d+)(-old)?", p.name)
        if m and m[1] == out.name and not pid_alive(int(m[2])):
            shutil.rmtree(p, ignore_errors=True)


def _swap_in(stage: Path, out: Path) -> None:
    if not out.exists():
        os.rename(stage, out)
        return
    if not _exchange(stage, out):
        old = stage.with_name(stage.name + "-old")
        os.rename(out, old)
        os.rename(stage, out)
        stage = old
    shutil.rmtree(stage, ignore_errors=True)  # now the previous folder


@contextmanager
def staged_folder(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a folder to write the new contents of ``out`` into; it replaces ``out`` when the
    block ends without an exception, and is discarded otherwise. Where ``out``'s parent is not
    writable, ``out`` itself is yielded (per-file atomic writes only, as before)."""
    out = Path(out).resolve()
    stage = out.parent / f".{out.name}.staged-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        _clear_leftovers(out)
        shutil.rmtree(stage, ignore_errors=True)
        if out.is_dir():
            shutil.copytree(out, stage, symlinks=True, copy_function=_link_or_copy)
        else:
            stage.mkdir()
    except PermissionError:
        shutil.rmtree(stage, ignore_errors=True)
        yield out
        return
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    _swap_in(stage, out)
