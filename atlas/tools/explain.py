"""``atlas explain``: what did the model see in this photo? (the paper's misclassification use)

The photo is accentuated twice, once toward the predicted class's logit and once toward a
chosen class (the true class of a misclassified photo, or by default the runner-up), with the
same regularizer that keeps accentuations close to the seed. Side by side they show which
parts of the photo the model reads as evidence for each class. Logits and probabilities before
and after say how far each accentuation moved the decision.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image

from atlas.accent.loop import accentuate, to_input
from atlas.accent.objectives import Target
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.decode import ImageInput, read_photo
from atlas.data.media import sheet, to_pil
from atlas.errors import AtlasError, unknown
from atlas.io.files import atomic_write_json, atomic_write_with
from atlas.models.hooks import LOGITS, Probe
from atlas.models.zoo import LoadedModel
from atlas.names import readable, slug

PANEL = 224


def resolve_class(names: list[str], text: str) -> int:
    """A class index from its name (exact, then case-insensitive) or its number."""
    if text in names:
        return names.index(text)
    lower = [n.lower() for n in names]
    if text.strip().lower() in lower:
        return lower.index(text.strip().lower())
    if text.strip().isdigit() and int(text) < len(names):
        return int(text)
    raise unknown("class", text, names)


def load_photo(photo: ImageInput | torch.Tensor, size: int) -> torch.Tensor:
    """(3, size, size) in [0, 1] from a path or a tensor already in [0, 1]."""
    if isinstance(photo, torch.Tensor):
        return to_input(photo.unsqueeze(0) if photo.dim() == 3 else photo, size)[0]
    return read_photo(photo, size)


@torch.no_grad()
def _logits(model: LoadedModel, x: torch.Tensor) -> torch.Tensor:
    return Probe(model, [LOGITS])(to_input(x, model.input_size).to(model.device))[LOGITS].cpu()


def _entry(names: list[str], cls: int, before: torch.Tensor, after: torch.Tensor) -> dict:
    pb, pa = before.softmax(-1), after.softmax(-1)
    return {"index": cls, "name": names[cls], "logit_before": float(before[cls]),
            "logit_after": float(after[cls]), "prob_before": float(pb[cls]),
            "prob_after": float(pa[cls]), "top_after": names[int(after.argmax())],
            "top_after_prob": float(pa.max())}


def explain(model: LoadedModel, photo: ImageInput | torch.Tensor, class_name: str | None,
            accent: AccentConfig, resolved: Resolved, out: str | Path | None = None) -> dict:
    """Accentuate ``photo`` toward its predicted class and toward ``class_name`` (default: the
    runner-up); with ``out`` write ``explain-<photo>-<index>-<class>.png`` (side by side) and
    ``.json`` there, one pair per class.
    ``resolved``: the settings resolved for the logits as target."""
    names = model.class_names
    if not names:
        raise AtlasError(f"explain needs a classifier with class names; {model.name} has none")
    cfg = replace(accent, target="mean", frames=0)
    x = load_photo(photo, cfg.canvas)
    before = _logits(model, x[None])[0]
    pred = int(before.argmax())
    chosen = resolve_class(names, class_name) if class_name else int(before.topk(2).indices[1])
    pair = Target(LOGITS, torch.tensor([pred, chosen]))
    res = accentuate(model, x[None].repeat(2, 1, 1, 1), pair, cfg, reg_layer=resolved.reg_layer,
                     view_px=resolved.view_px)
    after = _logits(model, res.images)
    result = {"photo": str(photo) if not isinstance(photo, torch.Tensor) else "",
              "predicted": _entry(names, pred, before, after[0]),
              "chosen": _entry(names, chosen, before, after[1]),
              "chosen_is_default": not class_name, "lam": cfg.lam, "steps": cfg.steps,
              "reg_layer": resolved.reg_layer, "latent_distance": res.latent_distance.tolist(),
              "images": res.images}
    if out is not None:
        stem = Path(photo).stem if isinstance(photo, (str, Path)) else "photo"
        # one file per class: its index too, since class names repeat (ImageNet's two cranes)
        base = Path(out) / f"explain-{slug(stem)}-{chosen}-{readable(names[chosen], 40)}"
        picture = side_by_side(x, res.images, result)
        atomic_write_with(base.with_suffix(".png"), lambda b: picture.save(b, "PNG"))
        atomic_write_json(base.with_suffix(".json"),
                          {k: v for k, v in result.items() if k != "images"})
        result["png"] = str(base.with_suffix(".png"))
    return result


def _short(text: str, n: int = 30) -> str:
    return text if len(text) <= n else text[: n - 1] + "~"


def side_by_side(photo: torch.Tensor, images: torch.Tensor, r: dict) -> Image.Image:
    """Photo | accentuation toward the prediction | toward the chosen class, with captions."""
    p, c = r["predicted"], r["chosen"]
    captions = [
        ["photo", f"predicted: {_short(p['name'])}", f"  logit {p['logit_before']:.2f}, "
         f"p {p['prob_before']:.3f}", f"{_short(c['name'])}: p {c['prob_before']:.3f}"],
    ]
    for e, what in ((p, "predicted"), (c, "chosen")):
        captions.append([f"toward {what}: {_short(e['name'])}",
                         f"logit {e['logit_before']:.2f} -> {e['logit_after']:.2f}",
                         f"p {e['prob_before']:.3f} -> {e['prob_after']:.3f}",
                         f"top-1 after: {_short(e['top_after'], 22)}"])
    tiles = [photo, images[0], images[1]]
    return sheet([to_pil(to_input(tile[None].float(), PANEL)[0]) for tile in tiles], captions,
                 dark=False)
