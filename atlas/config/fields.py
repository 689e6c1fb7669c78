"""Declared settings: each field of the config tree states its type and its valid values once.

A section is a plain dataclass whose fields are made by :func:`num`, :func:`one_of`,
:func:`text`, :func:`names`, :func:`floats`, :func:`flag` or :func:`section`. :func:`check`
reads the declarations and the type hints, so every key of every section is checked the same
way (type, then range, choices or emptiness) with one line naming the dotted key, and the
property test of the config reads the same declarations to know what is invalid.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any

from atlas.config.checks import check_choice, check_float, check_int
from atlas.errors import AtlasError

# the largest seed every consumer takes: numpy's RandomState (UMAP's random_state) stops here
MAX_SEED = 2**32 - 1


def num(default: float, lo: float, hi: float | None = None, *, open_lo: bool = False) -> Any:
    """An int or float in [lo, hi] ((lo, hi] when ``open_lo``; no upper bound when hi is None)."""
    return dataclasses.field(default=default, metadata={"lo": lo, "hi": hi, "open_lo": open_lo})


def one_of(default: str | int, choices: Iterable[str | int]) -> Any:
    return dataclasses.field(default=default, metadata={"choices": tuple(choices)})


def text(default: str = "", *, empty: bool = True) -> Any:
    """A string without NUL characters; ``empty=False``: it must not be empty or blank."""
    return dataclasses.field(default=default, metadata={"empty": empty})


def flag(default: bool) -> Any:
    return dataclasses.field(default=default)


def names(*default: str) -> Any:
    """A non-empty list of distinct, non-blank strings (layer names)."""
    return dataclasses.field(default_factory=lambda: list(default), metadata={"empty": False})


def floats(*default: float) -> Any:
    """A non-empty list of finite numbers."""
    return dataclasses.field(default_factory=lambda: list(default), metadata={"empty": False})


def section(cls: type) -> Any:
    return dataclasses.field(default_factory=cls)


@cache
def hints(cls: type) -> dict[str, Any]:
    """The resolved type of every field of ``cls`` (annotations are strings here)."""
    return typing.get_type_hints(cls)


def tree_fields(cls: type) -> list[dataclasses.Field]:
    """The fields of ``cls`` that are keys of the tree. ``metadata={"tree": False}`` marks a field
    filled from another section by the code (``validate.accent`` is the tree's ``[accent]``)."""
    return [f for f in dataclasses.fields(cls) if f.metadata.get("tree", True)]


def kind(hint: Any) -> str:
    """'bool', 'int', 'float', 'str', 'list[str]', 'list[float]' or 'section'."""
    if dataclasses.is_dataclass(hint):
        return "section"
    if typing.get_origin(hint) is list:
        return f"list[{typing.get_args(hint)[0].__name__}]"
    return hint.__name__


_WANT = {"bool": "true or false", "int": "an integer", "float": "a number", "str": "a string",
         "list[str]": "a list of strings", "list[float]": "a list of numbers"}


def _is(value: Any, k: str) -> bool:
    if k == "bool":
        return isinstance(value, bool)
    if k == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if k == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if k == "str":
        return isinstance(value, str)
    if k.startswith("list["):
        return isinstance(value, list) and all(_is(v, k[5:-1]) for v in value)
    raise TypeError(f"unsupported config field kind {k}")


def check_value(name: str, value: Any, f: dataclasses.Field, k: str) -> None:
    """One field's value against its kind and declaration; one line naming ``name``."""
    if not _is(value, k):
        raise AtlasError(f"{name} must be {_WANT[k]}, got {value!r}")
    m = f.metadata
    if "choices" in m:
        check_choice(name, value, m["choices"])
    if "lo" in m:
        if k == "int":
            check_int(name, value, m["lo"], m["hi"])
        else:
            check_float(name, value, m["lo"], m["hi"] if m["hi"] is not None else float("inf"),
                        open_lo=m["open_lo"])
    if m.get("empty") is False and not (value.strip() if k == "str" else value):
        raise AtlasError(f"{name} must not be empty")
    # no file name or path holds a NUL, and every text of the tree may end up in one
    if k in ("str", "list[str]") and "\0" in (value if k == "str" else "".join(value)):
        raise AtlasError(f"{name} must not contain a NUL character, got {value!r}")
    if k == "list[str]":
        if not all(v.strip() for v in value):
            raise AtlasError(f"{name} must not hold empty names, got {value!r}")
        twice = [v for i, v in enumerate(value) if v in value[:i]]
        if twice:
            raise AtlasError(f"{name} lists {twice[0]!r} twice, got {value!r}")
    if k == "list[float]" and not all(math.isfinite(v) for v in value):
        raise AtlasError(f"{name} must hold finite numbers, got {value!r}")


def check(obj: Any, prefix: str | None = None) -> None:
    """Check every field of section ``obj`` (recursively), then its own cross-field ``rules``.

    ``prefix`` is the section's dotted place in the tree (default: its class's ``SECTION``)."""
    cls = type(obj)
    prefix = getattr(cls, "SECTION", "") if prefix is None else prefix
    dot = f"{prefix}." if prefix else ""
    for f in tree_fields(cls):
        value, k = getattr(obj, f.name), kind(hints(cls)[f.name])
        if k == "section":
            check(value, dot + f.name)
        else:
            check_value(dot + f.name, value, f, k)
    rules = getattr(obj, "rules", None)
    if rules is not None:
        rules(dot)
