"""Models saved as programs: ``torch.export`` files (``.pt2``) and TorchScript files.

An exported program (``torch.export.save``) is a flat graph; ``torch.export.unflatten`` rebuilds
the module tree it was exported from as submodules that run their part of the graph, so forward
hooks on them read inner layers as on the original model. The program's input shape is fixed
where it was not exported as dynamic: a fixed batch cannot take atlas's batches (one line says
how to export it), a fixed image side becomes the model's input size.

TorchScript compiles each module's forward into its own graph and refuses Python forward hooks,
so inner layers of a TorchScript file cannot be read: only its output (``logits``) is listed,
and asking for any other layer says so in one line, with what to use instead.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import torch
from torch import nn

from atlas.errors import AtlasError

SCRIPT_HIDES = ("TorchScript hides the inner layers of {path} (a compiled forward takes no "
                "hooks); only 'logits', its output, can be read: to read inner layers, export "
                "the model with torch.export.save (a .pt2 file), or give atlas the nn.Module "
                "(a state_dict with --model ARCH --weights FILE, or atlas.Atlas(module, ...) in "
                "Python)")


class ScriptOutput(nn.Module):
    """A TorchScript module behind a plain module, so atlas lists no layer it cannot hook."""

    def __init__(self, script: torch.jit.ScriptModule):
        super().__init__()
        object.__setattr__(self, "script", script)  # not a child: its layers are not ours

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.script(x)

    def _apply(self, fn, recurse: bool = True):  # .to(), .double(): the script's tensors
        self.script._apply(fn)
        return self

    def train(self, mode: bool = True) -> ScriptOutput:
        self.script.train(mode)
        return super().train(mode)

    def parameters(self, recurse: bool = True):
        return self.script.parameters(recurse)

    def named_parameters(self, *args, **kwargs):
        return self.script.named_parameters(*args, **kwargs)

    def state_dict(self, *args, **kwargs):
        return self.script.state_dict(*args, **kwargs)

    def __deepcopy__(self, memo: dict) -> ScriptOutput:
        import copy

        return ScriptOutput(copy.deepcopy(self.script, memo))


def load_torchscript(path: Path) -> tuple[nn.Module, str]:
    """The file's model and the note for layers it hides."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice
        try:
            script = torch.jit.load(str(path), map_location="cpu")
        except RuntimeError as e:  # not a TorchScript archive (a state_dict, another format)
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise AtlasError(f"model {str(path)!r} is not a TorchScript file (torch.jit.save): "
                             f"{first}; a state_dict goes in model.weights, beside its "
                             f"architecture's name in model.name") from None
    return ScriptOutput(script.eval()), SCRIPT_HIDES.format(path=path)


def _input_shape(program: torch.export.ExportedProgram) -> list[int | None]:
    """The first user input's shape: ints where fixed, None where dynamic."""
    user = program.graph_signature.user_inputs
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user:
            val = node.meta.get("val")
            if val is None:
                break
            return [d if isinstance(d, int) else None for d in val.shape]
    return [None, 3, None, None]


def load_exported(path: Path, input_size: int | None) -> tuple[nn.Module, int]:
    """An exported program's module tree (hookable), and its input side."""
    try:
        program = torch.export.load(str(path))
    except Exception as e:
        first = (str(e).strip().splitlines() or [""])[0][:200]
        raise AtlasError(f"model file {path} could not be read as a torch.export program "
                         f"({type(e).__name__}: {first})") from None
    shape = _input_shape(program)
    if len(shape) != 4:
        raise AtlasError(f"exported model {path} takes an input of shape {shape}; atlas feeds "
                         f"images as (batch, 3, height, width)")
    if shape[0] is not None:
        raise AtlasError(
            f"exported model {path} was exported for a fixed batch of {shape[0]}; atlas feeds "
            f"batches of images: export it with a dynamic batch, e.g. torch.export.export("
            f"model, (x,), dynamic_shapes=({{0: torch.export.Dim('batch')}},))")
    side = shape[3] or shape[2]
    if side is not None and input_size and input_size != side:
        raise AtlasError(f"exported model {path} takes {side}x{side} images only, not "
                         f"model.input_size = {input_size}; leave it 0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = torch.export.unflatten(program)
    return module, int(side or input_size or 224)
