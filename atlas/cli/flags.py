"""Flag groups shared by the subcommands; each flag is a shorthand for one config key.

This module and the parsers that use it import nothing heavy: ``atlas --help`` and argument
errors must come back at once, before torch is loaded.
"""

from __future__ import annotations

import argparse

from atlas.config.load import bundled_names, setting


def config_flags(p: argparse.ArgumentParser, positional: bool = False) -> None:
    """The TOML file (or bundled config name) and ``--set``, the layers below the flags."""
    text = f"TOML config file or a bundled config name ({', '.join(bundled_names())})"
    if positional:
        p.add_argument("config", nargs="?", help=text)
    else:
        p.add_argument("--config", help=text)
    p.add_argument("--set", action="append", default=[], metavar="SECTION.FIELD=VALUE",
                   help="override any config field, e.g. --set accent.lam=2 (repeatable)")


def model_flags(p: argparse.ArgumentParser) -> None:
    setting(p, "--model", "model.name", "model spec (default efficientnet-lite0)")
    setting(p, "--weights", "model.weights", "'default', 'none' or a state_dict file")
    setting(p, "--device", "device", "cpu, cuda, cuda:1 or auto")


def accent_flags(p: argparse.ArgumentParser) -> None:
    setting(p, "--steps", "accent.steps", "optimization steps per accentuation", type=int)
    setting(p, "--lam", "accent.lam", "regularization strength", type=float)
    setting(p, "--param", "accent.param", "fourier, maco or pixel")
    setting(p, "--canvas", "accent.canvas", "accentuation canvas in pixels", type=int)
    setting(p, "--crops", "accent.augment.crops", "random crops per step", type=int)
    setting(p, "--reg-layer", "accent.reg_layer",
            "regularization layer ('': the model's stage at half the depth before the target)")
    setting(p, "--batch-size", "accent.batch_size", "pairs optimized together (0: auto)",
            type=int)


def run_flags(p: argparse.ArgumentParser, positional: bool = True) -> None:
    """The flags of the commands that compute a run: build, mine, accentuate."""
    config_flags(p, positional)
    model_flags(p)
    accent_flags(p)
    setting(p, "--layer", "mine.layers", "layer to mine (repeatable)", action="append")
    setting(p, "--images", "data.images", "image source: bundled, a folder, hf:NAME[:SPLIT]")
    setting(p, "--limit", "data.limit", "read at most this many images", type=int)
    setting(p, "--units", "units", "units to accentuate, e.g. 0:32 or 1,5,9")
    setting(p, "--k", "mine.k", "top-N images kept per unit", type=int)
    setting(p, "--seeds", "select.k", "seeds accentuated per unit", type=int)
    setting(p, "--out", "out", "run directory (default runs/NAME)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
