"""The run directory: atomic writes, the manifest, stage status and resume bookkeeping.

Every file is written to a temporary name in the same directory and renamed into place, so a
run killed at any moment, or a disk that fills up, leaves either the old file or the new one,
never half of one. A stage's checkpoints live under ``checkpoints/`` until the stage is done.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from atlas.errors import AtlasError
from atlas.pipeline import schema

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


def stable_hash(obj: Any) -> str:
    """A short hash of a JSON-able object, stable across processes and runs."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


class RunDir:
    """A run directory: table I/O against :mod:`atlas.pipeline.schema` and the manifest."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.media = self.root / "media"

    # ---- tables -------------------------------------------------------------------------
    def table_path(self, table: str) -> Path:
        return self.root / f"{table}.parquet"

    def has(self, table: str) -> bool:
        return self.table_path(table).exists()

    def write_table(self, table: str, df: pd.DataFrame) -> Path:
        df = schema.check(df, table)
        path = self.table_path(table)
        atomic_write_with(path, lambda buf: df.to_parquet(buf, index=False))
        return path

    def read_table(self, table: str) -> pd.DataFrame:
        path = self.table_path(table)
        if not path.exists():
            return schema.empty(table)
        return pd.read_parquet(path)

    # ---- manifest -----------------------------------------------------------------------
    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        if not self.manifest_path.exists():
            return {"stages": {}, "skipped": []}
        return json.loads(self.manifest_path.read_text())

    def update_manifest(self, **fields: Any) -> dict[str, Any]:
        """Merge top-level ``fields`` into the manifest and write it atomically."""
        m = self.manifest()
        m.update(fields)
        atomic_write_json(self.manifest_path, m)
        return m

    def stage(self, name: str) -> dict[str, Any]:
        return self.manifest().get("stages", {}).get(name, {})

    def stage_done(self, name: str, input_hash: str) -> bool:
        """True when stage ``name`` finished with exactly these inputs and settings."""
        st = self.stage(name)
        return st.get("status") == "done" and st.get("hash") == input_hash

    def start_stage(self, name: str, input_hash: str) -> None:
        m = self.manifest()
        prev = m.setdefault("stages", {}).get(name, {})
        m["stages"][name] = {
            "status": "running",
            "hash": input_hash,
            "started": prev.get("started") if prev.get("hash") == input_hash else time.time(),
        }
        atomic_write_json(self.manifest_path, m)

    def finish_stage(self, name: str, input_hash: str, **info: Any) -> None:
        m = self.manifest()
        st = m.setdefault("stages", {}).setdefault(name, {})
        started = st.get("started") or time.time()
        st.update(status="done", hash=input_hash, finished=time.time(), **info)
        st["seconds"] = round(st["finished"] - started, 3)
        atomic_write_json(self.manifest_path, m)

    def checkpoint_path(self, name: str) -> Path:
        return self.root / "checkpoints" / f"{name}.pt"

    def clear_checkpoints(self, patterns: tuple[str, ...]) -> None:
        """Remove what matches ``patterns`` under ``checkpoints/``, and the folder once empty
        (a finished run keeps none). Safe when several ranks clear the same files at once."""
        base = self.root / "checkpoints"
        for pattern in patterns:
            for p in base.glob(pattern):
                if p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            base.rmdir()
