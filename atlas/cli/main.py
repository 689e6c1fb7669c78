"""Command line: ``atlas build | mine | accentuate | embed | render | serve | layers | ...``.

Each subcommand is a thin wrapper: parse flags into the dataclass config, call one stage.
User errors (:class:`AtlasError`) print as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time

from atlas.errors import AtlasError
from atlas.models.runtime import tune_allocator


def _cmd_layers(args: argparse.Namespace) -> int:
    from atlas.models.hooks import describe_layers
    from atlas.models.zoo import load_model

    model = load_model(args.model, args.weights)
    print(f"{model.name}: input {model.input_size}x{model.input_size}")
    print(f"{'layer':<40} {'type':<22} {'output shape':<18} units")
    for name, kind, shape, ch in describe_layers(model):
        print(f"{name:<40} {kind:<22} {str(list(shape)):<18} {ch or '-'}")
    return 0


def _cmd_mine(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config
    from atlas.pipeline.stages import run_mine

    cfg = build_config(args)
    t0 = time.perf_counter()
    info = run_mine(cfg, progress=not args.quiet)
    st = info["stage"]
    state = "cached" if info["cached"] else "done"
    print(f"mine {state}: {st.get('images', 0)} images read, {st.get('skipped', 0)} skipped, "
          f"{sum(st.get('units', {}).values())} units, {time.perf_counter() - t0:.1f} s "
          f"-> {cfg.out}")
    return 0


def _cmd_accentuate(args: argparse.Namespace) -> int:
    if args.photo:
        from atlas.cli.photo import accentuate_photo

        return accentuate_photo(args)
    from atlas.config.tree import build_config
    from atlas.pipeline.stages import run_accentuate

    cfg = build_config(args)
    info = run_accentuate(cfg, progress=not args.quiet)
    print(f"accentuate: {info['pairs']} accentuations -> {cfg.out}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config
    from atlas.pipeline.build import build

    cfg = build_config(args)
    build(cfg, progress=not args.quiet)
    return 0


def _model_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help="model spec (default efficientnet-lite0)")
    p.add_argument("--weights", help="'default', 'none' or a state_dict file")


def _run_flags(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("config", nargs="?", help="TOML config file or a bundled config name")
    else:
        p.add_argument("--config", help="TOML config file or a bundled config name")
    _model_flags(p)
    p.add_argument("--layer", action="append", help="layer to mine (repeatable)")
    p.add_argument("--images", help="image source: bundled, a folder, hf:NAME[:SPLIT], ...")
    p.add_argument("--limit", type=int, help="read at most this many images")
    p.add_argument("--units", help="units to accentuate, e.g. 0:32 or 1,5,9")
    p.add_argument("--k", type=int, help="top-N images kept per unit")
    p.add_argument("--seeds", type=int, help="seeds accentuated per unit")
    p.add_argument("--steps", type=int, help="optimization steps per accentuation")
    p.add_argument("--device", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--out", help="run directory (default runs/NAME)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override any config field, e.g. --set accent.lam=2")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="atlas", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("layers", help="list the addressable layers of a model")
    p.add_argument("model", nargs="?", default="efficientnet-lite0")
    p.add_argument("--weights", default="default")
    p.set_defaults(fn=_cmd_layers)
    p = sub.add_parser("mine", help="stream images and keep each unit's top images")
    _run_flags(p)
    p.set_defaults(fn=_cmd_mine)
    p = sub.add_parser("accentuate", help="accentuate one photo, or a run's seeds")
    p.add_argument("photo", nargs="?", help="a photo to accentuate (else: a run's seeds)")
    p.add_argument("--unit", help="LAYER:UNIT for a single photo, e.g. _blocks.10:5")
    p.add_argument("--lam", type=float, help="regularization strength (default 1)")
    p.add_argument("--param", help="fourier, maco or pixel")
    _run_flags(p, positional=False)
    p.set_defaults(fn=_cmd_accentuate)
    p = sub.add_parser("build", help="build an atlas end to end (all stages)")
    _run_flags(p)
    p.set_defaults(fn=_cmd_build)
    from atlas.cli import run_commands as cli_more
    from atlas.cli import validate as cli_validate

    cli_more.add_commands(sub)
    cli_validate.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    tune_allocator()
    try:
        return int(args.fn(args) or 0)
    except AtlasError as e:
        print(f"atlas: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atlas: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

