"""``atlas explain``: what did the model see in this photo? (the paper's misclassification use)

The photo is accentuated twice, once toward the predicted class's logit and once toward a
chosen class (the true class of a misclassified photo, or by default the runner-up), with the
same regularizer that keeps accentuations close to the seed. Side by side they show which
parts of the photo the model reads as evidence for each class. Logits and probabilities before
and after say how far each accentuation moved the decision.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from atlas.accent.decision import (
    accentuate_classes,
    class_config,
    class_entry,
    class_logits,
    resolve_class,
)
from atlas.accent.loop import to_input
from atlas.config.accent import AccentConfig
from atlas.config.resolved import Resolved
from atlas.data.decode import ImageInput, read_photo
from atlas.data.media import sheet, to_pil
from atlas.errors import AtlasError
from atlas.io.files import atomic_write_json, atomic_write_with
from atlas.models.zoo import LoadedModel
from atlas.names import readable, slug

PANEL = 224


def load_photo(photo: ImageInput | torch.Tensor, size: int) -> torch.Tensor:
    """(3, size, size) in [0, 1] from a path or a tensor already in [0, 1]."""
    if isinstance(photo, torch.Tensor):
        return to_input(photo.unsqueeze(0) if photo.dim() == 3 else photo, size)[0]
    return read_photo(photo, size)


def explain(model: LoadedModel, photo: ImageInput | torch.Tensor, class_name: str | None,
            accent: AccentConfig, resolved: Resolved, out: str | Path | None = None) -> dict:
    """Accentuate ``photo`` toward its predicted class and toward ``class_name`` (default: the
    runner-up); with ``out`` write ``explain-<photo>-<index>-<class>.png`` (side by side) and
    ``.json`` there, one pair per class.
    ``resolved``: the settings resolved for the logits as target."""
    names = model.class_names
    if not names:
        raise AtlasError(f"explain needs a classifier with class names; {model.name} has none")
    cfg = class_config(accent)
    x = load_photo(photo, cfg.canvas)
    before = class_logits(model, x[None])[0]
    pred = int(before.argmax())
    chosen = resolve_class(names, class_name) if class_name else int(before.topk(2).indices[1])
    acc = accentuate_classes(model, x[None].repeat(2, 1, 1, 1), [pred, chosen], cfg,
                             reg_layer=resolved.reg_layer, view_px=resolved.view_px)
    res, after = acc.result, acc.after
    result = {"photo": str(photo) if not isinstance(photo, torch.Tensor) else "",
              "predicted": class_entry(names, pred, before, after[0]),
              "chosen": class_entry(names, chosen, before, after[1]),
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
