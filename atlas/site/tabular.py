"""Text of exported tables, written once for every export: CSV cells made safe to open in a
spreadsheet, and compact JSON that refuses NaN."""

from __future__ import annotations

import csv
import io
import json
from typing import Any


def cell(v: Any) -> Any:
    """A CSV cell: None as empty, and text a spreadsheet would run as a formula (=, +, -, @,
    tab, CR first) quoted with a leading apostrophe."""
    if isinstance(v, str) and v[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + v
    return "" if v is None else v


def csv_text(rows: list[dict[str, Any]]) -> str:
    """``rows`` (dicts with the same keys) as CSV with a header; "" for no rows."""
    buf = io.StringIO()
    if rows:
        w = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows({k: cell(v) for k, v in r.items()} for r in rows)
    return buf.getvalue()


def json_text(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":")) + "\n"
