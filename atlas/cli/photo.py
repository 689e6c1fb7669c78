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
from atlas.config.load import given
from atlas.config.preflight import check_writable, layer_facts
from atlas.config.reglayer import reg_layer_for
from atlas.config.tree import build_config
from atlas.config.units import parse_layer_unit, parse_units
from atlas.data.decode import BadImage, decode_rgb, preprocess
from atlas.data.media import overlay, to_pil
from atlas.errors import AtlasError


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
    from atlas.pipeline.inputs import model_of

    cfg = build_config(args)
    layer, unit = parse_layer_unit(args.unit)
    model = model_of(cfg)
    try:
        src = decode_rgb(Path(args.photo))
    except (BadImage, FileNotFoundError, IsADirectoryError) as e:
        raise AtlasError(f"cannot read photo {args.photo!r}: {getattr(e, 'reason', e)}") from None
    seed = preprocess(src.image, cfg.accent.canvas)[None]
    parse_units(str(unit), layer_facts(model, [layer]).get(layer, 0), layer)
    cfg.accent.reg_layer = reg_layer_for(model, layer, cfg.accent.reg_layer)
    out = Path(cfg.out if given(args, "out") else ".")
    check_writable(out, "--out folder")
    res: AccentResult = accentuate(model, seed, Target(layer, torch.tensor([unit])), cfg.accent)
    mask = normalize_masks(res.masks)[0]
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
