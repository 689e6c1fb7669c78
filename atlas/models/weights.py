"""Weights a user names or a library downloads, with each failure as one line.

A state_dict saved from another architecture makes ``load_state_dict`` raise a RuntimeError
listing every key (kilobytes); a missing network makes a default-weights download end in a long
``URLError`` traceback. Both say here what was wrong and what to pass instead. Checkpoints as
training scripts write them (``{'state_dict': ...}``, ``{'model': ...}``, DDP's ``module.``
prefix) are unwrapped with a one-line notice. Files are read with ``weights_only=True``: a
pickled whole model is refused in one line, since unpickling it would run code from the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import nn

from atlas.errors import AtlasError, notice

T = TypeVar("T")
SHOWN = 3  # keys named per kind of mismatch
WRAPPERS = ("state_dict", "model", "model_state_dict", "net", "module")  # checkpoint keys
PREFIXES = ("module.", "_orig_mod.", "model.")  # DDP, torch.compile, Lightning-style wrappers
ANSI = re.compile(r"\x1b\[[0-9;]*m")


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


def head_classes(own: dict[str, torch.Tensor], given: dict[str, Any]) -> int | None:
    """The class count of ``given``'s head when only the head's shape differs from ``own``'s
    (a fine-tuned model): the first dimension of the last mismatched weight, else None."""
    shaped = [k for k, v in given.items() if k in own and isinstance(v, torch.Tensor)
              and v.shape != own[k].shape]
    if not shaped or set(own) != set(given):
        return None
    last = [k for k in shaped if k.endswith("weight")] or shaped
    heads = {k.rsplit(".", 1)[0] for k in shaped}
    return int(given[last[-1]].shape[0]) if len(heads) == 1 else None


def unwrap(state: dict[str, Any], own: dict[str, torch.Tensor],
           path: str) -> dict[str, Any]:
    """The state_dict inside a training checkpoint: ``{'state_dict': ...}`` / ``{'model': ...}``
    wrappers taken off and a ``module.``-style prefix stripped when that makes keys fit."""
    steps = []
    for _ in range(3):  # {'model': {'state_dict': ...}} nests at most this deep in practice
        inner = [k for k in WRAPPERS if isinstance(state.get(k), dict)]
        if not inner or any(k in own for k in state):
            break
        state, steps = state[inner[0]], [*steps, f"[{inner[0]!r}]"]
    for prefix in PREFIXES:
        keys = [k for k in state if isinstance(k, str)]
        if keys and all(k.startswith(prefix) for k in keys) and not any(k in own for k in keys):
            state = {k[len(prefix):]: v for k, v in state.items()}
            steps.append(f"prefix {prefix!r} stripped")
    if steps:
        notice(f"weights {path}: took the state_dict at {', '.join(steps)}")
    return state


def _pickled_class(message: str) -> str:
    m = re.search(r"GLOBAL ([\w.]+)", message)
    return m.group(1) if m else "an object"


def read_state(path: str) -> dict[str, Any]:
    """A weights file as a dict, read without running code from it (``weights_only``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a pickle, zip or format error: the file is not torch weights
        text = ANSI.sub("", str(e))
        if "Unsupported global" in text:
            raise AtlasError(
                f"weights {path} hold a pickled whole model ({_pickled_class(text)}), not a "
                f"state_dict; atlas reads weights with weights_only=True, which never runs code "
                f"from a file: save model.state_dict() instead, or, if you trust the file, "
                f"load it yourself (torch.load(path, weights_only=False)) and pass the module "
                f"to atlas.Atlas") from None
        first = (text.strip().splitlines() or [""])[0][:200]
        raise AtlasError(f"weights {path} could not be read as a state_dict: "
                         f"{type(e).__name__}: {first}") from None
    if isinstance(state, nn.Module):  # an allow-listed module class: still not a state_dict
        state = state.state_dict()
    if not isinstance(state, dict):
        raise AtlasError(f"weights {path} hold a {type(state).__name__}, not a state_dict")
    return state


def load_state(module: nn.Module, path: str, arch: str) -> None:
    """Load a state_dict file into ``module`` or fail with one line naming the mismatch."""
    own = module.state_dict()
    state = unwrap(read_state(path), own, path)
    problem = mismatch(own, state)
    if problem:
        n = head_classes(own, state)
        hint = (f"; its head has {n} classes: set model.num_classes = {n} (--set "
                f"model.num_classes={n})" if n else f"; pass a state_dict saved from {arch}")
        raise AtlasError(f"weights {path} do not fit {arch}: {problem}{hint}")
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
