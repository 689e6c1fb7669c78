"""Each part of a batch-1 accentuation on the CPU timed alone, against the loop and the floor.

    python -m benchmarks.overhead              # 12 repetitions, EfficientNet-Lite0 _blocks.10
    python -m benchmarks.overhead --reps 20 --threads 1

The floor is the model's forward and backward to the target on a step's views, once per step
(:func:`benchmarks.accent.floor_pass`, the pass its ``floor`` times). Beside it an
accentuation runs parts no step can skip: that pass cut at the regularization layer with the
objective, the Fourier decode and the crops (forward and backward), the seed's references
through its boxes, the measurement of seed and result, and Adam. Each part is timed alone, as
many calls back to back as one accentuation makes, so its data stays in the caches; the loop,
the floor and the parts are interleaved in each repetition, so drift hits them alike. Wall
time, medians over repetitions.

Every row is a sum over back-to-back calls, like the loop's own time. benchmarks.accent takes
the floor as the median of single passes times the steps instead, which leaves out the stalls
a run of 20 passes meets: on the shared 2-core VM that reads about 5% lower.

The sum of the parts bounds what any rearrangement of the loop could reach: ``floor / sum`` is
the ratio of a loop that ran every part at its in-cache speed. The rest of the loop's time is
what running them in sequence costs (each part finds the caches filled by the one before), and
small work between parts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from atlas.accent.loop import (
    _autocast,
    _seed_references,
    accentuate,
    measure_pair,
    parameterization,
    reference_precision,
)
from atlas.accent.objectives import Target
from atlas.accent.split import split_forward
from atlas.accent.views import BoxPool, NoiseBank, draw_views
from atlas.config.accent import AccentConfig
from atlas.models.hooks import Probe
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import LoadedModel, load_model
from benchmarks.accent import floor_pass as one_floor_pass
from benchmarks.common import loop_args


def timed(fn: Callable[[], object], calls: int) -> float:
    """Wall seconds of ``calls`` back-to-back calls of ``fn`` after one untimed call."""
    fn()
    t0 = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - t0


Part = tuple[Callable[[], object], int]  # one call, and how many calls one accentuation makes


def parts(model: LoadedModel, layer: str, cfg: AccentConfig, args: dict
          ) -> tuple[Part, dict[str, Part]]:
    """The floor's pass, and each part of a batch-1 accentuation by name."""
    reg, side, views, steps = args["reg_layer"], args["view_px"], cfg.augment.crops, cfg.steps
    target, p = Target(layer, torch.tensor([0])), parameterization(cfg)
    params = p.encode(torch.rand(1, 3, cfg.canvas, cfg.canvas))
    spectrum = next(iter(p.trainable(params)))
    opt = torch.optim.Adam([spectrum], lr=cfg.lr, fused=True)
    gen = torch.Generator().manual_seed(0)
    bank = NoiseBank(views, side, cfg.augment.noise, gen)  # the loop draws its noise once
    seed = torch.rand(1, 3, cfg.canvas, cfg.canvas)
    up, step_grad = torch.ones(views, 3, side, side), torch.ones_like(spectrum)
    reader, probe = Probe(model, [reg]), Probe(model, [layer])
    amp = _autocast(reference_precision(cfg, model.device) == "bfloat16", model.device)

    def floor_pass() -> None:
        one_floor_pass(model, probe, layer, torch.rand(views, 3, side, side, requires_grad=True))

    def model_pass() -> None:
        x = torch.rand(views, 3, side, side, requires_grad=True)
        a, leaf, acts = split_forward(model, x, reg, target.layers)
        value = target.objective(acts, cfg.focus)
        (g,) = torch.autograd.grad(value.sum(), leaf)
        a.backward(-g)

    def chain() -> None:
        draw_views(cfg.augment, 1, side, gen, bank).apply(p.decode(params)).backward(up)
        spectrum.grad = None

    def references() -> None:
        pool = BoxPool.draw(cfg.augment, 1, max(cfg.augment.boxes, views), side, gen, gen)
        _seed_references(reader, seed, [pool.seed_views()], reg, amp)

    def adam() -> None:
        spectrum.grad = step_grad
        opt.step()

    return (floor_pass, steps), {
        "the same pass cut, with the objective": (model_pass, steps),
        "decode + crops, forward and backward": (chain, steps),
        "seed references through its boxes": (references, 1),
        "measure seed and result": (lambda: measure_pair(model, seed, seed, target, reg), 1),
        "Adam": (adam, steps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layer", default="_blocks.10")
    ap.add_argument("--reps", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None, help="intra-op threads (default: "
                                                              "torch's)")
    a = ap.parse_args()
    tune_allocator()
    if a.threads:
        torch.set_num_threads(a.threads)
    model, cfg = load_model("efficientnet-lite0"), AccentConfig()
    args = loop_args(model, a.layer, cfg)
    seed, target = torch.rand(1, 3, cfg.canvas, cfg.canvas), Target(a.layer, torch.tensor([3]))
    floor_part, work = parts(model, a.layer, cfg, args)
    loop_s, floor_s = [], []
    part_s: dict[str, list[float]] = {k: [] for k in work}
    for r in range(a.reps + 1):
        t0 = time.perf_counter()
        accentuate(model, seed, target, cfg, **args)
        times = [time.perf_counter() - t0, timed(*floor_part),
                 *(timed(*part) for part in work.values())]
        if r:  # the first repetition warms every path up
            loop_s.append(times[0])
            floor_s.append(times[1])
            for k, t in zip(work, times[2:], strict=True):
                part_s[k].append(t)
    ms = statistics.median
    loop, floor = ms(loop_s) * 1e3, ms(floor_s) * 1e3
    each = {k: ms(v) * 1e3 for k, v in part_s.items()}
    total = sum(each.values())
    print(f"batch 1, {a.layer}, {torch.get_num_threads()} thread(s), {cfg.steps} steps x "
          f"{cfg.augment.crops} views of {args['view_px']} px, {a.reps} repetitions; "
          "ms per accentuation, medians")
    print(f"  {'floor: forward+backward, uncut':<40} {floor:8.1f}")
    for k, v in each.items():
        print(f"  {k:<40} {v:8.1f}")
    print(f"  {'sum of the parts, each alone':<40} {total:8.1f}")
    print(f"  {'the loop':<40} {loop:8.1f}   ({loop - total:+.1f} for running them in "
          "sequence)")
    print(f"floor/loop {floor / loop:.2f}; floor/sum of the parts {floor / total:.2f} (the "
          "loop with every part at its speed alone)")


if __name__ == "__main__":
    main()
