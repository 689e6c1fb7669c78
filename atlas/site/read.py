"""Reading a run's tables as the site does: any table may be missing, any cell untrusted.

A run with only ``mine`` done, one made by an older atlas, or one edited by hand still renders:
a missing table reads as no rows, a missing or NaN cell as empty text, a list cell as a plain
list.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from atlas.pipeline.rundir import RunDir

Key = tuple[str, int]  # (layer, unit)
Row = dict[str, Any]


def records(run: RunDir, table: str) -> list[Row]:
    """The table's rows as dicts ([] when the run lacks it)."""
    if not run.has(table):
        return []
    df = run.read_table(table)
    return df.to_dict("records") if len(df) else []


def by_unit(rows: list[Row]) -> dict[Key, list[Row]]:
    """Rows grouped by (layer, unit), each group in ``rank`` order."""
    out: dict[Key, list[Row]] = defaultdict(list)
    for r in rows:
        out[(str(r["layer"]), int(r["unit"]))].append(r)
    for v in out.values():
        v.sort(key=lambda r: int(r.get("rank", 0)))
    return out


def text(x: object) -> str:
    """A table cell as text ('' for missing/NaN)."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x)


def cells(r: Row, key: str) -> list[Any]:
    """A list cell (parquet gives numpy arrays, or None when missing) as a plain list."""
    v = r.get(key)
    return [] if v is None else list(v)
