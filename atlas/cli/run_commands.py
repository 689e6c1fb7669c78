"""Subcommands that act on an existing run directory: select, embed, render, report, serve."""

from __future__ import annotations

import argparse

from atlas.pipeline.rundir import RunDir


def _cmd_embed(args: argparse.Namespace) -> int:
    from atlas.config.tree import build_config
    from atlas.pipeline.embed import run_embed
    from atlas.pipeline.select import run_select

    cfg = build_config(args)
    run = RunDir(args.run)
    run_select(run, cfg.select)
    df = run_embed(run, cfg.embed)
    print(f"embed: {len(df)} points -> {run.table_path('embed')}")
    return 0


def _cmd_render(args: argparse.Namespace) -> int:
    import time

    from atlas.site.render import render_site

    t0 = time.perf_counter()
    out = render_site(args.run, args.out)
    print(f"render: {out}/index.html in {time.perf_counter() - t0:.1f} s "
          f"(open it in a browser, or: atlas serve {out})")
    return 0


def _cmd_report(args: argparse.Namespace) -> int:
    from atlas.site.report import write_report

    units = [u.strip() for u in args.units.split(",") if u.strip()]
    path = write_report(args.run, units, args.out)
    print(f"report: {path}")
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from atlas.site.serve import serve

    serve(args.site, args.port)
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("embed", help="choose seeds and compute UMAP maps for a run")
    p.add_argument("run", help="run directory")
    p.add_argument("--config", help="TOML config for the select/embed settings")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE")
    p.set_defaults(fn=_cmd_embed)
    p = sub.add_parser("render", help="render a run directory into a static site")
    p.add_argument("run", help="run directory")
    p.add_argument("--out", default="site", help="site directory (default site/)")
    p.set_defaults(fn=_cmd_render)
    p = sub.add_parser("report", help="a self-contained HTML report for chosen units")
    p.add_argument("run", help="run directory")
    p.add_argument("--units", required=True, help="LAYER:UNIT[,LAYER:UNIT...]")
    p.add_argument("--out", default="report.html")
    p.set_defaults(fn=_cmd_report)
    p = sub.add_parser("serve", help="preview a rendered site on http://127.0.0.1:PORT")
    p.add_argument("site", nargs="?", default="site")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(fn=_cmd_serve)
