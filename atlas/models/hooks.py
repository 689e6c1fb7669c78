"""Read named layers of a model in one forward pass, stopping after the deepest one needed.

Every reader goes through :class:`LayerHooks`, a context manager in the manner of lucent's
``ModelHook`` and captum's output hooks: it registers forward hooks for the ``with`` block and
removes them on exit, also when the forward raises, so a model is never left with stray hooks
(a pitfall of earlier feature-visualization tools). Once every requested layer has produced its
output the forward pass is aborted with a private exception, as captum does, so mining
``_blocks.10`` never computes the head. A layer's first output in a forward pass is the one
read, so a module the network calls twice reads the same everywhere. ``"logits"`` names the
model's final output.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from atlas.models.zoo import LoadedModel

LOGITS = "logits"
Transform = Callable[[torch.Tensor], torch.Tensor]
Swap = tuple[nn.Module, Transform]


class _Stop(Exception):
    """Raised from a hook to stop the forward pass once all layers are captured."""


def first_tensor(out: object) -> torch.Tensor:
    """The tensor a layer's output stands for (tuples and Inception's named outputs unwrapped)."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], torch.Tensor):
        return out[0]
    if hasattr(out, "logits"):  # torchvision InceptionOutputs / GoogLeNetOutputs
        return out.logits
    raise TypeError(f"layer output of type {type(out).__name__} is not a tensor")


class LayerHooks:
    """Forward hooks on ``layers`` ({name: module}) for one ``with`` block.

    ``outputs`` fills in as the forward runs. ``transforms``: {name: fn} turns a layer's output
    into what ``name`` reads (a basis's codes, :meth:`atlas.models.zoo.LoadedModel.reader`).
    ``stop``: abort the forward once every layer has run (:meth:`run` then returns None).
    ``swap``: (module, fn) replaces that module's output by ``fn(output)``; it runs before the
    readers, so a reader of the same module sees the replacement. ``strict=False`` skips outputs
    that are not tensors instead of raising.
    """

    def __init__(self, layers: Mapping[str, nn.Module], stop: bool = True,
                 swap: Swap | None = None, strict: bool = True,
                 transforms: Mapping[str, Transform] | None = None):
        self.layers, self.stop, self.swap, self.strict = dict(layers), stop, swap, strict
        self.transforms = dict(transforms or {})
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    def _reader(self, name: str) -> Callable[[nn.Module, object, object], None]:
        def read(_m: nn.Module, _i: object, out: object) -> None:
            if name in self.outputs:
                return
            try:
                tensor = first_tensor(out)
            except TypeError:
                if self.strict:
                    raise
                return
            fn = self.transforms.get(name)
            self.outputs[name] = fn(tensor) if fn is not None else tensor
            if self.stop and len(self.outputs) == len(self.layers):
                raise _Stop

        return read

    def _swapper(self, fn: Callable[[torch.Tensor], torch.Tensor]):
        done: list[bool] = []

        def swap(_m: nn.Module, _i: object, out: object) -> torch.Tensor | None:
            if done:
                return None
            done.append(True)
            return fn(first_tensor(out))

        return swap

    def __enter__(self) -> LayerHooks:
        try:
            if self.swap is not None:
                module, fn = self.swap
                self._handles.append(module.register_forward_hook(self._swapper(fn)))
            for name, module in self.layers.items():
                self._handles.append(module.register_forward_hook(self._reader(name)))
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Remove every hook this object registered (idempotent)."""
        while self._handles:
            self._handles.pop().remove()

    def run(self, module: nn.Module, x: torch.Tensor) -> object | None:
        """``module(x)``; None when the forward was stopped after the last wanted layer."""
        try:
            return module(x)
        except _Stop:
            return None


def hooked(model: LoadedModel, names: Sequence[str]
           ) -> tuple[dict[str, nn.Module], dict[str, Transform]]:
    """The modules to hook for unit layers ``names`` (``logits`` is the whole forward's
    output, hooked nowhere) and the transforms of those read through a basis."""
    modules, transforms = {}, {}
    for n in names:
        if n != LOGITS:
            modules[n], fn = model.reader(n)
            if fn is not None:
                transforms[n] = fn
    return modules, transforms


class Probe:
    """Callable returning ``{layer: activation}`` for images in [0, 1]; stops at the deepest."""

    def __init__(self, model: LoadedModel, layers: Sequence[str]):
        self.model = model
        self.names = list(dict.fromkeys(layers))
        self.modules, self.transforms = hooked(model, self.names)

    def __call__(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        with LayerHooks(self.modules, stop=LOGITS not in self.names,
                        transforms=self.transforms) as hooks:
            result = hooks.run(self.model.module, self.model.normalize(images))
        out = hooks.outputs
        if LOGITS in self.names:
            out[LOGITS] = first_tensor(result)
        missing = [n for n in self.names if n not in out]
        if missing:
            raise RuntimeError(f"layers {missing} were not run by {self.model.name}'s forward")
        return {n: out[n] for n in self.names}
