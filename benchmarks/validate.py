"""The real validation measurement: ``atlas validate`` at the settings docs/benchmarks.md quotes,
with any accentuation setting changed from the command line and the wall time of each part.

    python -m benchmarks.validate --out runs/validate-bench       # CPU defaults, minutes
    python -m benchmarks.validate --units 32 --seeds 2 --device cuda                 # a GPU
    python -m benchmarks.validate --set lam=1 --set lr=0.05 --out runs/validate-lam1  # any field

Bundled EfficientNet-Lite0 at _blocks.10 and _blocks.12, the [accent] defaults except what
``--steps`` and ``--set`` change.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace

import torch

from atlas.config.load import literal
from atlas.config.tree import build_config
from atlas.evaluation.summary import format_table
from atlas.evaluation.validate import first_target, validate
from atlas.models.runtime import tune_allocator
from atlas.pipeline.resolve import model_of, resolve, source_of


def accent_overrides(steps: int | None, sets: list[str]) -> dict:
    """``FIELD=VALUE`` items of the [accent] section (``lam=1``, ``augment.crops=2``) as
    build_config's keyword overrides, values parsed as ``atlas build --set`` parses them."""
    out = {}
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        dotted = "accent." + key.strip().removeprefix("accent.")
        out[dotted.replace(".", "__")] = literal(text.strip())
    if steps is not None:
        out["accent__steps"] = steps
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layers", default="_blocks.10,_blocks.12")
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--naturals", type=int, default=6)
    ap.add_argument("--randoms", type=int, default=6)
    ap.add_argument("--sweep-units", type=int, default=2)
    ap.add_argument("--steps", type=int, help="accentuation steps (default: [accent]'s)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="any [accent] field, e.g. lam=1 or augment.crops=2 (repeatable): "
                         "to measure other settings with this code")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/validate-bench")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc malloc as it is (see atlas/models/runtime.py)")
    a = ap.parse_args()
    if not a.default_malloc:
        tune_allocator()
    t0 = time.perf_counter()
    cfg = build_config(out=a.out, device=a.device, validate__layers=a.layers.split(","),
                       validate__units=a.units, validate__seeds=a.seeds,
                       validate__naturals=a.naturals, validate__randoms=a.randoms,
                       validate__sweep_units=a.sweep_units, **accent_overrides(a.steps, a.set))
    vcfg = replace(cfg.validate, accent=cfg.accent)
    model = model_of(cfg)
    resolved = resolve(cfg, model, target=first_target(model, vcfg))
    res = validate(cfg.run_dir, model, source_of(cfg), vcfg, resolved, progress=True)
    print(format_table(res))
    print(f"accent config: {asdict(cfg.accent)}; resolved: {resolved.to_dict()}")
    print(f"device {a.device} ({torch.cuda.get_device_name() if a.device != 'cpu' else 'cpu'}), "
          f"threads {torch.get_num_threads()}, wall {time.perf_counter() - t0:.0f} s, "
          f"parts {res['seconds']}")


if __name__ == "__main__":
    main()
