"""What the decisions cost the default atlas outside their own stages: the extra mined layer.

    python -m benchmarks.decisions_cost [--reps 1] [--limit 0] [--out /tmp/cost]

The extra layer (``_blocks.8`` beside ``_blocks.10``) makes mining, the describe pass, seed
selection, the natural maps and the renders do more. Each of those stages runs here with one
layer and with two, back to back in one process, so both variants meet the same load on a
shared machine; the new stages (predict, connect, class-accentuate with the default [classes])
run once on the two-layer run. ``--limit N`` reads the first N bundled photos only (0: all).
Printed: the seconds per stage and variant (median over ``--reps``), and the extra layer's share
of each stage. Multiply a share by the stage's seconds in a full build's manifest to get its
cost there.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import time
from pathlib import Path

from atlas.config.tree import build_config
from atlas.pipeline.connect.stage import CONNECT
from atlas.pipeline.decisions.accent import CLASS_ACCENTUATE
from atlas.pipeline.decisions.predict import PREDICT
from atlas.pipeline.describe.causal_stage import CAUSAL
from atlas.pipeline.describe.stage import DESCRIBE
from atlas.pipeline.embed.stage import EMBED_NATURAL
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.resolve import model_of, resolve, source_of
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.select.stage import SELECT
from atlas.pipeline.stage import Context, run_alone
from atlas.site.render import render_site

NEW = ("predict", "connect", "class-accentuate")  # the stages this adds: two-layer run only
VARIANTS = {"one layer": ["_blocks.10"], "two layers": ["_blocks.10", "_blocks.8"]}


def _ctx(root: Path, layers: list[str], limit: int) -> Context:
    cfg = build_config(out=str(root), mine__layers=layers, device="cpu", data__limit=limit)
    model = model_of(cfg)
    return Context(RunDir(root), cfg, model, source_of(cfg), resolve(cfg, model), progress=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--limit", type=int, default=0, help="the first N bundled photos (0: all)")
    ap.add_argument("--out", default="/tmp/atlas-decisions-cost")
    args = ap.parse_args()
    base = Path(args.out)
    times: dict[tuple[str, str], list[float]] = {}
    for rep in range(args.reps):
        roots = {v: base / f"{rep}-{v.replace(' ', '-')}" for v in VARIANTS}
        for r in roots.values():
            shutil.rmtree(r, ignore_errors=True)
        ctxs = {v: _ctx(roots[v], layers, args.limit) for v, layers in VARIANTS.items()}
        steps = [("mine", MINE), ("describe", DESCRIBE), ("causal", CAUSAL), ("select", SELECT),
                 ("embed-natural", EMBED_NATURAL), ("render", None), ("predict", PREDICT),
                 ("connect", CONNECT), ("class-accentuate", CLASS_ACCENTUATE)]
        for name, stage in steps:
            for v, ctx in ctxs.items():
                if name in NEW and v == "one layer":
                    continue
                t0 = time.perf_counter()
                if stage is None:
                    render_site(ctx.run.root, roots[v].with_name(roots[v].name + "-site"))
                else:
                    run_alone(stage, ctx)
                dt = time.perf_counter() - t0
                times.setdefault((name, v), []).append(dt)
                print(f"rep {rep} {name:14s} {v:10s} {dt:8.1f} s  load "
                      f"{os.getloadavg()[0]:.1f}", flush=True)
    print("\nstage           one layer  two layers  extra layer's share of the stage")
    for name in ("mine", "describe", "causal", "select", "embed-natural", "render", *NEW):
        one = times.get((name, "one layer"))
        two = statistics.median(times[(name, "two layers")])
        if one:
            o = statistics.median(one)
            print(f"{name:14s} {o:9.1f}  {two:10.1f}  {(two - o) / two:6.0%}")
        else:
            print(f"{name:14s} {'–':>9s}  {two:10.1f}  new")


if __name__ == "__main__":
    main()
