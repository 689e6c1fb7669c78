"""Where an accentuation's time goes, and interleaved A/B timings of engine settings.

    python -m benchmarks.engine profile                 # share of each part of a step
    python -m benchmarks.engine ab --set steps=20 --set steps=30     # A/B, interleaved
    python -m benchmarks.engine ab --set mask=gradient --set mask=change --pairs 6 --reps 5
    python -m benchmarks.engine ab --set stream.SEED_VIEWS=1 --set stream.SEED_VIEWS=64  # engine
    python -m benchmarks.engine compile      # torch.compile of the forward and decode vs eager
    python -m benchmarks.engine measure      # seed and result measured in one pass or two

Pairs: units 0, 16, 32, ... of EfficientNet-Lite0 ``_blocks.10`` on their top bundled photo,
regularized at ``_blocks.4`` (the model's rule), one pair per call (the CPU default).

Times are **CPU seconds of this process** (``time.process_time``), on one thread unless
``--threads``: on a machine shared with other jobs the wall clock measures the neighbours,
while the CPU time one thread spends on a fixed amount of work barely moves with them. The
settings are interleaved within each repetition (A B C, A B C, ...), so slow drift hits them
alike, and medians over repetitions are printed. ``profile`` runs ``torch.profiler`` over the
loop's named spans (``accent.*`` in :mod:`atlas.accent.loop`) and the stage's other work.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch
from torch.profiler import ProfilerActivity, profile

from atlas.accent import stream
from atlas.accent.loop import accentuate, visualize
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.data.loader import make_loader
from atlas.data.sources import bundled
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import load_model
from benchmarks.common import loop_args, mine_bundled
from benchmarks.quality import parse_set, with_overrides

LAYER = "_blocks.10"


def pairs(model, count: int, stride: int = 16) -> list[tuple[int, torch.Tensor]]:
    """(unit, seed) for units 0, stride, 2*stride, ... on their top bundled photo."""
    src = bundled()
    top, _ = mine_bundled(model, [LAYER], k=1)
    top = top[(top.kind == "top") & (top["rank"] == 0) & (top.unit % stride == 0)]
    top = top.sort_values("unit").head(count)
    where = {r.image_id: r.index for r in src.records}
    units, pos = top.unit.astype(int).tolist(), [where[i] for i in top.image_id]
    batch = next(iter(make_loader(src, model.input_size, len(pos), 0, pos)))
    return list(zip(units, batch.images, strict=True))


def run(model, cfg: AccentConfig, work: list[tuple[int, torch.Tensor]]) -> float:
    """CPU seconds for accentuating ``work``, ``cfg.batch_size`` pairs per call (0: 1)."""
    args, b = loop_args(model, LAYER, cfg), cfg.batch_size or 1
    t0 = time.process_time()
    for i in range(0, len(work), b):
        units = torch.tensor([u for u, _ in work[i:i + b]])
        seeds = torch.stack([s for _, s in work[i:i + b]])
        accentuate(model, seeds, Target(LAYER, units, kind=cfg.target), cfg, **args)
    return time.process_time() - t0


def ab(model, work, cfgs: dict[str, tuple[AccentConfig, dict]], reps: int
       ) -> dict[str, list[float]]:
    """Per setting, CPU seconds per pair of each repetition (settings interleaved). A setting
    is a config and engine constants of :mod:`atlas.accent.stream` to set while it runs."""
    times: dict[str, list[float]] = {k: [] for k in cfgs}
    run(model, next(iter(cfgs.values()))[0], work[:1])  # warm-up: first-call allocations
    for r in range(reps):
        order = list(cfgs.items())
        if r % 2:
            order.reverse()  # A B C, C B A, ...: neither side always goes first
        for label, (cfg, engine) in order:
            saved = {k: getattr(stream, k) for k in engine}
            for k, v in engine.items():
                setattr(stream, k, v)
            try:
                times[label].append(run(model, cfg, work) / len(work))
            finally:
                for k, v in saved.items():
                    setattr(stream, k, v)
    base = statistics.median(next(iter(times.values())))
    print(f"{'setting':<40} {'cpu s/pair':>10} {'range':>13} {'vs first':>8}")
    for label, ts in times.items():
        med = statistics.median(ts)
        print(f"{label:<40} {med:>10.3f} {min(ts):>6.3f}-{max(ts):<6.3f} {med / base:>8.2f}",
              flush=True)
    return times


def profile_parts(model, work, cfg: AccentConfig) -> None:
    """Share of the loop's CPU time per named span."""
    run(model, cfg, work[:1])
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.process_time()
        run(model, cfg, work)
        total = time.process_time() - t0
    spans = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages()
             if e.key.startswith("accent.")}
    counts = {e.key: e.count for e in prof.key_averages() if e.key.startswith("accent.")}
    covered = sum(spans.values())
    print(f"{len(work)} pairs, {total / len(work):.3f} CPU s per pair under the profiler; "
          f"{cfg.steps} steps, mask_every {cfg.mask_every}, mask {getattr(cfg, 'mask', '-')}")
    print("shares of the time inside the loop's spans (wall time inside each span):")
    print(f"{'part':<28} {'calls':>6} {'ms/call':>8} {'share':>7}")
    for key, t in sorted(spans.items(), key=lambda kv: -kv[1]):
        print(f"{key:<28} {counts[key]:>6} {t / counts[key] * 1e3:>8.2f} {t / covered:>7.1%}")


def vis_ab(model, units: int, chunks: list[int], cfg: AccentConfig, reps: int) -> None:
    """CPU seconds per unit of the vis stage's calls (``visualize``) at each chunk size,
    interleaved; the stage's own settings (:func:`atlas.pipeline.vis.vis_config`)."""
    from atlas.pipeline.vis import vis_config

    vc = vis_config(cfg)
    args = loop_args(model, LAYER, vc)
    times: dict[int, list[float]] = {c: [] for c in chunks}
    for r in range(reps):
        for c in (chunks if r % 2 == 0 else chunks[::-1]):
            t0 = time.process_time()
            for i in range(0, units, c):
                ids = torch.arange(i, min(i + c, units))
                visualize(model, Target(LAYER, ids, kind=vc.target), vc, **args)
            times[c].append((time.process_time() - t0) / units)
    for c, ts in times.items():
        print(f"vis chunk {c:<4} {statistics.median(ts):>8.3f} cpu s/unit "
              f"({min(ts):.3f}-{max(ts):.3f}, {reps} reps of {units} units)", flush=True)


def compile_ab(model, views: int = 8, reps: int = 8) -> None:
    """torch.compile (inductor) against eager, for the forward to the target layer (a
    forward+backward of ``views`` views at the loop's view side) and for the Fourier decode
    (forward+backward of one canvas): the first call (compilation, wall seconds), then the
    median CPU time of a call."""
    from atlas.accent.loop import parameterization
    from atlas.models.hooks import Probe

    cfg = AccentConfig()
    probe, p = Probe(model, [LAYER]), parameterization(cfg)
    side = loop_args(model, LAYER, cfg)["view_px"]
    x = torch.rand(views, 3, side, side)
    params = p.encode(torch.rand(1, 3, cfg.canvas, cfg.canvas))

    def forward(v: torch.Tensor) -> torch.Tensor:
        return probe(v)[LAYER]

    def model_step(f) -> None:
        f(x.detach().requires_grad_()).mean().backward()

    def decode_step(f) -> None:
        f(params).mean().backward()

    # the decode takes a millisecond: ten times the repetitions for a steady median
    for what, step, fn, n in (
            (f"forward+backward of {views} views", model_step, forward, reps),
            ("decode forward+backward of one canvas", decode_step, p.decode, reps * 10)):
        for name, f in (("eager", fn), ("compiled", torch.compile(fn))):
            wall = time.perf_counter()
            step(f)
            first = time.perf_counter() - wall
            times = []
            for _ in range(n):
                t0 = time.process_time()
                step(f)
                times.append(time.process_time() - t0)
            ms = statistics.median(times) * 1e3
            print(f"{name:<9} first call {first:6.1f} s wall; then {ms:7.2f} ms CPU per "
                  f"{what}", flush=True)


def measure_ab(model, reps: int) -> None:
    """The seed's and the result's measurement (:func:`~atlas.accent.loop.measure`) as two
    passes of N images against one of 2N (:func:`~atlas.accent.loop.measure_pair`), wall
    time, interleaved, after a pass over a 80 MB buffer (the steps leave the caches cold)."""
    from atlas.accent.loop import measure, measure_pair

    reg, cold = loop_args(model, LAYER, AccentConfig())["reg_layer"], torch.empty(20_000_000)
    side = model.input_size
    for n in (1, 4):
        seeds, images = torch.rand(n, 3, side, side), torch.rand(n, 3, side, side)
        target, times = Target(LAYER, torch.arange(n)), {"two passes": [], "one pass": []}
        for r in range(reps + 1):
            for name in times:
                cold.add_(1)
                t0 = time.perf_counter()
                if name == "two passes":
                    measure(model, seeds, target, reg)
                    measure(model, images, target, reg)
                else:
                    measure_pair(model, seeds, images, target, reg)
                if r:
                    times[name].append(time.perf_counter() - t0)
        print(f"N={n}: " + ", ".join(f"{k} {statistics.median(v) * 1e3:.1f} ms"
                                    for k, v in times.items()), flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["profile", "ab", "vis", "compile", "measure"])
    ap.add_argument("--chunks", default="8,16", help="vis: units per call to compare")
    ap.add_argument("--set", action="append", default=[],
                    help="ab: one setting per --set, as KEY=VALUE[,KEY=VALUE...] over the "
                         "defaults ('-' for the defaults); profile: overrides")
    ap.add_argument("--pairs", type=int, default=4)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    tune_allocator()
    torch.set_num_threads(args.threads)
    model = load_model("efficientnet-lite0")
    if args.mode == "compile":
        compile_ab(model)
        return
    if args.mode == "measure":
        measure_ab(model, args.reps)
        return
    work = pairs(model, args.pairs) if args.mode != "vis" else []
    print(f"{len(work)} pairs of {LAYER}, {torch.get_num_threads()} thread(s)")
    if args.mode == "vis":
        over = parse_set([i for s in args.set for i in s.split(",") if s != "-"])
        vis_ab(model, 16, [int(c) for c in args.chunks.split(",")],
               with_overrides(AccentConfig(), over), args.reps)
        return
    if args.mode == "profile":
        over = parse_set([i for s in args.set for i in s.split(",") if s != "-"])
        profile_parts(model, work, with_overrides(AccentConfig(), over))
        return
    cfgs = {}
    for s in args.set or ["-"]:
        over = parse_set([] if s == "-" else s.split(","))
        engine = {k[7:]: over.pop(k) for k in list(over) if k.startswith("stream.")}
        cfgs[s] = (with_overrides(replace(AccentConfig()), over), engine)
    ab(model, work, cfgs, args.reps)


if __name__ == "__main__":
    main()
