"""Validation results as a terminal table, ``validation/validation.json`` and SVG charts.

Chart paths are stored in the result (``charts``, :func:`atlas.pipeline.results.chart_path`),
so the site's Validation page reads them instead of guessing file names.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from atlas.evaluation.charts import bar_chart, line_chart, strip_chart
from atlas.io.files import atomic_write_bytes
from atlas.pipeline.results import (
    FILE,
    Claims,
    Interval,
    KindShares,
    LayerResult,
    OwnChannel,
    Pathway,
    Sweep,
    ValidationResult,
    chart_path,
    read_result,
)
from atlas.pipeline.rundir import RunDir

NAMES = {"accent_natural": "accent<->natural", "natural_natural": "natural<->natural",
         "vis_natural": "vis<->natural", "random_natural": "random<->natural"}
SHARE_KINDS = [f.name for f in fields(KindShares)]


def result_path(run: RunDir) -> Path:
    return run.root / FILE


def load_result(run: RunDir) -> ValidationResult | None:
    """The run's result, None when there is none; ResultError when it cannot be read."""
    path = result_path(run)
    return read_result(path) if path.exists() else None


def _stats(pathway: Pathway, group: str) -> list[Interval]:
    return [getattr(pathway[group], k) for k in NAMES]


def _chart_groups(r: LayerResult) -> tuple[list[str], list[list[Interval]]]:
    """Bar groups of a layer's pathway chart: the plain rows, then the shortcut-removed ones
    (labelled '-own') so the two read side by side."""
    groups = [*r.attr_layers, "all"]
    stats = [_stats(r.pathway, g) for g in groups]
    sc = r.shortcut
    if sc is not None and sc.pathway:
        extra = [*sc.layers, "all"]
        groups += [f"{g} -own" for g in extra]
        stats += [_stats(sc.pathway, g) for g in extra]
    return groups, stats


def _pathway_title(layer: str, units: int, variant: bool) -> str:
    """Short enough for the chart's width with the variant's key in it."""
    if variant:
        return f"Pathway similarity, {layer} ({units} units, 95% CI); -own: shortcut removed"
    return f"Pathway similarity, target {layer} ({units} units, 95% CI)"


def charts(res: ValidationResult) -> dict[str, str]:
    """{relative path: SVG text} for every chart of a result."""
    out: dict[str, str] = {}
    pairs = res.natural_pairs.distance
    for layer, r in res.layers.items():
        groups, stats = _chart_groups(r)
        out[chart_path("pathway", layer)] = bar_chart(
            _pathway_title(layer, len(r.units), len(groups) > len(r.attr_layers) + 1),
            "Pearson r of attributions", groups, list(NAMES.values()),
            [[c.mean for c in row] for row in stats], [[c.lo for c in row] for row in stats],
            [[c.hi for c in row] for row in stats])
        c = r.closeness
        out[chart_path("closeness", layer)] = strip_chart(
            f"Latent distance at {c.reg_layer}, target {layer}", "relative distance",
            {"accentuation-seed": c.accent_distance.values,
             "visualization-seed": c.vis_distance.values, "photo-photo": pairs})
        out[chart_path("gain", layer)] = strip_chart(
            f"Activation gain over the seed, target {layer}", "final / seed activation",
            {"accentuation": c.accent_gain.values, "visualization": c.vis_gain.values})
    sw = res.sweep
    if sw:
        reg, rec = sw.region.region, sw.recommended_lambda
        for key, label in (("distance", "relative latent distance"), ("gain", "gain")):
            series = {f"unit {u}": row
                      for u, row in zip(sw.units, getattr(sw, key), strict=True)}
            series["mean"] = getattr(sw, f"mean_{key}")
            out[chart_path(f"lambda-{key}")] = line_chart(
                f"Lambda sweep, {sw.layer}: {label}", label, sw.lambdas, series, reg, rec)
    return out


def write_result(run: RunDir, res: ValidationResult) -> None:
    """Write the charts, then the JSON (last, so its presence means a complete result)."""
    svgs = charts(res)
    for rel, text in svgs.items():
        atomic_write_bytes(run.root / rel, text.encode())
    res.charts = sorted(svgs)
    atomic_write_bytes(result_path(run), res.to_json().encode())


def _ci(c: Interval) -> str:
    return f"{c.mean:+.3f} [{c.lo:+.3f}, {c.hi:+.3f}]"


def _pathway_rows(layer: str, pathway: Pathway, groups: list[str],
                  cl: Claims | None, w: int) -> list[str]:
    """One table's rows (per attribution layer, then "all") and the claims' line; ``w`` the
    target column's width."""
    lines = [f"{layer:<{w}}{g:<12}" + "".join(f"{_ci(c):<27}" for c in _stats(pathway, g))
             for g in [*groups, "all"]]
    a = pathway["all"]
    if cl:
        lines.append(f"{'':<{w}}accent - natural = {_ci(a.accent_minus_natural)}  "
                     f"(>= -{cl.margin}: {'yes' if cl.accent_ge_natural else 'NO'}); "
                     f"accent - vis = {_ci(a.accent_minus_vis)}  (>= {cl.gap}: "
                     f"{'yes' if cl.accent_beats_vis else 'NO'}); accent<->own seed "
                     f"{a.accent_own_seed.mean:+.3f}")
    return lines


def _own_channel_lines(own: dict[str, OwnChannel], w: int) -> list[str]:
    """How much the dropped channel weighed, per stream layer: the reason for the variant."""
    lines = []
    for a, o in own.items():
        shares = ", ".join(f"{k} {getattr(o.share, k).mean:.3f}" for k in SHARE_KINDS)
        tops = ", ".join(f"{k} {getattr(o.top, k):.0%}" for k in SHARE_KINDS)
        lines.append(f"{'':<{w}}own channel at {a}: share of |attribution| {shares} (chance "
                     f"{o.chance:.3f}); largest channel for {tops}")
    return lines


def _shortcut_lines(res: ValidationResult, w: int) -> list[str]:
    """The shortcut-removed table (absent from results written before it existed)."""
    found = {k: r.shortcut for k, r in res.layers.items() if r.shortcut is not None}
    if not found:
        return []
    lines = ["", "shortcut removed: the target's own channel dropped at attribution layers on "
             "its residual stream (same channel count and grid as the target); 'all' averages "
             "every attribution layer, the others as they are",
             f"{'target':<{w}}{'attr layer':<12}" + "".join(f"{n:<27}" for n in NAMES.values())]
    for layer, sc in found.items():
        if not sc.layers or sc.pathway is None:
            lines.append(f"{layer:<{w}}no attribution layer on its residual stream: "
                         "same as the plain table")
            continue
        lines += _pathway_rows(layer, sc.pathway, sc.layers, sc.claims, w)
        lines += _own_channel_lines(sc.own_channel, w)
    return lines


def _closeness_lines(res: ValidationResult, w: int) -> list[str]:
    pairs = res.natural_pairs.distance
    med = sorted(pairs)[len(pairs) // 2]
    reg = res.natural_pairs.layer
    lines = ["", f"gain and closeness (relative latent distance at {reg};"
             f" photo-photo median {med:.3f} over {len(pairs)} random pairs), median [min, max]",
             f"{'target':<{w}}{'seed act':<12}{'accent gain':<24}{'accent dist':<24}"
             f"{'vis gain':<24}{'vis dist to seed':<24}"]
    for layer, r in res.layers.items():
        c = r.closeness
        cell = lambda d: f"{d.median:.3f} [{d.min:.2f}, {d.max:.2f}]"  # noqa: E731
        lines.append(f"{layer:<{w}}{c.seed_activation.median:<12.3f}"
                     f"{cell(c.accent_gain):<24}{cell(c.accent_distance):<24}"
                     f"{cell(c.vis_gain):<24}{cell(c.vis_distance):<24}")
    return lines


def _sweep_lines(sw: Sweep | None) -> list[str]:
    if not sw:
        return []
    lines = ["", f"lambda sweep at {sw.layer}, units {sw.units} (mean over units)",
             f"{'lambda':<10}{'gain':<10}distance"]
    lines += [f"{lam:<10g}{g:<10.3f}{d:.3f}" for lam, g, d in
              zip(sw.lambdas, sw.mean_gain, sw.mean_distance, strict=True)]
    reg = sw.region
    span = "not found" if reg.region is None else "{:.3g}..{:.3g}".format(*reg.region)
    return lines + [
        f"sensitive region (20-80% of the way seed->unregularized): {span}; steepest "
        f"interval {reg.steepest[0]:g}..{reg.steepest[1]:g}",
        f"recommended lambda: {sw.recommended_lambda}  (the centre of the sensitive "
        "region: distance halfway between the grid's ends, interpolated in log "
        "lambda; full rule in validation.json)"]


def format_table(res: ValidationResult) -> str:
    """The result as plain-text tables for the terminal."""
    cfg, acc = res.config, res.config["accent"]
    w = max(12, 2 + max((len(k) for k in res.layers), default=0))  # the target column
    lines = [f"validate {res.model} on {res.source}: {cfg['units']} units/layer, "
             f"{cfg['naturals']} naturals, {cfg['seeds']} seed(s), {cfg['randoms']} randoms per "
             f"unit; accent steps={acc['steps']} lam={acc['lam']} canvas={acc['canvas']} "
             f"crops={acc['augment']['crops']} reg={acc['reg_layer']}", "",
             "pathway similarity: Pearson r of attribution vectors (act x grad), mean over "
             "units [95% bootstrap CI]",
             f"{'target':<{w}}{'attr layer':<12}" + "".join(f"{n:<27}" for n in NAMES.values())]
    for layer, r in res.layers.items():
        lines += _pathway_rows(layer, r.pathway, r.attr_layers, r.claims, w)
    lines += _shortcut_lines(res, w) + _closeness_lines(res, w) + _sweep_lines(res.sweep)
    lines.append(f"\n{res.seconds.get('total', 0):.0f} s")
    return "\n".join(lines)
