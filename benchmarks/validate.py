"""The real validation measurement (not a unit test: pytest does not collect bench_* files).

    python tests/bench_validate.py --out runs/validate-bench      # CPU defaults, ~6 min (README)
    python tests/bench_validate.py --units 32 --seeds 2 --device cuda               # GPU defaults
    python tests/bench_validate.py --set lam=1 --set lr=0.05 --out runs/validate-lam1  # any field

Bundled EfficientNet-Lite0 at _blocks.10 and _blocks.12, AccentConfig defaults except what the
flags change; prints the tables and the wall time of each part.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import asdict, replace

import torch

from atlas.accent.loop import AccentConfig
from atlas.config.load import literal as _literal
from atlas.config.load import put as _put
from atlas.config.tree import _construct
from atlas.data.sources import bundled
from atlas.evaluation.summary import format_table
from atlas.evaluation.validate import ValidateConfig, validate
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import load_model


def accent_config(steps: int | None, sets: list[str]) -> AccentConfig:
    """AccentConfig defaults with ``FIELD=VALUE`` overrides (parsed as ``atlas build --set``)."""
    tree: dict = {}
    for item in sets:
        key, eq, text = item.partition("=")
        if not eq:
            raise SystemExit(f"--set expects FIELD=VALUE, got {item!r}")
        _put(tree, key.strip().removeprefix("accent."), _literal(text.strip()))
    acc = _construct(AccentConfig, tree, "accent.")
    return acc if steps is None else replace(acc, steps=steps)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layers", default="_blocks.10,_blocks.12")
    ap.add_argument("--units", type=int, default=16)
    ap.add_argument("--seeds", type=int, default=1)
    ap.add_argument("--naturals", type=int, default=6)
    ap.add_argument("--randoms", type=int, default=6)
    ap.add_argument("--sweep-units", type=int, default=2)
    ap.add_argument("--steps", type=int, help="accentuation steps (default AccentConfig's)")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="any AccentConfig field, e.g. lam=1 or augment.crops=2 (repeatable): "
                         "to measure other settings, e.g. earlier defaults, with this code")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="runs/validate-bench")
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc malloc as it is (see atlas/runtime.py)")
    a = ap.parse_args()
    if not a.default_malloc:
        tune_allocator()
    t0 = time.perf_counter()
    model = load_model("efficientnet-lite0").to(a.device)
    cfg = ValidateConfig(layers=a.layers.split(","), units=a.units, seeds=a.seeds,
                         naturals=a.naturals, randoms=a.randoms, sweep_units=a.sweep_units,
                         accent=accent_config(a.steps, a.set))
    res = validate(a.out, model, bundled(), cfg, progress=True)
    print(format_table(res))
    print(f"accent config: {asdict(cfg.accent)}")  # every lever, not only the table's few
    print(f"device {a.device} ({torch.cuda.get_device_name() if a.device != 'cpu' else 'cpu'}), "
          f"threads {torch.get_num_threads()}, wall {time.perf_counter() - t0:.0f} s, "
          f"parts {res['seconds']}")


if __name__ == "__main__":
    main()
