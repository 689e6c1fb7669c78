"""The run directory: its tables, the manifest, stage status and resume bookkeeping.

Every file is written atomically (:mod:`atlas.io.files`), so a run killed at any moment leaves
either the old file or the new one. Each table has one writer: while a stage runs, the run
directory accepts writes only of the tables that stage declares (:meth:`RunDir.writing`). A
stage's checkpoints live under ``checkpoints/`` until the stage is done.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd

from atlas.io.files import atomic_write_json, atomic_write_with
from atlas.models.basis import Basis
from atlas.models.basis import load as load_basis
from atlas.pipeline import schema


class RunDir:
    """A run directory: table I/O against :mod:`atlas.pipeline.schema` and the manifest."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)
        self.media = self.root / "media"
        self.basis_dir = self.root / "basis"  # the basis the run's features are read with
        self._allowed: tuple[str, ...] | None = None  # the running stage's outputs

    @contextlib.contextmanager
    def writing(self, tables: tuple[str, ...]) -> Iterator[None]:
        """Within the block, writing any table but ``tables`` is a bug of the stage that runs:
        every table has the one writer that declares it."""
        before, self._allowed = self._allowed, tuple(tables)
        try:
            yield
        finally:
            self._allowed = before

    def bases(self) -> list[Basis]:
        """The bases the run's features were mined with (``basis/NAME.json``)."""
        if not self.basis_dir.is_dir():
            return []
        return [load_basis(p) for p in sorted(self.basis_dir.glob("*.json"))]

    # ---- tables -------------------------------------------------------------------------
    def table_path(self, table: str) -> Path:
        return self.root / f"{table}.parquet"

    def has(self, table: str) -> bool:
        return self.table_path(table).exists()

    def write_table(self, table: str, df: pd.DataFrame) -> Path:
        if self._allowed is not None and table not in self._allowed:
            raise RuntimeError(f"table {table!r} written by a stage that declares only "
                               f"{', '.join(self._allowed) or 'no tables'}")
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
