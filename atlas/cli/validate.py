"""Subcommands ``atlas validate`` and ``atlas explain`` (wired into main.py by add_commands).

Both take the config tree of ``atlas build``: ``[model]``, ``[data]``, ``[accent]`` and, for
validate, its own ``[validate]`` section; the run directory is the tree's ``out``, so
``atlas validate my.toml`` measures the atlas that ``atlas build my.toml`` made.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from atlas.cli.flags import accent_flags, config_flags, model_flags
from atlas.config.load import setting


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, e.g. 0.1,1,10, got {text!r}") from None


def _cmd_validate(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config

    cfg = build_config(args)  # before torch loads: a bad value is one line at once
    from atlas.evaluation.summary import format_table, result_path
    from atlas.evaluation.validate import first_target, validate
    from atlas.io.files import check_writable
    from atlas.pipeline.resolve import check_outputs, model_of, resolve, source_of
    from atlas.pipeline.rundir import RunDir

    check_writable(cfg.run_dir, "run directory")
    vcfg = replace(cfg.validate, accent=cfg.accent)
    model = model_of(cfg).with_bases(RunDir(cfg.run_dir).bases())  # a run's features too
    check_outputs(model, [*vcfg.layers, *vcfg.attr_layers])
    resolved = resolve(cfg, model, target=first_target(model, vcfg))
    res = validate(cfg.run_dir, model, source_of(cfg), vcfg, resolved, progress=not args.quiet)
    print(format_table(res))
    print(f"-> {result_path(RunDir(cfg.run_dir))}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config

    cfg = build_config(args)
    from atlas.io.files import check_writable
    from atlas.models.hooks import LOGITS
    from atlas.pipeline.resolve import model_of, resolve
    from atlas.tools.explain import explain

    check_writable(args.out, "--out folder")
    model = model_of(cfg)
    resolved = resolve(cfg, model, target=LOGITS)
    r = explain(model, args.photo, args.class_name, cfg.accent, resolved, args.out)
    for key in ("predicted", "chosen"):
        e = r[key]
        print(f"{key:<10} {e['name']:<28} logit {e['logit_before']:7.2f} -> "
              f"{e['logit_after']:7.2f}   p {e['prob_before']:.3f} -> {e['prob_after']:.3f}   "
              f"top-1 after: {e['top_after']}")
    print(f"-> {r['png']}")
    return 0


def _validate_flags(p: argparse.ArgumentParser) -> None:
    setting(p, "--images", "data.images", "image source (default bundled)")
    setting(p, "--layer", "validate.layers", "target layer (repeatable)", action="append")
    setting(p, "--attr-layer", "validate.attr_layers",
            "attribution layer below the target (repeatable)", action="append")
    setting(p, "--units", "validate.units", "units per layer (default 16)", type=int)
    setting(p, "--naturals", "validate.naturals", "natural top images per unit", type=int)
    setting(p, "--seeds", "validate.seeds", "seeds accentuated per unit", type=int)
    setting(p, "--randoms", "validate.randoms", "random photos per unit", type=int)
    setting(p, "--images-limit", "validate.images", "read at most this many source images",
            type=int)
    setting(p, "--sweep-units", "validate.sweep_units", "units swept over lambda (0: no sweep)",
            type=int)
    setting(p, "--lambdas", "validate.lambdas", "comma-separated lambda grid", type=_floats)
    setting(p, "--out", "out", "run directory (writes validation/; default runs/NAME)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="measure the paper's claims (gain, closeness, pathway "
                       "similarity, lambda sweep) on a model")
    config_flags(p, positional=True)
    model_flags(p)
    accent_flags(p)
    _validate_flags(p)
    p.set_defaults(fn=_cmd_validate)
    p = sub.add_parser("explain", help="accentuate a photo toward its predicted class and a "
                       "chosen class, side by side")
    p.add_argument("photo", help="an image file")
    p.add_argument("--class", dest="class_name", help="class to compare (default: runner-up)")
    p.add_argument("--out", default=".", help="folder for explain-<photo>.png (default .)")
    config_flags(p)
    model_flags(p)
    accent_flags(p)
    p.set_defaults(fn=_cmd_explain)
