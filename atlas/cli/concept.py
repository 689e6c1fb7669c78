"""``atlas concept``: learn a named direction from two image sources (see atlas.tools.concept)."""

from __future__ import annotations

import argparse
from pathlib import Path

from atlas.cli.flags import config_flags, model_flags


def _cmd_concept(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config
    from atlas.data.sources import open_source
    from atlas.errors import AtlasError
    from atlas.io.files import check_writable
    from atlas.pipeline.resolve import model_of
    from atlas.tools.concept import learn_concept, save_concept

    cfg = build_config(args)
    if not args.name.strip() or "/" in args.name:
        raise AtlasError(f"--name must be a non-empty name without '/', got {args.name!r}")
    check_writable(Path(args.out).expanduser().resolve().parent, "--out folder")
    model = model_of(cfg)
    layer = args.layer or cfg.mine.layers[0]
    model.layer(layer)  # an unknown layer names the closest
    pos, neg = open_source(args.positive), open_source(args.negative)
    c = learn_concept(model, pos, neg, layer, args.name.strip(), args.seed)
    path = save_concept(c, args.out, model.name)
    print(f"concept {c.name!r} at {layer}: held-out accuracy {c.accuracy:.1%} on {c.held_out} "
          f"images ({c.positives} concept, {c.negatives} other) -> {path}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("concept", help="learn a named direction in a layer from a concept's "
                       "images and other images (a linear probe; held-out accuracy reported)")
    p.add_argument("--positive", required=True, help="the concept's images: a folder or source")
    p.add_argument("--negative", required=True, help="other images: a folder or source")
    p.add_argument("--name", required=True, help="the concept's name (shown on its page)")
    p.add_argument("--layer", help="layer (default: the config's first mined layer)")
    p.add_argument("--out", default="concepts.safetensors",
                   help="directions file to add it to (default concepts.safetensors)")
    p.add_argument("--seed", type=int, default=0, help="seed of the held-out split")
    config_flags(p)
    model_flags(p)
    p.set_defaults(fn=_cmd_concept)
