"""The ``predict`` stage: every mined image's top-1 class and confidence, and its data label
mapped to a model class (:mod:`atlas.pipeline.decisions.labels`), so the site can give each
predicted class a page and list the confident mistakes.

One forward to the logits per mined image, at the size mining read it. A model whose classes
mean nothing (no class head, no class names, random weights) gets empty tables and the reason
in the manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from atlas.data.loader import make_loader
from atlas.models.hooks import LOGITS, Probe
from atlas.models.synonyms import class_synonyms
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.decisions.labels import UNMAPPED, LabelMatch, match_labels, read_label_map
from atlas.pipeline.describe.causal import class_head
from atlas.pipeline.stage import Context, Stage

TOP = 5  # classes kept per image


def skip_reason(model: LoadedModel) -> str:
    """Why there are no predictions ("" when there are)."""
    if not model.class_names:
        return "the model has no class names"
    if model.weights == "none":
        return "random weights (model.weights = none): its classes mean nothing"
    if class_head(model) != len(model.class_names):
        return "the model's output is not a (batch, classes) head of its class names"
    return ""


def _file_key(path: str) -> str:
    """The mapping file's content hash: an edited file maps again."""
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if path and p.is_file() else ""


def _settings(ctx: Context) -> list:
    model, _, _ = ctx.inputs()
    c = ctx.cfg.classes
    return [c.match, c.label_map, _file_key(c.label_map), model.weights]


def label_frame(matches: dict[str, LabelMatch], images: pd.DataFrame,
                names: list[str]) -> pd.DataFrame:
    """``label_map`` rows: every distinct label, its image count and its class (or why not)."""
    counts = images["label"].fillna("").astype(str).value_counts()
    rows = [{"label": m.label, "images": int(counts.get(m.label, 0)),
             "class_index": m.class_index,
             "class_name": names[m.class_index] if m.class_index != UNMAPPED else "",
             "how": m.how, "candidates": [names[i] for i in m.candidates]}
            for m in matches.values()]
    frame = pd.DataFrame(rows, columns=list(schema.TABLES["label_map"]))
    return frame.sort_values(["images", "label"], ascending=[False, True]) if len(frame) else frame


def _logits(ctx: Context, images: pd.DataFrame) -> dict[str, torch.Tensor]:
    """Each mined image's softmax probabilities, by image id."""
    model, source, resolved = ctx.inputs()
    probe = Probe(model, [LOGITS])
    ids = [r.image_id for r in source.records]
    positions = sorted(int(i) for i in images["index"])
    loader = make_loader(source, model.input_size, ctx.cfg.mine.batch_size, resolved.workers,
                         positions)
    out: dict[str, torch.Tensor] = {}
    bar = tqdm(total=len(positions), unit="img", disable=not ctx.bar, desc="predict",
               dynamic_ncols=True)
    for batch in loader:
        if len(batch.positions):
            with torch.inference_mode():
                p = probe(batch.images.to(model.device))[LOGITS].float().softmax(-1).cpu()
            out.update(zip((ids[i] for i in batch.positions), p, strict=True))
        bar.update(len(batch.positions) + len(batch.skipped))
    bar.close()
    return out


def prediction_frame(probs: dict[str, torch.Tensor], images: pd.DataFrame, names: list[str],
                     truth: dict[str, int]) -> pd.DataFrame:
    """``predictions`` rows in image order: top-1 and top-5, and the mapped truth."""
    rows = []
    for r in images.itertuples():
        p = probs.get(r.image_id)
        if p is None:
            continue
        vals, idx = p.topk(min(TOP, len(p)))
        label = "" if pd.isna(r.label) else str(r.label)
        true = truth.get(label, UNMAPPED)
        rows.append({"image_id": r.image_id, "label": label, "class_index": int(idx[0]),
                     "class_name": names[int(idx[0])], "prob": float(vals[0]),
                     "top_index": [int(i) for i in idx], "top_prob": [float(v) for v in vals],
                     "true_index": true,
                     "true_prob": float(p[true]) if true != UNMAPPED else float("nan"),
                     "correct": -1 if true == UNMAPPED else int(true == int(idx[0]))})
    frame = pd.DataFrame(rows, columns=list(schema.TABLES["predictions"]))
    for c in ("class_index", "true_index", "correct"):
        frame[c] = frame[c].astype(np.int64)
    return frame


def _compute(ctx: Context, key: str) -> dict:
    run, c = ctx.run, ctx.cfg.classes
    model, _, _ = ctx.inputs()
    reason = skip_reason(model)
    if reason:
        run.write_table("predictions", schema.empty("predictions"))
        run.write_table("label_map", schema.empty("label_map"))
        return {"predictions": 0, "reason": reason}
    names = list(model.class_names or [])
    images = run.read_table("images")
    mapping = read_label_map(c.label_map, names) if c.label_map else None
    labels = images["label"].fillna("").astype(str)
    matches = match_labels(labels, names, class_synonyms(names), c.match, mapping)
    truth = {m.label: m.class_index for m in matches.values()}
    preds = prediction_frame(_logits(ctx, images), images, names, truth)
    run.write_table("predictions", preds)
    run.write_table("label_map", label_frame(matches, images, names))
    mapped = preds["true_index"] != UNMAPPED
    return {"predictions": len(preds), "classes": int(preds["class_index"].nunique()),
            "labelled": int((labels != "").sum()), "mapped": int(mapped.sum()),
            "wrong": int((preds["correct"] == 0).sum())}


PREDICT = Stage("predict", inputs=("mine",), outputs=("predictions", "label_map"),
                settings=_settings, compute=_compute)
