"""The layers of a config, as one nested dict: a TOML file, then flags, then ``--set``.

Light on purpose (no torch): the command line declares its flags with :func:`setting` while it
builds its parser, and only a command that runs turns the dict into the dataclass tree
(:func:`atlas.config.tree.build_config`).
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import resources
from pathlib import Path
from typing import Any

from atlas.errors import AtlasError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

TREE = "tree:"  # argparse dest prefix of a flag that sets a config key: "tree:accent.lam"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")  # a dotted key of --set


def setting(p: argparse.ArgumentParser, flag: str, key: str, help: str, **kw: Any) -> None:
    """Add ``flag`` as a shorthand for the config key ``key`` (shown in its help)."""
    if kw.get("action") not in ("store_true", "store_false"):
        kw.setdefault("metavar", flag.lstrip("-").replace("-", "_").upper())
    p.add_argument(flag, dest=TREE + key, help=f"{help} [{key}]", **kw)


def put(tree: dict[str, Any], dotted: str, value: Any, at: str = "") -> None:
    """Set ``a.b.c = value`` in a nested dict of overrides (``at``: the dotted place of
    ``tree``, for the message when a key that holds a value is used as a section)."""
    *heads, last = dotted.split(".")
    for h in heads:
        at = f"{at}{h}."
        tree = tree.setdefault(h, {})
        if not isinstance(tree, dict):
            raise AtlasError(f"config key {at[:-1]!r} is a value, not a section")
    if isinstance(value, dict):
        section = tree.setdefault(last, {})
        if not isinstance(section, dict):
            raise AtlasError(f"config key {at + last!r} is a value, not a section")
        for k, v in value.items():
            put(section, k, v, f"{at}{last}.")
    else:
        tree[last] = value


def is_config(name: str) -> bool:
    """Whether ``name`` names a config (a ``.toml`` path or a bundled config), not a photo."""
    return name.endswith(".toml") or (
        not Path(name).exists() and resources.files("atlas").joinpath(f"configs/{name}.toml")
        .is_file())


def bundled_names() -> list[str]:
    """The configs shipped in the package, by the name ``atlas build NAME`` takes."""
    return sorted(f.name[:-5] for f in resources.files("atlas").joinpath("configs").iterdir()
                  if f.name.endswith(".toml"))


def load_toml(path: str) -> dict[str, Any]:
    """A TOML file, or a bundled config by name (``bundled``)."""
    p = Path(path)
    if not p.exists():
        bundled = resources.files("atlas").joinpath(f"configs/{path}.toml")
        if bundled.is_file():
            return tomllib.loads(bundled.read_text(encoding="utf-8"))
        raise AtlasError(f"config {path!r} is not a file or a bundled config "
                         f"({', '.join(bundled_names())})")
    try:
        # TOML is UTF-8; a byte-order mark (some Windows editors write one) is not content
        return tomllib.loads(p.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError as e:
        raise AtlasError(f"config {path}: not UTF-8 text (TOML files are UTF-8): byte "
                         f"{e.object[e.start]:#04x} at offset {e.start}") from None
    except tomllib.TOMLDecodeError as e:
        raise AtlasError(f"config {path}: invalid TOML: {e}") from None
    except OSError as e:
        raise AtlasError(f"config {path}: cannot read: {e.strerror or e}") from None


def literal(text: str) -> Any:
    """A ``--set`` value as TOML (``2``, ``"maco"``, ``[1, 2]``), else the plain string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def layered(args: argparse.Namespace | None) -> dict[str, Any]:
    """The TOML file named by ``args.config``, then every :func:`setting` flag given, then
    each ``--set KEY=VALUE``, merged in that order into one nested dict."""
    tree: dict[str, Any] = {}
    if args is None:
        return tree
    if getattr(args, "config", None):
        for k, v in load_toml(args.config).items():
            put(tree, k, v)
    for name, value in vars(args).items():
        if name.startswith(TREE) and value is not None:
            put(tree, name[len(TREE):], value)
    for item in getattr(args, "set", None) or []:
        key, eq, text = item.partition("=")
        if not eq or not _KEY.fullmatch(key.strip()):
            raise AtlasError(f"--set expects SECTION.FIELD=VALUE, got {item!r}")
        put(tree, key.strip(), literal(text.strip()))
    return tree


def given(args: argparse.Namespace, key: str) -> Any:
    """The value of the :func:`setting` flag for ``key``, or None when it was not given."""
    return vars(args).get(TREE + key)
