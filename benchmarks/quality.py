"""What a person sees: accentuation quality scored on the images as the site saves them.

    python -m benchmarks.quality                          # old defaults, new defaults, Faccent-like
    python -m benchmarks.quality --only new --sheet test-output    # + contact sheet
    python -m benchmarks.quality --only new --set lam=0.5 --set augment.min_side=0.1

Pairs: evenly spaced units of EfficientNet-Lite0 ``_blocks.10`` and ``_blocks.12``, each on its
top bundled photo. Each accentuation, its seed and its mask are written as the site writes them
(WebP, :mod:`atlas.data.media`) and read back; everything is then scored by an independent
instrument:
the *reference* ``efficientnet-lite-pytorch`` model (not atlas's lean re-implementation).

Columns (medians over pairs):
- gain: unit's spatial-mean activation on the accentuation / on the seed; then the same after a
  mild change applied to both images (a real feature survives it, a fine-grained perturbation
  does not): Gaussian blur sigma 1 px, 112-px down/up resize, JPEG quality 75, a 7-px roll;
- rmse: pixel RMSE (0-1 scale); hf: share of the change's energy above half the Nyquist
  frequency (radial frequency > 0.25 cycles/px, DC included in the total);
- dist: relative latent distance at ``_blocks.4`` over the median distance of two different
  bundled photos there;
- mask: Spearman correlation of the attribution mask, average-pooled to the layer's grid, with
  the unit's activation map on the accentuation;
- s/acc: wall seconds per accentuation (auto batch).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from dataclasses import fields, is_dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from atlas.accent.loop import accentuate
from atlas.accent.masks import gaussian_blur, normalize_masks
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.data.loader import make_loader
from atlas.data.media import (
    CHANGE_GAIN,
    change_image,
    overlay,
    save_exact,
    save_webp,
    sheet,
    to_pil,
)
from atlas.data.sources import bundled
from atlas.models.lite0 import reference_lite0
from atlas.models.runtime import tune_allocator
from atlas.models.zoo import load_model
from benchmarks.common import loop_args, mine_bundled, resolved_for

LAYERS = ("_blocks.10", "_blocks.12")
REG = "_blocks.4"

# The defaults before issue 10, frozen here so the comparison stays reproducible.
OLD = {"steps": 20, "lr": 0.05, "lam": 1.0, "schedule": "cosine", "decay": 1.0,
       "augment.crops": 4, "augment.min_side": 0.5, "augment.max_side": 1.0,
       "augment.noise": 0.02, "mask_every": 3, "mask_smooth": 0.0, "mask_coverage": False,
       "target": "mean", "focus": "all", "view_scale": 1.0}
# Faccent's reference settings at 224 px with 4 crops (its box_crop_2: side 0.05-0.99).
FACCENT = {**OLD, "steps": 99, "schedule": "constant", "augment.min_side": 0.05,
           "augment.max_side": 0.99, "mask_every": 1}


def with_overrides(cfg, overrides: dict):
    """``cfg`` with dotted ``{"augment.crops": 8}`` overrides applied (nested dataclasses)."""
    for key, value in overrides.items():
        head, _, rest = key.partition(".")
        names = {f.name for f in fields(cfg)}
        if head not in names:
            continue  # a field this version of the config does not have
        cur = getattr(cfg, head)
        if rest and is_dataclass(cur):
            cfg = replace(cfg, **{head: with_overrides(cur, {rest: value})})
        else:
            cfg = replace(cfg, **{head: type(cur)(value)})
    return cfg


class Scorer:
    """The reference Lite0, read at any of its ``_blocks.N`` (independent of atlas's model)."""

    def __init__(self) -> None:
        self.net = reference_lite0()

    @torch.inference_mode()
    def acts(self, x: torch.Tensor, layers: list[str]) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {}

        class Stop(Exception):
            pass

        def hook(name):
            def fn(_m, _i, o):
                out[name] = o
                if len(out) == len(layers):
                    raise Stop
            return fn

        hs = [self.net.get_submodule(n).register_forward_hook(hook(n)) for n in layers]
        try:
            self.net((x * 255 - 127) / 128)
        except Stop:
            pass
        finally:
            for h in hs:
                h.remove()
        return out


def pil_tensor(img: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(img.convert("RGB"), dtype="float32")).permute(2, 0, 1) / 255


def blur(x: torch.Tensor) -> torch.Tensor:
    """Gaussian blur, sigma 1 px, of a (3, H, W) image (its channels as three maps)."""
    return gaussian_blur(x, 1.0)


def downup(x: torch.Tensor) -> torch.Tensor:
    s = x.shape[-1]
    small = F.interpolate(x[None], size=(s // 2, s // 2), mode="bilinear", antialias=True)
    return F.interpolate(small, size=(s, s), mode="bilinear", align_corners=False)[0]


def jpeg(x: torch.Tensor) -> torch.Tensor:
    buf = io.BytesIO()
    to_pil(x).save(buf, "JPEG", quality=75)
    return pil_tensor(Image.open(buf))


def roll(x: torch.Tensor) -> torch.Tensor:
    return torch.roll(x, shifts=(7, 7), dims=(-2, -1))


CHANGES = {"plain": lambda x: x, "blur": blur, "downup": downup, "jpeg": jpeg, "roll": roll}


def hf_share(seed: torch.Tensor, acc: torch.Tensor) -> float:
    """Share of the change's spectral energy above half the Nyquist frequency (radial)."""
    d = (acc - seed).double()
    p = torch.fft.fft2(d).abs().pow(2).sum(0)
    fy = torch.fft.fftfreq(d.shape[-2])[:, None]
    fx = torch.fft.fftfreq(d.shape[-1])[None, :]
    high = (fx * fx + fy * fy).sqrt() > 0.25
    return float(p[high].sum() / p.sum().clamp_min(1e-20))


def spearman(a: torch.Tensor, b: torch.Tensor) -> float:
    """Rank correlation with tied values sharing their average rank (a clamped mask has many
    zeros; arbitrary ranks among them would add noise)."""
    from scipy.stats import spearmanr

    r = spearmanr(a.flatten().numpy(), b.flatten().numpy()).statistic
    return 0.0 if r != r else float(r)  # a constant map has no defined rank order


def top_pairs(model, per_layer: int, layers: tuple[str, ...] = LAYERS
              ) -> list[tuple[str, int, str, torch.Tensor]]:
    """(layer, unit, image_id, seed) for evenly spaced units of each layer, top photo each."""
    src = bundled()
    top, _ = mine_bundled(model, list(layers), k=1)
    top = top[(top.kind == "top") & (top["rank"] == 0)]
    pos = {r.image_id: r.index for r in src.records}
    out = []
    for layer in layers:
        rows = top[top.layer == layer].sort_values("unit")
        n = len(rows)
        pick = sorted({round(i * (n - 1) / max(per_layer - 1, 1)) for i in range(per_layer)})
        for r in rows.iloc[pick].itertuples():
            out.append((layer, int(r.unit), r.image_id, pos[r.image_id]))
    batch = next(iter(make_loader(src, model.input_size, len(out), 0, [p[3] for p in out])))
    return [(la, u, i, batch.images[k]) for k, (la, u, i, _) in enumerate(out)]


def photo_distance(scorer: Scorer, n: int = 64) -> float:
    src = bundled()
    batch = next(iter(make_loader(src, 224, n, 0, list(range(0, 4 * n, 4)))))
    a = scorer.acts(batch.images, [REG])[REG].flatten(1)
    return float(((a - a.roll(1, 0)).norm(dim=1) / a.norm(dim=1)).median())


def pair_layers(pairs) -> list[str]:
    """The layers of ``pairs`` (from :func:`top_pairs`), in their order."""
    return list(dict.fromkeys(p[0] for p in pairs))


def run_setting(model, scorer, pairs, cfg: AccentConfig, tmp: Path) -> list[dict]:
    """Accentuate every pair at ``cfg``, save as the site does, read back, score."""
    layers = pair_layers(pairs)
    batch, rows = resolved_for(model, layers[0], cfg).accent_batch, []
    args = {layer: loop_args(model, layer, cfg) for layer in layers}
    saved = []
    t0 = time.perf_counter()
    for i in range(0, len(pairs), batch):
        chunk = pairs[i:i + batch]
        seeds = torch.stack([p[3] for p in chunk]).to(model.device)
        for layer in dict.fromkeys(p[0] for p in chunk):
            idx = [k for k, p in enumerate(chunk) if p[0] == layer]
            units = torch.tensor([chunk[k][1] for k in idx])
            r = accentuate(model, seeds[idx], Target(layer, units, kind=cfg.target), cfg,
                           **args[layer])
            masks = normalize_masks(r.masks)  # one unit per pair here: per-pair scale
            for j, k in enumerate(idx):
                saved.append((chunk[k], r.images[j], masks[j], float(r.latent_distance[j])))
    secs = (time.perf_counter() - t0) / len(pairs)
    for n, ((layer, unit, image_id, seed), img, mask, own_dist) in enumerate(saved):
        paths = {k: tmp / f"{n}-{k}.webp" for k in ("seed", "accent", "mask")}
        save_exact(paths["seed"], to_pil(seed))  # as accent_stage saves them
        save_exact(paths["accent"], to_pil(img))
        save_webp(paths["mask"], to_pil(mask))
        s, a = (pil_tensor(Image.open(paths[k])) for k in ("seed", "accent"))
        m = torch.from_numpy(np.asarray(Image.open(paths["mask"]).convert("L"),
                                        dtype="float32")) / 255
        row = {"layer": layer, "unit": unit, "image_id": image_id, "s_per": secs,
               "own_dist": own_dist}
        for name, fn in CHANGES.items():
            acts = scorer.acts(torch.stack([fn(s), fn(a)]), [layer])[layer][:, unit]
            v = acts.flatten(1).mean(1)
            row[f"act_seed_{name}"], row[f"act_acc_{name}"] = float(v[0]), float(v[1])
            row[f"gain_{name}"] = float(v[1] / v[0])
        both = scorer.acts(torch.stack([s, a]), [REG, layer])
        d = both[REG].flatten(1)
        row["dist"] = float((d[1] - d[0]).norm() / d[0].norm())
        amap = both[layer][1, unit]
        pooled = F.adaptive_avg_pool2d(m[None, None], amap.shape)[0, 0]
        row["mask"] = spearman(pooled, amap)
        row["rmse"] = float((a - s).pow(2).mean().sqrt())
        row["hf"] = hf_share(s, a)
        row["_images"] = (s, a, m)
        rows.append(row)
    return rows


def summary(rows: list[dict], photo_dist: float) -> dict:
    med = lambda k: statistics.median(r[k] for r in rows)  # noqa: E731
    out = {f"gain_{c}": med(f"gain_{c}") for c in CHANGES}
    out.update(rmse=med("rmse"), hf=med("hf"), dist=med("dist") / photo_dist,
               mask=med("mask"), mask_q1=statistics.quantiles([r["mask"] for r in rows])[0],
               s_per=rows[0]["s_per"])
    return out


def print_table(results: dict[str, dict]) -> None:
    cols = ["gain_plain", "gain_blur", "gain_downup", "gain_jpeg", "gain_roll", "rmse", "hf",
            "dist", "mask", "mask_q1", "s_per"]
    heads = ["gain", "blur", "down/up", "jpeg", "roll", "rmse", "hf", "dist/ph", "mask",
             "mask q1", "s/acc"]
    print(f"{'setting':<14}" + "".join(f"{h:>9}" for h in heads))
    for name, s in results.items():
        print(f"{name:<14}" + "".join(f"{s[c]:>9.3f}" for c in cols), flush=True)


def contact_sheet(rows: list[dict], path: Path, size: int = 160) -> None:
    """seed | accentuation | amplified change | mask overlay, two pairs per row, each panel
    captioned with the pair's scores."""
    panels, captions = [], []
    for r in rows:
        s, a, m = r["_images"]
        for img in (to_pil(s), to_pil(a), change_image(s, a), overlay(a, m)):
            panels.append(img.resize((size, size), Image.Resampling.BILINEAR))
        captions += [[f"{r['layer']}:{r['unit']} seed", f"gain {r['gain_plain']:.2f}"],
                     ["accentuation", f"blur {r['gain_blur']:.2f}"],
                     [f"change x{CHANGE_GAIN:g}", f"rmse {r['rmse']:.3f} hf {r['hf']:.2f}"],
                     ["mask overlay", f"mask {r['mask']:.2f}"]]
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet(panels, captions, columns=8).save(path)


def time_settings(model, pairs, cfgs: dict[str, AccentConfig], reps: int = 3) -> None:
    """Seconds per accentuation, settings interleaved within each repetition so that drift of
    the machine's speed hits them alike; medians and ranges over repetitions."""
    seeds = torch.stack([p[3] for p in pairs]).to(model.device)
    times: dict[str, list[float]] = {k: [] for k in cfgs}
    args = {(label, layer): loop_args(model, layer, cfg) for label, cfg in cfgs.items()
            for layer in pair_layers(pairs)}
    for _ in range(reps):
        for label, cfg in cfgs.items():
            t0 = time.perf_counter()
            for (layer, unit, _, _), seed in zip(pairs, seeds, strict=True):
                accentuate(model, seed[None], Target(layer, torch.tensor([unit])), cfg,
                           **args[label, layer])
            times[label].append((time.perf_counter() - t0) / len(pairs))
    for label, ts in times.items():
        print(f"{label:<14} {statistics.median(ts):6.2f} s per accentuation "
              f"({min(ts):.2f}-{max(ts):.2f}, {reps} x {len(pairs)} pairs)", flush=True)


def parse_set(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        out[k] = json.loads(v) if v[:1] in "0123456789-[{tf" and v not in ("t", "f") else v
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="old,new,faccent-like",
                    help="comma list of settings: old, new, faccent-like")
    ap.add_argument("--set", action="append", default=[], help="KEY=VALUE on every setting")
    ap.add_argument("--per-layer", type=int, default=16, help="units per layer")
    ap.add_argument("--layers", default=",".join(LAYERS),
                    help="comma list of the layers whose units are scored (regularized at "
                         f"{REG} whatever the layer)")
    ap.add_argument("--sheet", default="", help="folder for contact sheets")
    ap.add_argument("--jsonl", default="", help="append one summary line per setting")
    ap.add_argument("--label", default="", help="name for the printed row")
    ap.add_argument("--time", type=int, default=0, metavar="N",
                    help="only time the settings: N pairs each, interleaved, 3 repetitions")
    ap.add_argument("--grid", default="",
                    help="JSON file: a list of {label, base, overrides} rows to run (a curve)")
    args = ap.parse_args()
    tune_allocator()
    torch.manual_seed(0)
    model, scorer = load_model("efficientnet-lite0"), Scorer()
    layers = tuple(args.layers.split(","))
    pairs = top_pairs(model, args.per_layer, layers)
    photo = photo_distance(scorer)
    extra = parse_set(args.set)
    presets = {"old": with_overrides(AccentConfig(), OLD), "new": AccentConfig(),
               "faccent-like": with_overrides(AccentConfig(), FACCENT)}
    print(f"{len(pairs)} pairs over {', '.join(layers)}; reg {REG}; photo-to-photo distance "
          f"{photo:.3f}; {torch.get_num_threads()} threads; overrides {extra or 'none'}")
    runs = [(args.label or n, n, extra) for n in args.only.split(",")]
    if args.grid:
        runs = [(g["label"], g.get("base", "new"), {**extra, **g.get("overrides", {})})
                for g in json.loads(Path(args.grid).read_text())]
    if args.time:
        spread = pairs[::max(1, len(pairs) // args.time)][:args.time]  # both layers
        time_settings(model, spread, {label: with_overrides(
            replace(presets[name], reg_layer=REG), over) for label, name, over in runs})
        return
    results = {}
    for label, name, over in runs:
        cfg = with_overrides(replace(presets[name], reg_layer=REG), over)
        with tempfile.TemporaryDirectory() as tmp:
            rows = run_setting(model, scorer, pairs, cfg, Path(tmp))
        results[label] = summary(rows, photo)
        print_table({label: results[label]})
        if args.sheet:
            contact_sheet(rows, Path(args.sheet) / f"contact-{label}.png")
        if args.jsonl:
            with open(args.jsonl, "a") as f:
                f.write(json.dumps({"label": label, "overrides": over, **results[label]})
                        + "\n")
    print()
    print_table(results)


if __name__ == "__main__":
    main()
