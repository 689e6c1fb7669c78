"""User-facing errors: one clear line naming what was wrong and the valid choices."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class AtlasError(Exception):
    """An error caused by user input; the CLI prints its message as one line and exits 2."""


def closest(name: str, choices: Iterable[str], n: int = 5) -> list[str]:
    """The valid names closest to ``name`` (by edit similarity), best first."""
    pool = list(choices)
    hits = difflib.get_close_matches(name, pool, n=n, cutoff=0.4)
    if not hits:  # fall back to substring matches so 'blocks' still suggests '_blocks.0'
        hits = [c for c in pool if name.lower() in c.lower()][:n]
    return hits


def unknown(kind: str, name: str, choices: Iterable[str]) -> AtlasError:
    """An error for an unknown ``kind`` called ``name``, suggesting the closest valid names."""
    pool = list(choices)
    hits = closest(name, pool)
    if hits:
        hint = "closest: " + ", ".join(hits)
    else:
        hint = "valid: " + ", ".join(pool[:8]) + (", ..." if len(pool) > 8 else "")
    return AtlasError(f"unknown {kind} {name!r}; {hint}")


def notice(text: str) -> None:
    """One line on stderr about a choice atlas made for the user (not an error): a checkpoint
    unwrapped, a default split taken."""
    import sys

    print(f"atlas: {text}", file=sys.stderr)
