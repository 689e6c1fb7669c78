"""``atlas accentuate photo.jpg --unit LAYER:UNIT``: accentuate one photo and save pictures.

Writes the accentuation, the attribution-mask overlay and a side-by-side sheet
(seed | accentuation | overlay) as PNG files, and prints the numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from PIL import Image, ImageDraw

from atlas.accent.loop import AccentResult, accentuate, normalize_masks
from atlas.accent.objectives import Target
from atlas.config.tree import build_config
from atlas.data.decode import BadImage, decode_rgb, preprocess
from atlas.data.media import overlay, to_pil
from atlas.errors import AtlasError


def parse_unit(spec: str | None) -> tuple[str, int]:
    layer, sep, unit = (spec or "").rpartition(":")
    if not sep or not layer or not unit.isdigit():
        raise AtlasError(f"--unit must look like LAYER:UNIT (e.g. _blocks.10:5), got {spec!r}")
    return layer, int(unit)


def sheet(panels: list[Image.Image], captions: list[str]) -> Image.Image:
    """Panels side by side on a dark background, a caption under each."""
    w, h = panels[0].size
    out = Image.new("RGB", (len(panels) * (w + 8) + 8, h + 36), (24, 24, 24))
    draw = ImageDraw.Draw(out)
    for i, (p, text) in enumerate(zip(panels, captions, strict=True)):
        x = 8 + i * (w + 8)
        out.paste(p.convert("RGB") if p.mode != "RGBA" else p, (x, 8),
                  p if p.mode == "RGBA" else None)
        draw.text((x, h + 14), text, fill=(230, 230, 230))
    return out


def accentuate_photo(args: argparse.Namespace) -> int:
    from atlas.pipeline.stages import model_of

    cfg = build_config(args)
    layer, unit = parse_unit(args.unit)
    model = model_of(cfg)
    try:
        src = decode_rgb(Path(args.photo))
    except (BadImage, FileNotFoundError, IsADirectoryError) as e:
        raise AtlasError(f"cannot read photo {args.photo!r}: {getattr(e, 'reason', e)}") from None
    seed = preprocess(src.image, cfg.accent.canvas)[None]
    with torch.no_grad():
        from atlas.models.hooks import Probe

        n_units = Probe(model, [layer])(seed[:, :, :64, :64].to(model.device))[layer].shape[1]
    if not 0 <= unit < n_units:
        raise AtlasError(f"unit {unit} out of range; {layer} has units 0..{n_units - 1}")
    res: AccentResult = accentuate(model, seed, Target(layer, torch.tensor([unit])), cfg.accent)
    mask = normalize_masks(res.masks)[0]
    out = Path(cfg.out if args.out else ".")
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{Path(args.photo).stem}-{layer}-{unit}"
    to_pil(res.images[0]).save(out / f"{stem}-accent.png")
    over = overlay(res.images[0], mask)
    over.save(out / f"{stem}-overlay.png")
    s, f = float(res.seed_activation[0]), float(res.final_activation[0])
    gain = f"{f / s:.2f}x" if s > 0 else "n/a (seed activation <= 0)"
    sheet([to_pil(seed[0]), to_pil(res.images[0]), over],
          ["seed", f"accentuation {f:.2f} (seed {s:.2f})", "attribution overlay"]
          ).save(out / f"{stem}-side.png")
    print(f"{layer}:{unit}  seed {s:.3f} -> final {f:.3f}  gain {gain}"
          f"  latent distance {float(res.latent_distance[0]):.3f} ({cfg.accent.reg_layer})"
          f"  pixel RMSE {float(res.pixel_rmse[0]):.4f}  steps {cfg.accent.steps}"
          f"  lam {cfg.accent.lam}  param {cfg.accent.param}")
    print(f"wrote {out / (stem + '-side.png')}")
    return 0
