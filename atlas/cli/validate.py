"""Subcommands ``atlas validate`` and ``atlas explain`` (wired into cli.py by add_commands)."""

from __future__ import annotations

import argparse
from dataclasses import replace

from atlas.errors import AtlasError


def _model(args: argparse.Namespace):
    from atlas.models.runtime import pick_device
    from atlas.models.zoo import load_model

    return load_model(args.model, args.weights).to(pick_device(args.device))


def _floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise AtlasError(f"--lambdas must be comma-separated numbers, got {text!r}") from None


def _accent(args: argparse.Namespace):
    from atlas.accent.loop import AccentConfig

    acc = AccentConfig()
    for flag, name in (("steps", "steps"), ("lam", "lam"), ("canvas", "canvas"),
                       ("batch_size", "batch_size"), ("reg_layer", "reg_layer")):
        if getattr(args, flag, None) is not None:
            acc = replace(acc, **{name: getattr(args, flag)})
    if getattr(args, "crops", None) is not None:
        acc = replace(acc, augment=replace(acc.augment, crops=args.crops))
    return acc


def _cmd_validate(args: argparse.Namespace) -> int:
    from atlas.data.sources import open_source
    from atlas.evaluation.report import format_table, result_path
    from atlas.evaluation.validate import ValidateConfig, validate

    cfg = ValidateConfig(accent=_accent(args))
    for flag in ("units", "naturals", "seeds", "randoms", "sweep_units", "images"):
        if getattr(args, flag) is not None:
            cfg = replace(cfg, **{flag: getattr(args, flag)})
    if args.layer:
        cfg = replace(cfg, layers=args.layer)
    if args.attr_layer:
        cfg = replace(cfg, attr_layers=args.attr_layer)
    if args.lambdas:
        cfg = replace(cfg, lambdas=_floats(args.lambdas))
    cfg.validate()
    res = validate(args.out, _model(args), open_source(args.source), cfg, progress=not args.quiet)
    print(format_table(res))
    from atlas.pipeline.rundir import RunDir

    print(f"-> {result_path(RunDir(args.out))}")
    return 0


def _cmd_explain(args: argparse.Namespace) -> int:
    from atlas.evaluation.explain import explain

    r = explain(_model(args), args.photo, args.class_name, _accent(args), args.out)
    for key in ("predicted", "chosen"):
        e = r[key]
        print(f"{key:<10} {e['name']:<28} logit {e['logit_before']:7.2f} -> "
              f"{e['logit_after']:7.2f}   p {e['prob_before']:.3f} -> {e['prob_after']:.3f}   "
              f"top-1 after: {e['top_after']}")
    print(f"-> {r['png']}")
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="efficientnet-lite0", help="model spec")
    p.add_argument("--weights", default="default", help="'default', 'none' or a state_dict")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 or auto")
    p.add_argument("--steps", type=int, help="accentuation steps (default: AccentConfig's)")
    p.add_argument("--lam", type=float, help="regularization strength (default 1)")
    p.add_argument("--canvas", type=int, help="accentuation canvas in pixels")
    p.add_argument("--crops", type=int, help="random crops per step")
    p.add_argument("--reg-layer", dest="reg_layer", help="regularization layer")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("validate", help="measure the paper's claims (gain, closeness, pathway "
                       "similarity, lambda sweep) on a model")
    _common(p)
    p.add_argument("--images", dest="source", default="bundled",
                   help="image source (default bundled)")
    p.add_argument("--layer", action="append", help="target layer (repeatable)")
    p.add_argument("--attr-layer", dest="attr_layer", action="append",
                   help="attribution layer below the target (repeatable)")
    p.add_argument("--units", type=int, help="units per layer (default 16)")
    p.add_argument("--naturals", type=int, help="natural top images per unit (default 6)")
    p.add_argument("--seeds", type=int, help="seeds accentuated per unit (default 1)")
    p.add_argument("--randoms", type=int, help="random photos per unit (default 6)")
    p.add_argument("--images-limit", dest="images", type=int,
                   help="read at most this many source images (default 512)")
    p.add_argument("--sweep-units", dest="sweep_units", type=int,
                   help="units swept over lambda (default 2; 0: no sweep)")
    p.add_argument("--lambdas", help="comma-separated lambda grid (default 0.01..100, 9 points)")
    p.add_argument("--batch-size", dest="batch_size", type=int, help="pairs per batch")
    p.add_argument("--out", default="runs/validate", help="run directory (writes validation/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    p.set_defaults(fn=_cmd_validate)
    p = sub.add_parser("explain", help="accentuate a photo toward its predicted class and a "
                       "chosen class, side by side")
    p.add_argument("photo", help="an image file")
    p.add_argument("--class", dest="class_name", help="class to compare (default: runner-up)")
    p.add_argument("--out", default=".", help="folder for explain-<photo>.png (default .)")
    _common(p)
    p.set_defaults(fn=_cmd_explain)
