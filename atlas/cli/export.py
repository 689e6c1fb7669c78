"""Subcommand ``atlas export RUN --format json|csv [--out DIR]``: what the unit pages show, for
scripts (atlas.site.export does the work; the site writes the same files beside its pages)."""

from __future__ import annotations

import argparse


def _cmd_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from atlas.io.files import check_writable
    from atlas.site.export import export_run

    check_writable(args.out or Path(args.run) / "export", "--out folder")
    root, written = export_run(args.run, args.format, args.out)
    n = len(written)
    print(f"export: {n} {args.format.upper()} file{'s' if n != 1 else ''} -> {root}")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="a run's units as per-unit JSON or per-layer CSV")
    p.add_argument("run", help="run directory")
    p.add_argument("--format", choices=("json", "csv"), default="json",
                   help="json: one file per unit (units/LAYER/UNIT.json); csv: one per layer")
    p.add_argument("--out", help="output folder (default RUN/export)")
    p.set_defaults(fn=_cmd_export)
