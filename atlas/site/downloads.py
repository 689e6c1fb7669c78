"""The run's tables, downloadable from the About page: each parquet file, and a CSV of each
table whose cells are all plain values (maps, histograms and vectors stay in the parquet).

Copies are refreshed only when the run's table is newer, so re-rendering a big site does not
rewrite tens of megabytes; tables larger than ``MAX_BYTES`` are named with their run path
instead of copied (the site should stay publishable).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from atlas.io.files import atomic_write_bytes
from atlas.pipeline.schema import TABLES
from atlas.site.tabular import cell

DIR = "tables"
MAX_BYTES = 64_000_000


@dataclass(frozen=True)
class Download:
    name: str
    parquet: str | None  # site-relative, None when too large to copy
    csv: str | None
    bytes: int


def _fresh(dest: Path, src: Path) -> bool:
    return dest.is_file() and dest.stat().st_mtime >= src.stat().st_mtime


def _flat(name: str) -> bool:
    """Whether a table's cells are plain (its schema has no list column): only those get a CSV,
    decided before reading it, so big list tables are not read on every render."""
    return "list" not in TABLES[name].values()


def _write_csv(name: str, src: Path, dest: Path) -> bool:
    """Write ``src`` as CSV when its cells are plain; text cells spreadsheet-safe."""
    if not _flat(name):
        return False
    df = pd.read_parquet(src)
    for c in df.columns:
        if df[c].dtype == object:
            df[c] = df[c].map(cell)
    atomic_write_bytes(dest, df.to_csv(index=False).encode("utf-8"))
    return True


def write_tables(run_root: Path, site: Path, names: list[str], written: set[str]) -> list[Download]:
    """Copy/convert the run's ``names`` tables under ``site/tables``; record what was written."""
    out = []
    for name in names:
        src = run_root / f"{name}.parquet"
        if not src.is_file():
            continue
        size = src.stat().st_size
        if size > MAX_BYTES:
            out.append(Download(name, None, None, size))
            continue
        pq, csv = f"{DIR}/{name}.parquet", f"{DIR}/{name}.csv"
        if not _fresh(site / pq, src):
            tmp = site / f"{pq}.{os.getpid()}.tmp"
            tmp.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, tmp)
            os.replace(tmp, site / pq)
        written.add(pq)
        flat = _fresh(site / csv, src) or _write_csv(name, src, site / csv)
        if flat:
            written.add(csv)
        out.append(Download(name, pq, csv if flat else None, size))
    return out
