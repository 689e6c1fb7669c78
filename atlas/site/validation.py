"""Read ``validation/validation.json`` (``atlas validate``) into the Validation page's content.

The JSON is run data like any other (it may be edited, truncated or from another version), so
every field is read defensively: numbers through :func:`finite`, names through ``str``, missing
parts shown as "–". The claims' verdicts are the ones ``atlas validate`` computed; this module
only adds what the 95% intervals say about them, so the page can neither invent nor hide a
failure. Charts are accepted only as plain SVG files inside ``validation/`` (see
:func:`atlas.site.safe.plain_svg`); the page shows them through ``<img>``, never inline.
"""

from __future__ import annotations

import json
import re
from math import isclose
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError
from atlas.site.safe import finite, natural_key, plain_svg, slug
from atlas.site.validation_content import (
    Chart,
    Interval,
    LayerView,
    PathwayRow,
    Summary,
    SweepRow,
    SweepView,
    ValidationView,
    Verdict,
    as_dict,
    as_list,
)

FORMAT = 1  # the validation.json layout this page reads (atlas.evaluation.validate.FORMAT)
FILE = "validation/validation.json"
PAIRS = (("accent_natural", "accentuation ↔ natural"), ("natural_natural", "natural ↔ natural"),
         ("vis_natural", "visualization ↔ natural"), ("random_natural", "random photo ↔ natural"),
         ("accent_own_seed", "accentuation ↔ its seed"))
CLOSENESS = (("seed_activation", "seed activation"),
             ("accent_activation", "accentuation activation"),
             ("vis_activation", "visualization activation"),
             ("accent_gain", "accentuation gain (final / seed)"),
             ("vis_gain", "visualization gain (final / seed)"),
             ("accent_distance", "accentuation ↔ seed distance"),
             ("vis_distance", "visualization ↔ seed distance"),
             ("accent_pixel_rmse", "accentuation ↔ seed pixel RMSE"))
_ALT = {"pathway": "Pathway similarity per attribution layer: means with 95% intervals",
        "closeness": "Latent distance to the seed: accentuations, visualizations, photo pairs",
        "gain": "Activation gain over the seed: accentuations and visualizations",
        "lambda": "Lambda sweep: mean and per-unit curves, sensitive region shaded"}


def load_validation(run_root: str | Path) -> ValidationView | None:
    """The page's content, or None when the run has no validation result (no page, no link)."""
    root = Path(run_root)
    path = root / FILE
    if not path.is_file():
        return None
    try:
        res = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        raise AtlasError(f"{str(path)!r} is not readable JSON ({e.__class__.__name__}); "
                         "re-run `atlas validate` or remove the file") from e
    if not isinstance(res, dict) or res.get("format") != FORMAT:
        got = res.get("format") if isinstance(res, dict) else type(res).__name__
        raise AtlasError(f"{str(path)!r} has format {got!r}; this atlas reads format {FORMAT}: "
                         "re-run `atlas validate`")
    pairs = as_dict(res.get("natural_pairs"))
    photo_layer = str(pairs.get("layer") or "")
    photo = Summary.values("photo ↔ photo distance", as_list(pairs.get("distance")))
    charts = {str(c): _chart(root, c) for c in as_list(res.get("charts"))}
    order = [str(x) for x in as_list(as_dict(res.get("config")).get("layers"))]
    found = as_dict(res.get("layers"))  # JSON written with sorted keys: _blocks.10 < _blocks.4
    names = sorted(map(str, found), key=lambda n: (order.index(n) if n in order else len(order),
                                                    natural_key(n)))
    layers = [_layer(n, as_dict(found[n]), photo_layer, photo, charts) for n in names]
    sweep = _sweep(as_dict(res["sweep"]), charts) if as_dict(res.get("sweep")) else None
    return ValidationView(
        model=str(res.get("model") or ""), source=str(res.get("source") or ""),
        seconds=finite(as_dict(res.get("seconds")).get("total")),
        config=as_dict(res.get("config")), photo_layer=photo_layer, photo=photo, layers=layers,
        sweep=sweep, other_charts=list(charts.values()))


def _chart(root: Path, rel: object) -> Chart:
    name = str(rel)
    chart = Chart(None, _ALT.get(re.split(r"[-.]", name.rsplit("/", 1)[-1])[0],
                                 "Validation chart"))
    src = root / name
    if not name.lower().endswith(".svg") or not src.resolve().is_relative_to(
            (root / "validation").resolve()):
        chart.problem = "not an SVG file in validation/"
    elif not src.is_file():
        chart.problem = "file missing"
    elif not plain_svg(src):
        chart.problem = "not shown: not a plain SVG drawing"
    else:
        chart.path = name
    return chart


def _take(charts: dict[str, Chart], names: list[str]) -> list[Chart]:
    """Remove and return one section's charts (by the file names ``atlas validate`` uses)."""
    return [charts.pop(k) for n in names for k in list(charts) if k.rsplit("/", 1)[-1] == n]


def _at_least(v: float | None, threshold: float | None) -> bool | None:
    return None if v is None or threshold is None else v >= threshold


def _verdict(claim: str, holds: object, diff: Interval, threshold: float | None) -> Verdict:
    """``firm``: the whole 95% interval of the difference sits on the verdict's side."""
    ok = holds if isinstance(holds, bool) else None
    firm = None
    if ok is not None and threshold is not None and diff.lo is not None and diff.hi is not None:
        firm = diff.lo >= threshold if ok else diff.hi < threshold
    return Verdict(claim, ok, diff, threshold, firm)


def _layer(name: str, r: dict[str, Any], photo_layer: str, photo: Summary | None,
           charts: dict[str, Chart]) -> LayerView:
    pw, cl, c = (as_dict(r.get(k)) for k in ("pathway", "claims", "closeness"))
    margin, gap = finite(cl.get("margin")), finite(cl.get("gap"))
    low = None if margin is None else -margin
    attr = [str(g) for g in as_list(r.get("attr_layers"))]
    groups = [g for g in attr if g in pw] + [g for g in pw if g not in attr and g != "all"]
    rows = _rows(pw, [*groups, *(["all"] if "all" in pw else [])], low, gap)
    verdicts = _verdicts(as_dict(pw.get("all")), cl, low, gap)
    sc = as_dict(r.get("shortcut"))
    rows += _shortcut_rows(sc, low, gap)
    verdicts += _shortcut_verdicts(sc, low, gap)
    close = [Summary.of(label, c[k]) for k, label in CLOSENESS if k in c]
    reg = str(c.get("reg_layer") or "")
    acc = Summary.of("", c.get("accent_distance")).median
    ratio = None
    if acc is not None and photo and photo.median and photo_layer == reg:
        ratio = acc / photo.median  # only comparable when measured at the same layer
    names = [f"{k}-{slug(name)}.svg" for k in ("pathway", "closeness", "gain")]
    return LayerView(name=name, anchor="v-" + slug(name),
                     units=[str(u) for u in as_list(r.get("units"))], pathway=rows,
                     verdicts=verdicts, closeness=close, reg_layer=reg, photo=photo, ratio=ratio,
                     charts=_take(charts, names))


def _rows(pw: dict[str, Any], groups: list[str], low: float | None, gap: float | None,
          label: str = "") -> list[PathwayRow]:
    """Table rows of one pathway table; ``label`` names the variant after the group."""
    rows = []
    for g in groups:
        p = as_dict(pw[g])
        mn, mv = Interval.of(p.get("accent_minus_natural")), Interval.of(p.get("accent_minus_vis"))
        rows.append(PathwayRow(g + label, [Interval.of(p.get(k)) for k, _ in PAIRS], mn, mv,
                               _at_least(mn.mean, low), _at_least(mv.mean, gap)))
    return rows


def _verdicts(a: dict[str, Any], cl: dict[str, Any], low: float | None, gap: float | None,
              variant: str = "") -> list[Verdict]:
    """The two claims on a layer-averaged row; ``variant`` says which measure it is."""
    return [
        _verdict(f"{variant}Accentuations are processed along the natural pathway: "
                 f"accentuation ↔ natural is at least natural ↔ natural (difference ≥ "
                 f"{_g(low)})", cl.get("accent_ge_natural"),
                 Interval.of(a.get("accent_minus_natural")), low),
        _verdict(f"{variant}Noise-seeded visualizations are not: accentuation ↔ natural "
                 f"exceeds visualization ↔ natural by at least {_g(gap)}",
                 cl.get("accent_beats_vis"), Interval.of(a.get("accent_minus_vis")), gap)]


def _own_note(own: dict[str, Any]) -> str:
    """What the dropped channel weighed for natural images and visualizations, vs chance."""
    share = as_dict(own.get("share"))
    nat, vis = (Interval.of(share.get(k)).mean for k in ("natural", "vis"))
    chance = finite(own.get("chance"))
    if nat is None or vis is None or chance is None:
        return ""
    return (f"; it carried {100 * nat:.1f}% of natural images' and {100 * vis:.1f}% of "
            f"visualizations' |attribution| (chance {100 * chance:.1f}%)")


def _shortcut_rows(sc: dict[str, Any], low: float | None, gap: float | None) -> list[PathwayRow]:
    """Rows of the shortcut-removed variant, after the plain ones, each saying so in its label
    (the page's table has one label column)."""
    pw, own = as_dict(sc.get("pathway")), as_dict(sc.get("own_channel"))
    groups = [str(g) for g in as_list(sc.get("layers")) if str(g) in pw]
    rows = []
    for g in groups:
        note = _own_note(as_dict(own.get(g)))
        rows += _rows(pw, [g], low, gap, f", target's own channel removed (identity shortcut)"
                      f"{note}")
    if rows and "all" in pw:
        rows += _rows(pw, ["all"], low, gap, " (average), own channel removed at "
                      + ", ".join(groups))
    return rows


def _shortcut_verdicts(sc: dict[str, Any], low: float | None,
                       gap: float | None) -> list[Verdict]:
    """The claims again without the identity shortcut's channel, when a layer had one."""
    pw, layers = as_dict(sc.get("pathway")), [str(g) for g in as_list(sc.get("layers"))]
    if not layers or "all" not in pw:
        return []
    variant = (f"Shortcut removed (the target's own channel dropped at {', '.join(layers)}, "
               "which reaches the target through identity shortcuts): ")
    return _verdicts(as_dict(pw["all"]), as_dict(sc.get("claims")), low, gap, variant)


def _g(v: float | None) -> str:
    return "–" if v is None else f"{v:g}".replace("-", "−")


def _at(rows: list[Any], i: int) -> float | None:
    return finite(rows[i]) if i < len(rows) else None


def _span(x: object) -> tuple[float, float] | None:
    v = [finite(t) for t in as_list(x)]
    return (v[0], v[1]) if len(v) == 2 and None not in v else None  # type: ignore[return-value]


def _sweep(sw: dict[str, Any], charts: dict[str, Chart]) -> SweepView:
    reg = as_dict(sw.get("region"))
    region, steepest = _span(reg.get("region")), _span(reg.get("steepest"))
    units = [str(u) for u in as_list(sw.get("units"))]
    gains, dists = ([as_list(x) for x in as_list(sw.get(k))] + [[]] * len(units)
                    for k in ("gain", "distance"))
    rows = []
    for i, lam in enumerate(finite(x) for x in as_list(sw.get("lambdas"))):
        inside = bool(region and lam is not None and region[0] <= lam <= region[1])
        ends = bool(steepest and lam is not None and any(isclose(lam, e, rel_tol=1e-6)
                                                         for e in steepest))
        rows.append(SweepRow(lam, _at(as_list(sw.get("mean_gain")), i),
                             _at(as_list(sw.get("mean_distance")), i),
                             [(_at(gains[j], i), _at(dists[j], i)) for j in range(len(units))],
                             inside, ends))
    mids = as_list(sw.get("unit_mid"))
    return SweepView(layer=str(sw.get("layer") or ""), units=units, rows=rows, region=region,
                     steepest=steepest, mid=finite(reg.get("mid")),
                     recommended=finite(sw.get("recommended_lambda")),
                     rule=str(sw.get("rule") or ""),
                     unit_mid=[(u, _at(mids, i)) for i, u in enumerate(units)],
                     charts=_take(charts, ["lambda-distance.svg", "lambda-gain.svg"]))
