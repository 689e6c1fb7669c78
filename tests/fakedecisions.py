"""The decision tables of a fake run (:mod:`fakerun`): connections, predictions, label_map and
class_accents, with real WebP media, for site tests without a model.

The fake run has layers ``_blocks.4`` and ``_blocks.10`` with units 0..N-1 each; here every
``_blocks.10`` unit u takes input from ``_blocks.4`` units u (the shortcut, strongest), u+1
(positive) and u+2 (negative). Images i predict class ``CLASSES[i % 4]`` (indices 100..103, the
indices the fake causal table uses); the labels are fakerun's, four of which map to a class;
two of those are wrong, the most confident of them explained by a pair of accentuations, and
class 100 has its own accentuation. ``payload=True`` puts script strings into class names and
labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from fakerun import PAYLOADS, _accent_media

from atlas.io.files import atomic_write_json
from atlas.pipeline.rundir import RunDir

CLASS_NAMES = {100: "tench", 101: "lighthouse", 102: "screwdriver", 103: "agama"}
PAYLOAD_CLASS = 103  # its name becomes a payload with payload=True


def _names(payload: bool) -> dict[int, str]:
    return {**CLASS_NAMES, PAYLOAD_CLASS: PAYLOADS[0]} if payload else dict(CLASS_NAMES)


def _predictions(images: pd.DataFrame, names: dict[int, str], truth: dict[str, int]
                 ) -> pd.DataFrame:
    rows = []
    for i, r in enumerate(images.itertuples()):
        cls = 100 + i % 4
        prob = round(0.95 - 0.04 * i, 4)
        true = truth.get(r.label, -1)
        rows.append({"image_id": r.image_id, "label": r.label, "class_index": cls,
                     "class_name": names[cls], "prob": prob,
                     "top_index": [cls, 100 + (i + 1) % 4], "top_prob": [prob, 0.02],
                     "true_index": true, "true_prob": 0.03 if true >= 0 and true != cls
                     else (prob if true >= 0 else float("nan")),
                     "correct": -1 if true < 0 else int(true == cls)})
    return pd.DataFrame(rows)


def _connections(units: int) -> pd.DataFrame:
    rows = []
    for u in range(units):
        for rank, (c, drive, short) in enumerate(((u, 2.0, 1), ((u + 1) % units, 0.5, 0),
                                                  ((u + 2) % units, -0.3, 0))):
            rows.append({"layer": "_blocks.10", "unit": u, "input_layer": "_blocks.4",
                         "input_unit": c, "rank": rank, "drive": drive, "share": drive / 2.8,
                         "shortcut": short, "images": 6})
    return pd.DataFrame(rows)


def _accent_row(run: RunDir, kind: str, cls: int, name: str, image_id: str, rank: int,
                hue: float) -> dict:
    media = _accent_media(run, _Cfg(), f"media/classes/{cls}/{kind}-{rank}", image_id, hue, 3)
    media.pop("frames_media")
    return {"kind": kind, "class_index": cls, "class_name": name, "image_id": image_id,
            "rank": rank, "logit_before": 3.0, "logit_after": 9.5, "prob_before": 0.41,
            "prob_after": 0.97, "top_after": name, "top_after_prob": 0.97,
            "latent_distance": 0.45, "pixel_rmse": 0.06, "steps": 30, "lam": 0.3,
            "reg_layer": "_blocks.8", **media, "change_gain": 4.0}


class _Cfg:
    frames = 0  # _accent_media's animation: none


def add_decisions(root: Path, units: int = 3, payload: bool = False,
                  connections: bool = True) -> dict[str, object]:
    """Write the decision tables into the fake run at ``root``; return what they hold."""
    run = RunDir(root)
    images = run.read_table("images")
    names = _names(payload)
    labels = sorted(set(images["label"]))
    truth = {labels[0]: 100, labels[1]: 101, labels[2]: 102, labels[3]: 100}
    preds = _predictions(images, names, truth)
    run.write_table("predictions", preds)
    counts = images["label"].value_counts()
    run.write_table("label_map", pd.DataFrame([
        {"label": lab, "images": int(counts[lab]), "class_index": truth.get(lab, -1),
         "class_name": names[truth[lab]] if lab in truth else "",
         "how": ["exact", "loose", "case", "file"][labels.index(lab)] if lab in truth
         else "none", "candidates": []} for lab in labels]))
    if connections:
        run.write_table("connections", _connections(units))
    wrong = preds[preds["correct"] == 0].sort_values("prob", ascending=False)
    first = wrong.iloc[0]
    rows = [_accent_row(run, "predicted", int(first.class_index), names[int(first.class_index)],
                        first.image_id, 0, 0.1),
            _accent_row(run, "true", int(first.true_index), names[int(first.true_index)],
                        first.image_id, 1, 0.6),
            _accent_row(run, "class", 100, names[100], preds.iloc[0].image_id, 2, 0.3)]
    run.write_table("class_accents", pd.DataFrame(rows))
    m = run.manifest()
    m["config"]["classes"] = {"match": "loose", "label_map": "", "accents": 1, "failures": 1}
    m["stages"].update({s: {"status": "done", "seconds": 1.0}
                        for s in ("predict", "connect", "class-accentuate")})
    atomic_write_json(run.manifest_path, m)
    return {"wrong": wrong, "preds": preds, "names": names, "truth": truth,
            "classes": sorted(np.unique(preds["class_index"]).tolist())}
