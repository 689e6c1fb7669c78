"""Weights a user names or a library downloads, with each failure as one line.

A state_dict saved from another architecture makes ``load_state_dict`` raise a RuntimeError
listing every key (kilobytes); a missing network makes a default-weights download end in a long
``URLError`` traceback. Both say here what was wrong and what to pass instead.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch
from torch import nn

from atlas.errors import AtlasError

T = TypeVar("T")
SHOWN = 3  # keys named per kind of mismatch


def _first(keys: list[str]) -> str:
    more = f", … ({len(keys) - SHOWN} more)" if len(keys) > SHOWN else ""
    return ", ".join(keys[:SHOWN]) + more


def mismatch(own: dict[str, torch.Tensor], given: dict[str, object]) -> str:
    """What keeps ``given`` from loading into a model whose state_dict is ``own`` ('' if fits)."""
    missing = [k for k in own if k not in given]
    unexpected = [k for k in given if k not in own]
    shaped = [f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}" for k, v in given.items()
              if k in own and isinstance(v, torch.Tensor) and v.shape != own[k].shape]
    parts = [f"{len(keys)} {what} ({_first(keys)})" for what, keys in
             (("missing keys", missing), ("unexpected keys", unexpected),
              ("of another shape", shaped)) if keys]
    return "; ".join(parts)


def load_state(module: nn.Module, path: str, arch: str) -> None:
    """Load a state_dict file into ``module`` or fail with one line naming the mismatch."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle, zip or format error: the file is not torch weights
        first = (str(e).splitlines() or [""])[0]
        raise AtlasError(f"weights {path} could not be read as a state_dict: "
                         f"{type(e).__name__}: {first}") from e
    if not isinstance(state, dict):
        raise AtlasError(f"weights {path} hold a {type(state).__name__}, not a state_dict")
    problem = mismatch(module.state_dict(), state)
    if problem:
        raise AtlasError(f"weights {path} do not fit {arch}: {problem}; pass a state_dict "
                         f"saved from {arch}")
    module.load_state_dict(state)


def fetch_default(arch: str, make: Callable[[], T]) -> T:
    """``make()``, which downloads ``arch``'s default weights on first use; a failed download
    (no network, a proxy, a full cache disk) says how to pass a local file instead."""
    try:
        return make()
    except OSError as e:  # urllib's URLError and the hub clients' errors are OSErrors
        reason = getattr(e, "reason", None) or e
        raise AtlasError(f"could not download the default weights of {arch} ({reason}); pass a "
                         f"local file with --weights path/to/file.pth (model.weights in a "
                         f"config), or --weights none for random weights") from e
