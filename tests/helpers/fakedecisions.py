"""The decision tables of a fake run (:mod:`tests.helpers.fakerun` writes them with the rest):
connections, predictions, label_map and class_accents, with real WebP media, for site tests
without a model.

The fake run has layers ``_blocks.4`` and ``_blocks.10`` with units 0..N-1 each; here every unit
u of the second layer takes input from the first layer's units u (the shortcut, strongest), u+1
(positive) and u+2 (negative); a run of one layer has no connections. Image i predicts class
100 + i % 4 of ``CLASS_NAMES`` (indices the fake causal table uses); four of fakerun's labels
map to a class; the most confident wrong prediction is explained by a pair of accentuations,
and class 100 has its own accentuation. ``payload=True`` puts script strings into class names and
labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from atlas.pipeline.rundir import RunDir
from tests.helpers.fakemedia import PAYLOADS, accent_media

CLASS_NAMES = {100: "tench", 101: "lighthouse", 102: "screwdriver", 103: "agama"}
PAYLOAD_CLASS = 103  # its name becomes a payload with payload=True


def _names(payload: bool) -> dict[int, str]:
    return {**CLASS_NAMES, PAYLOAD_CLASS: PAYLOADS[0]} if payload else dict(CLASS_NAMES)


def _predictions(images: list[dict], names: dict[int, str], truth: dict[str, int]
                 ) -> list[dict]:
    rows = []
    for i, r in enumerate(pd.DataFrame(images).itertuples()):
        cls = 100 + i % 4
        prob = round(0.95 - 0.04 * i, 4)
        true = truth.get(r.label, -1)
        rows.append({"image_id": r.image_id, "label": r.label, "class_index": cls,
                     "class_name": names[cls], "prob": prob,
                     "top_index": [cls, 100 + (i + 1) % 4], "top_prob": [prob, 0.02],
                     "true_index": true, "true_prob": 0.03 if true >= 0 and true != cls
                     else (prob if true >= 0 else float("nan")),
                     "correct": -1 if true < 0 else int(true == cls)})
    return rows


def _connections(layers: list[str], units: int) -> list[dict]:
    if len(layers) < 2:
        return []
    rows = []
    for u in range(units):
        for rank, (c, drive, short) in enumerate(((u, 2.0, 1), ((u + 1) % units, 0.5, 0),
                                                  ((u + 2) % units, -0.3, 0))):
            rows.append({"layer": layers[1], "unit": u, "input_layer": layers[0],
                         "input_unit": c, "rank": rank, "drive": drive, "share": drive / 2.8,
                         "shortcut": short, "images": 6})
    return rows


def _accent_row(run: RunDir, kind: str, cls: int, name: str, image_id: str, rank: int,
                hue: float) -> dict:
    media = accent_media(run, 0, f"media/classes/{cls}/{kind}-{rank}", image_id, hue, 3)
    media.pop("frames_media")
    return {"kind": kind, "class_index": cls, "class_name": name, "image_id": image_id,
            "rank": rank, "logit_before": 3.0, "logit_after": 9.5, "prob_before": 0.41,
            "prob_after": 0.97, "top_after": name, "top_after_prob": 0.97,
            "latent_distance": 0.45, "pixel_rmse": 0.06, "steps": 30, "lam": 0.3,
            "reg_layer": "_blocks.8", **media, "change_gain": 4.0}


def decision_rows(run: RunDir, images: list[dict], layers: list[str], units: int,
                  payload: bool, random_weights: bool) -> dict[str, list[dict]]:
    """The rows of the four decision tables for a fake run with these ``images`` rows; random
    weights give no predictions and no class accentuations, as the predict stage."""
    names = _names(payload)
    labels = sorted({r["label"] for r in images})
    truth = {labels[0]: 100, labels[1]: 101, labels[2]: 102, labels[3]: 100}
    counts = pd.Series([r["label"] for r in images]).value_counts()
    label_map = [{"label": lab, "images": int(counts[lab]), "class_index": truth.get(lab, -1),
                  "class_name": names[truth[lab]] if lab in truth else "",
                  "how": ["exact", "loose", "case", "file"][labels.index(lab)] if lab in truth
                  else "none", "candidates": []} for lab in labels]
    out = {"connections": _connections(layers, units), "label_map": label_map, "predictions": [],
           "class_accents": []}
    if random_weights:
        return out
    preds = _predictions(images, names, truth)
    wrong = sorted((p for p in preds if p["correct"] == 0), key=lambda p: -p["prob"])
    first = wrong[0]
    out["predictions"] = preds
    out["class_accents"] = [
        _accent_row(run, "predicted", first["class_index"], names[first["class_index"]],
                    first["image_id"], 0, 0.1),
        _accent_row(run, "true", first["true_index"], names[first["true_index"]],
                    first["image_id"], 1, 0.6),
        _accent_row(run, "class", 100, names[100], preds[0]["image_id"], 2, 0.3)]
    return out


def fake_decisions(root: Path) -> dict[str, object]:
    """What the decision tables of the fake run at ``root`` hold, as the tests check it: the
    predictions, the wrong ones (most confident first), the class names and the predicted
    classes."""
    run = RunDir(root)
    preds = run.read_table("predictions")
    wrong = preds[preds["correct"] == 0].sort_values("prob", ascending=False)
    return {"wrong": wrong, "preds": preds,
            "names": dict(zip(preds["class_index"], preds["class_name"], strict=True)),
            "classes": sorted(np.unique(preds["class_index"]).tolist())}
