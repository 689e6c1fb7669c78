"""Read a run's bases (``basis/NAME.json``, the basis stage's record and ``basis.parquet``) and
what mining says of each feature's density into the site's units.

A unit layer ``LAYER/NAME`` whose basis is known gets a :class:`BasisInfo` (kind, size, how it
was learned, its metrics) and each of its units a :class:`FeatureInfo` (the channels its
decoder row weighs most, its nearest features, the share of images and positions it fires on).
Every value is run data: read defensively, like every other table.
"""

from __future__ import annotations

import json
from typing import Any

from atlas.pipeline.rundir import RunDir
from atlas.site.content import BasisInfo, FeatureInfo, Unit
from atlas.site.read import by_unit, cells, records, text
from atlas.site.safe import finite


def _int(x: Any, default: int = 0) -> int:
    v = finite(x)
    return int(v) if v is not None else default


def _basis(meta: dict[str, Any]) -> BasisInfo | None:
    layer, name = text(meta.get("layer")), text(meta.get("name"))
    if not layer or not name:
        return None
    metrics = meta.get("metrics") if isinstance(meta.get("metrics"), dict) else {}
    return BasisInfo(
        unit_layer=f"{layer}/{name}", layer=layer, name=name, kind=text(meta.get("kind")),
        size=_int(meta.get("features")), width=_int(meta.get("channels")),
        activation=text(meta.get("activation")), k=_int(meta.get("k")),
        metrics={str(k): v for k, v in metrics.items() if finite(v) is not None},
        learned=meta.get("learned") if isinstance(meta.get("learned"), dict) else {},
        finetuned=meta.get("finetuned") if isinstance(meta.get("finetuned"), dict) else {},
        threshold_l0=finite(meta.get("threshold_l0")) or 0.0, refine=_int(meta.get("refine")),
        positions=meta.get("positions") if isinstance(meta.get("positions"), dict) else {},
        images=meta.get("images") if isinstance(meta.get("images"), dict) else {},
        source=text(meta.get("source")))


def bases(run: RunDir) -> dict[str, BasisInfo]:
    """{unit layer: basis} of the run's basis files."""
    out = {}
    folder = run.basis_dir
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            meta = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        info = _basis(meta) if isinstance(meta, dict) else None
        if info is not None:
            out[info.unit_layer] = info
    return out


def _pairs(r: dict[str, Any], idx: str, val: str) -> list[tuple[int, float]]:
    out = []
    for i, v in zip(cells(r, idx), cells(r, val), strict=False):
        fi, fv = finite(i), finite(v)
        if fi is not None and fv is not None:
            out.append((int(fi), fv))
    return out


def attach(run: RunDir, units: list[Unit]) -> dict[str, BasisInfo]:
    """Give the units of every basis layer their basis and feature facts; returns the bases."""
    found = bases(run)
    rows = by_unit(records(run, "basis"))
    for u in units:
        info = found.get(u.layer)
        if info is None:
            continue
        u.basis = info
        r = (rows.get((u.layer, u.unit)) or [{}])[0]
        stats = u.stats or {}
        u.feature = FeatureInfo(name=text(r.get("name")),
                                fire_images=finite(stats.get("fire_images")),
                                fire_positions=finite(stats.get("fire_positions")),
                                channels=_pairs(r, "channels", "weights"),
                                nearest=_pairs(r, "nearest", "similarity"))
    return found
