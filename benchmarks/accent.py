"""Accentuation benchmark: quality (gain, latent distance) and speed (floor/actual).

    python -m benchmarks.accent                       # quality + speed on the bundled model
    python -m benchmarks.accent --curve               # time-to-quality curve over settings
    python -m benchmarks.accent --model resnet50 --weights none --layer layer4.1 \
        --reg-layer layer2.3 --speed-only --batches 64 --steps 128   # e.g. on a GPU

Medians over pairs; timings are medians of repeated runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace

import torch

from atlas.accent.loop import accentuate, reference_precision
from atlas.accent.objectives import Target, relative_distance
from atlas.config.accent import AccentConfig
from atlas.data.loader import make_loader
from atlas.data.sources import bundled
from atlas.models.hooks import Probe
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import load_model
from benchmarks.common import loop_args, mine_bundled, resolved_for


def top_pairs(model, layer: str, units: int, per_unit: int):
    """(seeds, unit indices) of each unit's top photos from a mining pass over the bundle."""
    src = bundled()
    top, _ = mine_bundled(model, [layer], k=per_unit)
    top = top[(top.kind == "top") & (top.unit < units) & (top["rank"] < per_unit)]
    pos = {r.image_id: r.index for r in src.records}
    batch = next(iter(make_loader(src, model.input_size, len(top), 0,
                                  [pos[i] for i in top.image_id])))
    return batch.images, torch.tensor(top.unit.to_numpy())


def photo_distance(model, layer: str, n: int = 64) -> float:
    """Median relative distance between two different bundled photos at ``layer``."""
    src = bundled()
    batch = next(iter(make_loader(src, model.input_size, n, 0, list(range(0, 4 * n, 4)))))
    with torch.no_grad():
        a = Probe(model, [layer])(batch.images)[layer]
    return float(relative_distance(a, a.roll(1, 0)).median())


def quality(model, seeds, units, layer, cfg: AccentConfig) -> dict:
    resolved = resolved_for(model, layer, cfg)
    batch, args = resolved.accent_batch, loop_args(model, layer, cfg)
    gains, dists, t0 = [], [], time.perf_counter()
    for i in range(0, len(units), batch):
        r = accentuate(model, seeds[i:i + batch], Target(layer, units[i:i + batch]), cfg,
                       **args)
        gains += (r.final_activation / r.seed_activation).tolist()
        dists += r.latent_distance.tolist()
    secs = (time.perf_counter() - t0) / len(units)
    return {"gain": statistics.median(gains), "dist": statistics.median(dists), "s_per": secs}


def floor_pass(model, probe: Probe, layer: str, x: torch.Tensor) -> None:
    """One forward+backward of the model to ``layer`` on views ``x`` (requiring grad): the
    arithmetic a step cannot avoid, in the loop's precision."""
    with torch.autocast("cuda", torch.bfloat16, enabled=model.device.type == "cuda"):
        y = probe(x)[layer]
    y.float().mean().backward()


def floor(model, layer: str, images: int, steps: int, size: int, reps: int = 3) -> float:
    """:func:`floor_pass` on ``images`` inputs of ``size`` px (the loop's view side), the
    median pass times ``steps``."""
    probe, times = Probe(model, [layer]), []
    for r in range(reps + 1):
        x = torch.rand(images, 3, size, size, device=model.device, requires_grad=True)
        sync(model)
        t = time.perf_counter()
        floor_pass(model, probe, layer, x)
        sync(model)
        if r:
            times.append(time.perf_counter() - t)
    return statistics.median(times) * steps


def sync(model) -> None:
    if model.device.type == "cuda":
        torch.cuda.synchronize()


def speed(model, layer: str, cfg: AccentConfig, batches: list[int], reps: int) -> None:
    """Each repetition times one accentuation batch and then the floor right after it, so
    the ratio is taken between neighbours in time: this VM's speed drifts by 10-20% over
    minutes, which unpaired medians turned into ratio swings of +-0.05."""
    print(f"{'batch':>6} {'s/accent':>9} {'floor s':>8} {'floor/actual':>12} "
          f"{'(range)':>11} {'accents/s':>10}")
    args = loop_args(model, layer, cfg)
    for b in batches:
        seeds = torch.rand(b, 3, cfg.canvas, cfg.canvas, device=model.device)
        units = torch.arange(b) % 8
        actual, floors = [], []
        for r in range(reps + 1):
            sync(model)
            t = time.perf_counter()
            accentuate(model, seeds, Target(layer, units), cfg, **args)
            sync(model)
            if r:
                actual.append(time.perf_counter() - t)
                floors.append(floor(model, layer, b * cfg.augment.crops, cfg.steps,
                                    args["view_px"]))
        ratios = [f / a for f, a in zip(floors, actual, strict=True)]
        act, fl = statistics.median(actual), statistics.median(floors)
        print(f"{b:>6} {act / b:>9.3f} {fl:>8.2f} {statistics.median(ratios):>12.2f} "
              f"{min(ratios):>5.2f}-{max(ratios):.2f} {b / act:>10.2f}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="efficientnet-lite0")
    ap.add_argument("--weights", default="default")
    ap.add_argument("--layer", default="_blocks.10")
    ap.add_argument("--reg-layer", default=None)
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--per-unit", type=int, default=2)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--crops", type=int, default=None)
    ap.add_argument("--lam", type=float, default=None)
    ap.add_argument("--schedule", default=None)
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--mask-every", type=int, default=None)
    ap.add_argument("--no-amp", action="store_true", help="float32 seed pass (and no CUDA amp)")
    ap.add_argument("--speed-only", action="store_true")
    ap.add_argument("--curve", action="store_true")
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc malloc as it is (see atlas/models/runtime.py)")
    args = ap.parse_args()
    if not args.default_malloc:
        tune_allocator()
    model = load_model(args.model, args.weights)
    if torch.cuda.is_available():
        model.to("cuda")
    cfg = AccentConfig()
    if args.reg_layer:
        cfg = replace(cfg, reg_layer=args.reg_layer)
    if args.steps:
        cfg = replace(cfg, steps=args.steps)
    if args.schedule:
        cfg = replace(cfg, schedule=args.schedule)
    if args.lam is not None:
        cfg = replace(cfg, lam=args.lam)
    if args.mask_every:
        cfg = replace(cfg, mask_every=args.mask_every)
    if args.no_amp:
        cfg = replace(cfg, amp=False)
    if args.crops:
        cfg = replace(cfg, augment=replace(cfg.augment, crops=args.crops))
    dev = model.device
    reg = loop_args(model, args.layer, cfg)["reg_layer"]
    print(f"model {model.name} on {dev} ({torch.get_num_threads()} threads), layer "
          f"{args.layer}, reg {reg}, steps {cfg.steps}, crops {cfg.augment.crops}, "
          f"canvas {cfg.canvas}, lr {cfg.lr}, lam {cfg.lam}, mask_every {cfg.mask_every}, "
          f"seed pass {reference_precision(cfg, dev)}, "
          f"malloc {'default' if args.default_malloc else 'tuned'}")
    if not args.speed_only:
        seeds, units = top_pairs(model, args.layer, args.units, args.per_unit)
        seeds = seeds.to(dev)
        print(f"photo-to-photo distance at {reg}: "
              f"{photo_distance(model, reg):.3f} (median over pairs)")
        grid = [cfg] if not args.curve else curve_grid(cfg)
        print(f"{'steps':>5} {'crops':>5} {'lr':>5} {'view':>5} {'lam':>5} "
              f"{'gain':>6} {'dist':>6} {'s/accent':>8}")
        for c in grid:
            q = quality(model, seeds, units, args.layer, c)
            print(f"{c.steps:>5} {c.augment.crops:>5} {c.lr:>5} "
                  f"{c.view_scale:>5} {c.lam:>5} "
                  f"{q['gain']:>6.2f} {q['dist']:>6.3f} {q['s_per']:>8.2f}", flush=True)
    if not args.no_speed:
        speed(model, args.layer, cfg, [int(b) for b in args.batches.split(",")], args.reps)


def curve_grid(base: AccentConfig) -> list[AccentConfig]:
    """Settings tried for the time-to-quality curve (steps, crops, lr, view size)."""
    out = []
    for steps, crops, lr, view in [(8, 4, 0.05, 0), (12, 4, 0.05, 0), (16, 4, 0.05, 0),
                                   (24, 4, 0.05, 0), (32, 4, 0.05, 0), (16, 2, 0.05, 0),
                                   (24, 2, 0.05, 0), (12, 4, 0.1, 0), (16, 4, 0.05, 160)]:
        out.append(replace(base, steps=steps, lr=lr, view_scale=view / 224 if view else 1.0,
                           augment=replace(base.augment, crops=crops)))
    return out


if __name__ == "__main__":
    main()


