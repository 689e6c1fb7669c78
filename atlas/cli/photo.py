"""``atlas accentuate photo.jpg --unit LAYER:UNIT``: one photo toward one unit, as pictures."""

from __future__ import annotations

import argparse
from pathlib import Path

from atlas.config.load import given
from atlas.config.tree import build_config
from atlas.config.units import parse_layer_unit, parse_units


def run(args: argparse.Namespace) -> int:
    cfg = build_config(args)
    layer, unit = parse_layer_unit(args.unit)
    # torch loads once the settings are known good
    from atlas.io.files import check_writable
    from atlas.models.probe import unit_counts
    from atlas.pipeline.resolve import model_of, resolve
    from atlas.tools.photo import accentuate_photo

    model = model_of(cfg)
    model.layer(layer)  # an unknown layer names the closest
    parse_units(str(unit), unit_counts(model, [layer]).get(layer, 0), layer)
    resolved = resolve(cfg, model, target=layer)
    out = Path(cfg.out if given(args, "out") else ".")
    check_writable(out, "--out folder")
    r = accentuate_photo(model, args.photo, layer, unit, cfg.accent, resolved, out)
    print(f"{layer}:{unit}  seed {r.seed_activation:.3f} -> final {r.final_activation:.3f}  "
          f"gain {r.gain}  latent distance {r.latent_distance:.3f} ({resolved.reg_layer})  "
          f"pixel RMSE {r.pixel_rmse:.4f}  steps {cfg.accent.steps}  lam {cfg.accent.lam}  "
          f"param {cfg.accent.param}")
    print(f"wrote {r.side}")
    return 0
