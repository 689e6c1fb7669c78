"""Features beyond channels, measured: the dictionary, its accentuations, its pages, its cost.

    python -m benchmarks.features curve                 # reconstruction vs k, beside PCA
    python -m benchmarks.features variants SPEC...      # dictionary recipes side by side
    python -m benchmarks.features quality RUN           # accentuations of a features run
    python -m benchmarks.features compare RUN           # features against channels, same images
    python -m benchmarks.features cost                  # mining with a basis against channels

``curve`` learns dictionaries (F = 448 = 4 x 112 as the ``features`` config, the basis section's
recipe) over Lite0 ``_blocks.10`` of the bundled photos for k = 4, 8, 16, 32 as the basis stage
does (same sample, same held-out and calibration images; ``--finetune N`` adds the KL
fine-tune) and prints the held-out explained variance (centred per channel), L0, dead and dense
shares and the splice top-1 agreement on every image and on the held-out ones, beside PCA with k
components fitted on the same training positions.
``quality`` scores every accentuation of a run's basis layer with the independent instrument of
:mod:`benchmarks.quality` (the reference ``efficientnet-lite-pytorch`` model, with the run's
basis applied to its layer output): the seed's code, the gain plain, after a blur and after a
down/up resize, pixel RMSE and the change's high-frequency share. ``compare`` puts a run's
feature layer beside its channel layer: the share of units with a significant dataset class and
the median purity of their top 16 images. ``cost`` mines the bundled photos with channels only
and with a basis of F = 8 x C features (from a file, so learning is not timed; ``--refine N``
reads it with N refinement steps, as the ``features`` config does), each in its own
process, alternating, and prints images per second and peak memory (sampled every 0.1 s: inside
the mine stage, and over the whole command).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from atlas.config.sections import VIEWS, BasisConfig
from atlas.data.sources import bundled
from atlas.models import basis as bases
from atlas.models.tail import tail
from atlas.models.zoo import load_model
from atlas.pipeline.basis.finetune import Tune, finetune, kl_of, targets_of
from atlas.pipeline.basis.learn import Recipe, calibrated, calibrated_under, learn
from atlas.pipeline.basis.metrics import firing, reconstruction, splice_agreement
from atlas.pipeline.basis.sample import gather
from atlas.pipeline.basis.stage import aside

LAYER = "_blocks.10"


def curve(args: argparse.Namespace) -> None:
    model, src = load_model("efficientnet-lite0"), bundled()
    with tempfile.TemporaryDirectory() as tmp:
        s = gather(model, src, LAYER, 250_000, 0.1, 32, 0, Path(tmp) / "sample.pt",
                   progress=False, views=args.views)
        images = sorted(s.train_images + s.held_images)
        calib = aside(src, s.train_images) if args.batch_topk else set()
        taken = s.rows_of(calib)
        x, on = s.train[~taken], s.train[taken & s.plain]
        per = s.grid[0] * s.grid[1]
        print(f"{len(x)} training positions ({len(s.train_images) - len(calib)} images, "
              f"{args.views} views), {len(on)} calibration ({len(calib)} images), "
              f"{len(s.held)} held out ({len(s.held_images)} images); F = {args.features}, "
              f"{args.steps} steps, BatchTopK {args.batch_topk}, fine-tune {args.finetune} steps")
        print(f"{'k':>3} {'SAE EV':>7} {'PCA EV':>7} {'L0':>5} {'dead':>6} {'dense':>6} "
              f"{'splice all':>10} {'splice held':>11}")
        mean = x.mean(0)
        _, _, v = torch.linalg.svd(x - mean, full_matrices=False)
        held = s.held - s.held.mean(0)
        for k in args.k:
            recipe = Recipe(features=args.features, k=k, steps=args.steps, batch_size=4096,
                            lr=4e-3, aux_k=64, seed=0, batch_topk=args.batch_topk,
                            checkpoint_every=10 ** 9)
            b = learn(x, recipe, Path(tmp) / f"k{k}.pt", progress=False, layer=LAYER,
                      calibrate=on if calib else None)
            if args.finetune:
                b = finetune(b, s.maps(x), tail(model, LAYER), Tune(steps=args.finetune),
                             Path(tmp) / f"k{k}-ft.pt", progress=False, modules=[model.module])
            if calib:
                b = calibrated_under(b, on, k, per)[0]
            r = reconstruction(b, s.held)
            rate = firing(b, torch.cat([s.train, s.held]))
            comp = v[:k]
            pca = 1 - float((held - (s.held - mean) @ comp.T @ comp).pow(2).sum()
                            / held.pow(2).sum())
            splice = splice_agreement(model, b, src, images)
            splice_held = splice_agreement(model, b, src, s.held_images)
            print(f"{k:>3} {r['explained_variance']:>7.3f} {pca:>7.3f} {r['l0']:>5.1f} "
                  f"{float((rate == 0).float().mean()):>6.3f} "
                  f"{float((rate > 0.5).float().mean()):>6.3f} {splice:>10.3f} "
                  f"{splice_held:>11.3f}", flush=True)


def variants(args: argparse.Namespace) -> None:
    """Dictionary recipes on one sample (the curve's), each a JSON object of ``features``,
    ``steps``, ``batch_topk``, ``k``, ``seed``, ``refine`` (steps refining the codes on their
    support), ``finetune`` (steps), ``mse`` (the fine-tune's reconstruction weight),
    ``encoder`` (the fine-tune tunes the encoder too), ``under`` (the threshold aims under k by
    the calibration noise; else at k) and ``margin`` (by how many standard errors): held-out EV,
    L0, dead, dense, splice (all, held out), the held-out KL of the splice, and the CPU seconds
    of learning plus fine-tuning."""
    import json as js
    import time

    model, src = load_model("efficientnet-lite0"), bundled()
    rest = tail(model, LAYER)
    with tempfile.TemporaryDirectory() as tmp:
        s = gather(model, src, LAYER, 250_000, 0.1, 32, 0, Path(tmp) / "sample.pt",
                   progress=False, views=6)
        calib = aside(src, s.train_images)
        taken = s.rows_of(calib)
        x, on, per = s.train[~taken], s.train[taken & s.plain], s.grid[0] * s.grid[1]
        held_maps = s.maps(s.held)
        held_t = targets_of(rest, held_maps)
        images = sorted(s.train_images + s.held_images)
        print(f"{'recipe':<58} {'EV':>6} {'L0':>6} {'dead':>5} {'dense':>5} {'splice':>7} "
              f"{'held':>6} {'KL held':>8} {'CPU s':>6}")
        for spec in args.spec:
            v = {"features": 448, "steps": 3000, "batch_topk": True, "k": 16, "finetune": 0,
                 "mse": 1.0, "under": True, "seed": 0, "refine": 0, "encoder": True,
                 "margin": 2.0, **js.loads(spec)}
            t = time.process_time()
            recipe = Recipe(features=v["features"], k=v["k"], steps=v["steps"],
                            batch_size=4096, lr=4e-3, aux_k=64, seed=v["seed"],
                            batch_topk=v["batch_topk"], checkpoint_every=10 ** 9)
            b = replace(learn(x, recipe, Path(tmp) / "learn.pt", progress=False, layer=LAYER,
                              calibrate=on), refine=v["refine"])
            (Path(tmp) / "learn.pt").unlink()
            if v["batch_topk"] and v["under"]:
                b = calibrated_under(b, on, v["k"], per, v["margin"])[0]
            if v["finetune"]:
                tune = Tune(steps=v["finetune"], mse=v["mse"], seed=v["seed"],
                            encoder=v["encoder"])
                b = finetune(b, s.maps(x), rest, tune, Path(tmp) / "ft.pt", progress=False,
                             modules=[model.module])
                (Path(tmp) / "ft.pt").unlink()
                if v["batch_topk"]:
                    b = (calibrated_under(b, on, v["k"], per, v["margin"])[0] if v["under"]
                         else calibrated(b, on, v["k"]))
            cpu = time.process_time() - t
            r = reconstruction(b, s.held)
            rate = firing(b, torch.cat([s.train, s.held]))
            print(f"{spec:<58} {r['explained_variance']:>6.3f} {r['l0']:>6.2f} "
                  f"{float((rate == 0).float().mean()):>5.3f} "
                  f"{float((rate > 0.5).float().mean()):>5.3f} "
                  f"{splice_agreement(model, b, src, images):>7.3f} "
                  f"{splice_agreement(model, b, src, s.held_images):>6.3f} "
                  f"{kl_of(b, rest, held_maps, held_t):>8.4f} {cpu:>6.0f}", flush=True)


def quality(args: argparse.Namespace) -> None:
    from PIL import Image

    from benchmarks.quality import CHANGES, Scorer, hf_share, pil_tensor

    run = Path(args.run)
    acc = pd.read_parquet(run / "accents.parquet")
    acc = acc[acc["layer"].str.contains("/")]
    if acc.empty:
        sys.exit(f"{run} has no accentuations of a basis layer")
    b = {x.unit_layer: x for x in (bases.load(p) for p in sorted((run / "basis").glob("*.json")))}
    scorer = Scorer()
    rows = []
    for r in acc.itertuples():
        basis = b[r.layer]
        seed = pil_tensor(Image.open(run / r.seed_media))
        img = pil_tensor(Image.open(run / r.accent_media))
        out = {"seed_code": None}
        for name in ("plain", "blur", "downup"):
            fn = CHANGES[name]
            a = scorer.acts(torch.stack([fn(seed), fn(img)]), [basis.layer])[basis.layer]
            codes = basis.codes(a.permute(0, 2, 3, 1))[..., r.unit].mean((1, 2))
            if name == "plain":
                out["seed_code"] = float(codes[0])
            out[name] = float(codes[1] / codes[0]) if codes[0] > 0 else float("nan")
        out["rmse"] = float((img - seed).pow(2).mean().sqrt())
        out["hf"] = hf_share(seed, img)
        rows.append(out)
    df = pd.DataFrame(rows)
    print(f"{len(df)} accentuations of {', '.join(sorted(acc['layer'].unique()))}")
    print(f"seed code > 0: {float((df['seed_code'] > 0).mean()):.1%}")
    for col in ("plain", "blur", "downup", "rmse", "hf"):
        print(f"{col:>7}: median {df[col].median():.3f} (q25 {df[col].quantile(0.25):.3f})")


def _purity(topk: pd.DataFrame, images: pd.DataFrame, field: str, n: int = 16) -> pd.Series:
    labels = images.set_index("image_id")[field].fillna("").astype(str)
    top = topk[(topk["kind"] == "top") & (topk["rank"] < n)].copy()
    top["name"] = top["image_id"].map(labels)
    top = top[top["name"] != ""]
    share = top.groupby(["layer", "unit", "name"]).size().groupby(["layer", "unit"]).max() / n
    return share


def compare(args: argparse.Namespace) -> None:
    run = Path(args.run)
    topk, images = pd.read_parquet(run / "topk.parquet"), pd.read_parquet(run / "images.parquet")
    classes = pd.read_parquet(run / "classes.parquet")
    units = topk.groupby("layer")["unit"].nunique()
    print(f"{'unit layer':<22} {'units':>6} {'with a class':>13} {'purity label':>13} "
          f"{'purity group':>13} {'label q75':>10} {'group q75':>10}")
    for layer, n in units.items():
        sig = classes[classes["layer"] == layer].groupby("unit").ngroups
        pl = _purity(topk[topk["layer"] == layer], images, "label")
        pg = _purity(topk[topk["layer"] == layer], images, "group")
        print(f"{layer:<22} {n:>6} {sig / n:>13.1%} {pl.median():>13.3f} {pg.median():>13.3f} "
              f"{pl.quantile(0.75):>10.3f} {pg.quantile(0.75):>10.3f}")


def _mine(out: Path, extra: list[str]) -> dict:
    from benchmarks.scale import run_sampled, stage_peak

    # describe's causal pass is not mining and, with 896 features, dominates time and memory
    cmd = [sys.executable, "-m", "atlas", "mine", "--out", str(out), "-q", "--set",
           "mine.workers=0", "--set", "describe.causal=false", *extra]
    _, samples = run_sampled(cmd)
    st = json.loads((out / "manifest.json").read_text())["stages"]["mine"]
    return {"images_per_s": st["images"] / st["compute_seconds"],
            "peak_mib": stage_peak(samples, st) / 1024,
            "command_mib": max(r for _, r in samples) / 1024}


def cost(args: argparse.Namespace) -> None:
    c = 112
    g = torch.Generator().manual_seed(0)
    d = torch.randn(8 * c, c, generator=g)
    d = d / d.norm(dim=1, keepdim=True)
    with tempfile.TemporaryDirectory() as tmp:
        f = bases.save(bases.Basis("sae", "file", LAYER, d.clone(), torch.zeros(8 * c), d,
                                   torch.zeros(c), activation="topk", k=16,
                                   refine=args.refine), Path(tmp))
        runs = {"channels": [], "basis 8C": []}
        for i in range(args.reps):
            for name, extra in (("channels", []), ("basis 8C", [
                    "--set", 'basis.kind="file"', "--set", f'basis.file="{f}"'])):
                runs[name].append(_mine(Path(tmp) / f"{name}-{i}".replace(" ", "-"), extra))
    for name, rs in runs.items():
        ips = statistics.median(r["images_per_s"] for r in rs)
        mem = statistics.median(r["peak_mib"] for r in rs)
        whole = statistics.median(r["command_mib"] for r in rs)
        print(f"{name:<9} mining {ips:6.1f} images/s, peak in the mine stage {mem:6.0f} MiB, "
              f"in the whole command {whole:6.0f} MiB (median of {len(rs)})")
    ratio = statistics.median(r["images_per_s"] for r in runs["basis 8C"]) / statistics.median(
        r["images_per_s"] for r in runs["channels"])
    # each repetition mines channels and then the basis: their ratio compares neighbours in
    # time, as this machine's speed drifts by a fifth within a minute
    paired = [b["images_per_s"] / c["images_per_s"]
              for c, b in zip(runs["channels"], runs["basis 8C"], strict=True)]
    print(f"basis/channels speed ratio {ratio:.2f} (ratio of the medians); per repetition "
          f"{statistics.median(paired):.2f}, median ({min(paired):.2f}-{max(paired):.2f})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    p = sub.add_parser("curve")
    p.add_argument("--k", type=int, nargs="+", default=[4, 8, 16, 32])
    d = BasisConfig()
    p.add_argument("--features", type=int, default=448)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--finetune", type=int, default=0, help="KL fine-tune steps (0: none)")
    p.add_argument("--views", type=int, default=d.views, choices=VIEWS)
    p.add_argument("--batch-topk", action=argparse.BooleanOptionalAction, default=d.batch_topk)
    p.set_defaults(fn=curve)
    p = sub.add_parser("variants")
    p.add_argument("spec", nargs="+", help='JSON, e.g. \'{"finetune": 600}\'')
    p.set_defaults(fn=variants)
    p = sub.add_parser("quality")
    p.add_argument("run")
    p.set_defaults(fn=quality)
    p = sub.add_parser("compare")
    p.add_argument("run")
    p.set_defaults(fn=compare)
    p = sub.add_parser("cost")
    p.add_argument("--reps", type=int, default=7)
    p.add_argument("--refine", type=int, default=0, help="the basis's refinement steps")
    p.set_defaults(fn=cost)
    args = ap.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    args.fn(args)


if __name__ == "__main__":
    main()
