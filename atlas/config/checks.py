"""Field checks for dataclass configs: each failure is one line naming the field and range."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from atlas.errors import AtlasError


def check_int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value >= lo
    if ok and hi is not None:
        ok = value <= hi
    if not ok:
        rng = f"an integer in [{lo}, {hi}]" if hi is not None else f"an integer >= {lo}"
        raise AtlasError(f"{name} must be {rng}, got {value!r}")


def check_float(name: str, value: Any, lo: float, hi: float, open_lo: bool = False) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    ok = ok and (value > lo if open_lo else value >= lo) and value <= hi
    if not ok:
        left = "(" if open_lo else "["
        raise AtlasError(f"{name} must be a number in {left}{lo}, {hi}], got {value!r}")


def check_choice(name: str, value: Any, choices: Iterable[str | int]) -> None:
    choices = list(choices)
    if value not in choices:
        raise AtlasError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}")
