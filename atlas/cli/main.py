"""Command line: ``atlas build | mine | accentuate | embed | render | serve | layers | ...``.

Each subcommand is a thin wrapper: its flags, a TOML file and ``--set`` make one config tree
(atlas.config), the early checks run (atlas.pipeline.preflight), then one stage. Heavy modules
(torch, pandas, PIL) load inside the commands, so ``--help`` and argument errors are instant.
User errors (:class:`AtlasError`) print as one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import NoReturn

from atlas.cli.flags import run_flags
from atlas.errors import AtlasError


def _cmd_layers(args: argparse.Namespace) -> int:
    from atlas.models.probe import describe_layers
    from atlas.models.zoo import load_model

    model = load_model(args.model, args.weights, num_classes=args.num_classes)
    print(f"{model.name}: input {model.input_size}x{model.input_size}")
    print(f"{'layer':<40} {'type':<22} {'output shape':<18} units")
    for name, kind, shape, ch in describe_layers(model):
        print(f"{name:<40} {kind:<22} {str(list(shape)):<18} {ch or '-'}")
    if model.hidden:  # a TorchScript file: its output is all that can be read
        print(f"{'logits':<40} {'(model output)':<22}")
        print(f"note: {model.hidden}")
    return 0


def _checked(args: argparse.Namespace, site: bool = False):
    """The config tree of a run command and its resolved settings, after the early checks
    (atlas.pipeline.resolve). The tree is checked before torch loads: a bad value is one line
    at once."""
    from atlas.config.tree import build_config

    cfg = build_config(args)
    from atlas.pipeline.resolve import preflight

    _, resolved = preflight(cfg, site=site)
    return cfg, resolved


def _cmd_mine(args: argparse.Namespace) -> int:
    cfg, resolved = _checked(args)
    from atlas.pipeline.stages import run_mine

    t0 = time.perf_counter()
    info = run_mine(cfg, progress=not args.quiet, resolved=resolved)
    st = info["stage"]
    state = "cached" if info["cached"] else "done"
    print(f"mine {state}: {st.get('images', 0)} images read, {st.get('skipped', 0)} skipped, "
          f"{sum(st.get('units', {}).values())} units, {time.perf_counter() - t0:.1f} s "
          f"-> {cfg.run_dir}")
    return 0


def _cmd_accentuate(args: argparse.Namespace) -> int:
    from atlas.config.load import is_config

    if args.photo and not args.config and is_config(args.photo):  # `atlas accentuate bundled`
        args.config, args.photo = args.photo, None
    # without these checks a forgotten (or empty) photo fell through to accentuating every
    # seed of the default run, minutes of work the user never asked for
    if args.unit is not None and not args.photo:
        raise AtlasError("--unit goes with a photo: atlas accentuate PHOTO --unit LAYER:UNIT "
                         "(a config accentuates its run's seeds; choose them with --units)")
    if args.photo is not None and not args.unit:
        raise AtlasError("a photo needs --unit LAYER:UNIT, e.g. atlas accentuate "
                         f"{args.photo or 'PHOTO'} --unit _blocks.10:3")
    if args.photo:
        from atlas.cli import photo

        return photo.run(args)
    cfg, resolved = _checked(args)
    from atlas.pipeline.stages import run_accentuate

    info = run_accentuate(cfg, progress=not args.quiet, resolved=resolved)
    print(f"accentuate: {info['pairs']} accentuations -> {cfg.run_dir}")
    return 0


def _cmd_build(args: argparse.Namespace) -> int:
    cfg, resolved = _checked(args, site=True)
    from atlas.pipeline.build import build
    from atlas.site.render import build_renderer

    build(cfg, build_renderer(cfg.site), progress=not args.quiet, resolved=resolved)
    return 0


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line, like every user error (argparse prints its usage first);
    the subcommands' parsers are of this class too (``add_subparsers`` makes them so)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"atlas: error: {message} (see: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    from atlas.cli import concept, run_commands, validate
    from atlas.cli import export as cli_export

    ap = _Parser(prog="atlas", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("layers", help="list the addressable layers of a model")
    p.add_argument("model", nargs="?", default="efficientnet-lite0")
    p.add_argument("--weights", default="default")
    p.add_argument("--num-classes", type=int, default=0,
                   help="a fine-tuned head's classes (0: the model's own)")
    p.set_defaults(fn=_cmd_layers)
    p = sub.add_parser("mine", help="stream images and keep each unit's top images")
    run_flags(p)
    p.set_defaults(fn=_cmd_mine)
    p = sub.add_parser("accentuate", help="accentuate one photo, or a run's seeds")
    p.add_argument("photo", nargs="?",
                   help="a photo to accentuate; a config (.toml or bundled name): the run's seeds")
    p.add_argument("--unit", help="LAYER:UNIT for a single photo, e.g. _blocks.10:5")
    run_flags(p, positional=False)
    p.set_defaults(fn=_cmd_accentuate)
    p = sub.add_parser("build", help="build an atlas end to end (all stages)")
    run_flags(p)
    p.set_defaults(fn=_cmd_build)
    run_commands.add_commands(sub)
    validate.add_commands(sub)
    cli_export.add_commands(sub)
    concept.add_commands(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    from atlas.models.runtime import tune_allocator

    tune_allocator()
    try:
        return int(args.fn(args) or 0)
    except AtlasError as e:
        line = " ".join(str(e).split("\n"))  # one line, even around another library's message
        print(f"atlas: error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("atlas: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
