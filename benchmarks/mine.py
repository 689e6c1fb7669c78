"""Mining benchmark: end-to-end mining throughput vs forward-only on decoded tensors.

    python -m benchmarks.mine [--layer _blocks.10] [--reps 3] [--workers 1]

The forward-only figure runs the same truncated model (stopping at the layer) on the same
images already decoded into tensors, so the ratio shows what decoding, data loading and the
running statistics cost on top of the model. Also compares the lean bundled model with the
reference implementation and a torchvision model of similar size (MobileNetV2, random weights).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from atlas.data.loader import make_loader
from atlas.data.sources import bundled
from atlas.models.hooks import Probe
from atlas.models.lite0 import reference_lite0
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import LoadedModel, load_model
from atlas.pipeline.resolve import decode_workers
from benchmarks.common import mine_bundled


def forward_only(model: LoadedModel, layer: str, images: torch.Tensor, batch: int) -> float:
    probe = Probe(model, [layer])
    t = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(images), batch):
            probe(images[i:i + batch])
    return len(images) / (time.perf_counter() - t)


def mining(model: LoadedModel, layer: str, batch: int, workers: int) -> float:
    t = time.perf_counter()
    _, info = mine_bundled(model, [layer], k=16, batch=batch, workers=workers)
    return info["images"] / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--layer", default="_blocks.10")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=-1)
    ap.add_argument("--default-malloc", action="store_true",
                    help="leave glibc malloc as it is (see atlas/models/runtime.py)")
    args = ap.parse_args()
    if not args.default_malloc:
        tune_allocator()
    model = load_model("efficientnet-lite0")
    src = bundled()
    images = torch.cat([b.images for b in make_loader(src, 224, 64, 0)])
    forward_only(model, args.layer, images[:64], args.batch)  # warm-up
    fwd = [forward_only(model, args.layer, images, args.batch) for _ in range(args.reps)]
    mined = [mining(model, args.layer, args.batch, args.workers) for _ in range(args.reps)]
    f, m = statistics.median(fwd), statistics.median(mined)
    workers = decode_workers(args.workers, model.device)
    print(f"{len(images)} bundled photos, layer {args.layer}, batch {args.batch}, "
          f"{workers} loader worker(s), {torch.get_num_threads()} threads, "
          f"median of {args.reps}")
    print(f"forward only (decoded tensors): {f:7.1f} img/s")
    print(f"mining (decode + forward + top-k): {m:7.1f} img/s   ratio {m / f:.2f}")
    # the bundled implementation against the reference package and a torchvision model
    ref = LoadedModel("reference", reference_lite0(), 224, model.mean, model.std,
                      channels_last=False)
    mnv2 = load_model("mobilenet_v2", weights="none")
    for name, m_, layer in [("lean lite0 (ours)", model, args.layer),
                            ("reference lite0 package", ref, args.layer),
                            ("torchvision mobilenet_v2", mnv2, "features.13")]:
        r = statistics.median(forward_only(m_, layer, images[:128], args.batch)
                              for _ in range(args.reps))
        print(f"{name:26s} forward to {layer:12s} {r:7.1f} img/s")


if __name__ == "__main__":
    main()
