"""Subcommands that act on an existing run directory: embed, render, report, serve.

They take the same config tree as ``atlas build`` (``--config``, ``--set``): embed reads its
``[select]`` and ``[embed]`` sections, render and report the ``[site]`` section.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from atlas.cli.flags import config_flags
from atlas.config.load import setting
from atlas.errors import AtlasError


def _config(args: argparse.Namespace):
    """The config tree, then the run directory it acts on: a missing run fails before an
    output folder is made."""
    from atlas.config.tree import build_config

    cfg = build_config(args)
    if not Path(args.run).is_dir():
        raise AtlasError(f"run directory {args.run!r} does not exist")
    return cfg


def _cmd_embed(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from atlas.pipeline.embed.stage import EMBED
    from atlas.pipeline.rundir import RunDir
    from atlas.pipeline.select.stage import SELECT
    from atlas.pipeline.stage import Context, run_alone

    ctx = Context(RunDir(args.run), cfg)
    run_alone(SELECT, ctx)
    info = run_alone(EMBED, ctx).info
    print(f"embed: {info.get('rows', 0)} points -> {ctx.run.table_path('embed')}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    import time

    cfg = _config(args)
    from atlas.io.files import check_writable
    from atlas.site.render import render_site

    check_writable(cfg.site.out, "site.out")
    t0 = time.perf_counter()
    out = render_site(args.run, cfg.site.out, cfg.site)
    print(f"render: {out}/index.html in {time.perf_counter() - t0:.1f} s "
          f"(open it in a browser, or: atlas serve {out})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    cfg = _config(args)
    from atlas.io.files import check_writable
    from atlas.site.report import render_report

    if bool(args.units) == bool(args.class_name):
        raise AtlasError("atlas report: give --units LAYER:UNIT[,...] or --class NAME")
    if Path(args.out).is_dir():
        raise AtlasError(f"report --out {args.out!r} is a folder; give a file, e.g. "
                         f"{str(Path(args.out) / 'report.html')!r}")
    check_writable(Path(args.out).parent, "report folder")
    if args.class_name:
        from atlas.site.render_decisions import render_class_report

        path = render_class_report(args.run, args.class_name, args.out, cfg.site.report_px)
    else:
        path = render_report(args.run, args.units, args.out, cfg.site.report_px)
    print(f"report: {path}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from atlas.site.serve import serve

    serve(args.site, args.port)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="choose seeds and compute UMAP maps for a run")
    p.add_argument("run", help="run directory")
    config_flags(p)
    p.set_defaults(fn=_cmd_embed)
    p = sub.add_parser("render", help="render a run directory into a static site")
    p.add_argument("run", help="run directory")
    setting(p, "--out", "site.out", "site directory (default site/)")
    config_flags(p)
    p.set_defaults(fn=_cmd_render)
    p = sub.add_parser("report", help="a self-contained HTML report for chosen units or a class")
    p.add_argument("run", help="run directory")
    p.add_argument("--units", help="LAYER:UNIT[,LAYER:UNIT...]")
    p.add_argument("--class", dest="class_name",
                   help="a model class with a class page (name or index), instead of --units")
    p.add_argument("--out", default="report.html", help="the report file")
    config_flags(p)
    p.set_defaults(fn=_cmd_report)
    p = sub.add_parser("serve", help="preview a rendered site on http://127.0.0.1:PORT")
    p.add_argument("site", nargs="?", default="site")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(fn=_cmd_serve)
