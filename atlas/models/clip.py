"""The CLIP family's vision towers: ``open_clip:ARCH[:PRETRAINED]`` and ``hf:MODEL_ID``.

The models vision SAEs are trained on (CLIP, SigLIP, DINOv2) come through ``open_clip`` and
Hugging Face ``transformers``, both optional extras (``pip install 'atlas-accent[clip]'``). Only
the vision tower is loaded (a CLIP's text tower plays no part in what a unit sees); its output,
the image embedding (or a classifier's logits), is the model's ``logits``. Layers are module
paths (``transformer.resblocks.6``, ``vision_model.encoder.layers.6``); their token outputs are
read as maps on the patch grid like a ViT's (:mod:`atlas.models.maps`). ``hf:`` takes a hub id or
a local folder written by ``save_pretrained``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from atlas.errors import AtlasError, unknown
from atlas.models.hub import hub_fetch
from atlas.models.weights import load_state

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)  # OpenAI CLIP's preprocessing
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# composite (vision + text) configs -> the class of their vision tower alone
VISION_TOWER = {"clip": "CLIPVisionModelWithProjection", "siglip": "SiglipVisionModel",
                "siglip2": "Siglip2VisionModel"}
Loaded = tuple[nn.Module, int, tuple[float, ...], tuple[float, ...], list[str] | None]


def _need(module: str, extra: str = "clip") -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise AtlasError(f"this model needs the Python package {module!r}: pip install "
                         f"'atlas-accent[{extra}]'") from None


def _side(size: Any) -> int:
    return int(size[-1] if isinstance(size, (tuple, list)) else size)


def open_clip_tower(spec: str, weights: str) -> Loaded:
    """``ARCH[:PRETRAINED]``: the vision tower of an open_clip model."""
    open_clip = _need("open_clip")
    arch, _, tag = spec.partition(":")
    if arch not in open_clip.list_models():
        raise unknown("open_clip model", arch, open_clip.list_models())
    pretrained = None
    if weights == "default":
        tags = open_clip.list_pretrained_tags_by_model(arch)
        pretrained = tag or (tags[0] if tags else None)
        if pretrained is None:
            raise AtlasError(f"open_clip model {arch!r} has no pretrained weights; pass "
                             f"--weights FILE or --weights none")
        if pretrained not in tags:
            raise unknown(f"pretrained tag of open_clip:{arch}", pretrained, tags)
    model = hub_fetch(f"open_clip:{arch} weights {pretrained!r}",
                      lambda: open_clip.create_model(arch, pretrained=pretrained))
    visual = model.visual
    if weights not in ("default", "none"):
        _load_tower(visual, model, weights, f"open_clip:{arch}")
    cfg = getattr(visual, "preprocess_cfg", None) or {}
    mean = tuple(cfg.get("mean") or getattr(visual, "image_mean", None) or CLIP_MEAN)
    std = tuple(cfg.get("std") or getattr(visual, "image_std", None) or CLIP_STD)
    return visual.eval(), _side(visual.image_size), mean, std, None


def _load_tower(visual: nn.Module, whole: nn.Module, path: str, arch: str) -> None:
    """A state_dict of the tower, or of the whole CLIP model (its ``visual.`` part taken)."""
    from atlas.models.weights import read_state

    keys = read_state(path)
    if any(k.startswith("visual.") for k in keys):
        load_state(whole, path, arch)
    else:
        load_state(visual, path, arch)


def _hf_class(transformers: Any, config: Any) -> Any:
    """The transformers class that builds ``config``'s vision model."""
    tower = VISION_TOWER.get(getattr(config, "model_type", ""))
    if tower and hasattr(transformers, tower):
        return getattr(transformers, tower)
    for arch in getattr(config, "architectures", None) or []:
        cls = getattr(transformers, arch, None)
        if cls is not None and "Text" not in arch:
            return cls
    if hasattr(config, "vision_config"):
        raise AtlasError(f"hf model of type {config.model_type!r} has a vision and a text part; "
                         f"atlas knows the vision towers of {', '.join(VISION_TOWER)}")
    return transformers.AutoModel


def _hf_preprocessing(transformers: Any, model_id: str, config: Any
                      ) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    """Input side, mean and std from the model's image processor, else from its config."""
    cfg = getattr(config, "vision_config", config)
    side = int(getattr(cfg, "image_size", 224) or 224)
    siglip = "siglip" in getattr(config, "model_type", "")
    mean, std = ((0.5,) * 3, (0.5,) * 3) if siglip else (
        (CLIP_MEAN, CLIP_STD) if "clip" in getattr(config, "model_type", "")
        else (IMAGENET_MEAN, IMAGENET_STD))
    try:
        proc = transformers.AutoImageProcessor.from_pretrained(model_id)
    except Exception:  # no preprocessor_config.json: the config's defaults
        return _side(side), mean, std
    crop = getattr(proc, "crop_size", None) or getattr(proc, "size", None) or {}
    get = crop.get if hasattr(crop, "get") else (lambda k: getattr(crop, k, None))
    side = get("height") or get("shortest_edge") or side
    return (_side(side), tuple(getattr(proc, "image_mean", None) or mean),
            tuple(getattr(proc, "image_std", None) or std))


def hf_vision(model_id: str, weights: str) -> Loaded:
    """A transformers vision model (or a CLIP-style model's vision tower) by hub id or folder."""
    transformers = _need("transformers")
    local = Path(model_id).expanduser()
    where = str(local) if local.is_dir() else model_id

    def config():
        return transformers.AutoConfig.from_pretrained(where)

    cfg = config() if local.is_dir() else hub_fetch(f"hf:{model_id} config", config)
    cls = _hf_class(transformers, cfg)
    if weights == "default":
        module = hub_fetch(f"hf:{model_id} weights", lambda: cls.from_pretrained(where))
    else:
        want = getattr(cls, "config_class", None)
        sub = cfg if want is None or isinstance(cfg, want) else getattr(cfg, "vision_config", cfg)
        module = cls.from_config(sub) if want is None else cls._from_config(sub)
        if weights != "none":
            load_state(module, weights, f"hf:{model_id}")
    side, mean, std = _hf_preprocessing(transformers, where, cfg)
    labels = getattr(module.config, "id2label", None) or {}
    names = [labels[i] for i in sorted(labels)] if "ForImageClassification" in \
        type(module).__name__ else None
    return module.eval(), side, mean, std, names
