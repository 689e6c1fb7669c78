"""The run-directory contract: every table a stage writes, its columns and their types.

Stages communicate only through these files, so any stage can be re-run, resumed, distributed
or replaced alone. Every table has one writer, the stage that declares it among its outputs.
Media paths are relative to the run directory and use forward slashes.

    runs/NAME/
      manifest.json     config, versions, fingerprints, stage status/timings, skipped inputs
      images.parquet    every image read (one row per image_id)
      topk.parquet      per unit: the top-k and bottom-k images by the unit's spatial reduction
      stats.parquet     per unit: activation statistics over all images (site histograms)
      seeds.parquet     per unit: the seeds chosen for accentuation (diverse or plain top-k)
      accents.parquet   per (unit, seed): accentuation numbers and media paths
      vis.parquet       per unit: noise-seeded feature visualization (contrast)
      labels.parquet    per unit: ImageNet classes the unit's accentuations drive most
      vectors.parquet   per (layer, image): the layer's pooled channel vector on a listed image
      accent_vectors.parquet  per (unit, seed): the pooled vector of its accentuation
      embed.parquet     per unit: its top images and accentuations on its 2-D map, clusters
      layer_map.parquet per layer: a point per unit and per accentuation on one 2-D map
      basis.parquet     per feature of a basis: its strongest channels and nearest features
      where.parquet     per topk row: the unit's activation map on that image, view and peak box
      classes.parquet   per unit: data-set classes over-represented among its top images
      causal.parquet    per unit: model classes whose probability drops most when it is ablated
      connections.parquet  per unit of a later mined layer: its strongest inputs one layer down
      predictions.parquet  per image: the model's top-1 class and confidence, and the truth
      label_map.parquet per data label: the model class it maps to, and how
      class_accents.parquet  per class page and explained failure: accentuation toward a class
      media/            WebP images
"""

from __future__ import annotations

import pandas as pd

from atlas.errors import AtlasError

# column -> dtype kind: "str", "int", "float", "list" (list of numbers or strings)
TABLES: dict[str, dict[str, str]] = {
    "images": {
        "image_id": "str",  # stable: derived from the source and the path / dataset index
        "source": "str",  # "bundled", "folder:<root>", "hf:<name>:<split>"
        "path": "str",  # file path relative to the source root, or "" for datasets
        "index": "int",  # position in the source's deterministic order
        "label": "str",
        "group": "str",  # a coarser class ("" = unknown): CREDITS.csv category, top folder
        "width": "int",
        "height": "int",
        "author": "str",
        "license": "str",
        "credit_url": "str",
    },
    "topk": {
        "layer": "str",
        "unit": "int",
        "kind": "str",  # "top" or "bottom"
        "rank": "int",  # 0 = strongest (top) / weakest (bottom)
        "image_id": "str",
        "activation": "float",
        "argmax_y": "int",  # where the unit fires most, in its feature map
        "argmax_x": "int",
        "map_h": "int",
        "map_w": "int",
    },
    "stats": {
        "layer": "str",
        "unit": "int",
        "count": "int",
        "mean": "float",
        "std": "float",
        "min": "float",
        "max": "float",
        "q01": "float",
        "q10": "float",
        "q50": "float",
        "q90": "float",
        "q99": "float",
        "hist_counts": "list",
        "hist_edges": "list",
        "fire_images": "float",  # share of images on which it is above 0 somewhere
        "fire_positions": "float",  # share of all positions at which it is above 0
    },
    "seeds": {
        "layer": "str",
        "unit": "int",
        "rank": "int",  # order of accentuation, 0 first
        "image_id": "str",
        "cluster": "int",  # manifestation cluster of the unit's top-N it was chosen from
        "activation": "float",
    },
    "accents": {
        "layer": "str",
        "unit": "int",
        "image_id": "str",  # the seed
        "rank": "int",
        "seed_activation": "float",
        "final_activation": "float",
        "gain": "float",
        "latent_distance": "float",  # ||A_l(x)-A_l(x0)|| / ||A_l(x0)|| at reg_layer
        "pixel_rmse": "float",
        "steps": "int",
        "lam": "float",
        "param": "str",
        "reg_layer": "str",
        "seed_media": "str",
        "accent_media": "str",
        "mask_media": "str",  # attribution mask, collectively normalized per unit
        "overlay_media": "str",  # accentuation with the mask as opacity
        "change_media": "str",  # the change seed -> accentuation, amplified ("" if none)
        "change_gain": "float",  # its amplification (mid-grey = unchanged), stated on pages
        "frames_media": "list",  # optional seed-to-accentuation frames
        "trajectory": "list",  # target activation per step
    },
    "vis": {
        "layer": "str",
        "unit": "int",
        "final_activation": "float",
        "vis_media": "str",
    },
    "labels": {
        "layer": "str",
        "unit": "int",
        "rank": "int",
        "class_index": "int",
        "class_name": "str",
        "score": "float",  # mean logit increase from seed to accentuation
    },
    "vectors": {  # the describe stage, at each unit layer, for every image some unit lists
        "layer": "str",
        "image_id": "str",
        "vector": "list",  # the layer's output averaged over positions
    },
    "accent_vectors": {  # the accentuate stage: the same vector of each accentuation
        "layer": "str",
        "unit": "int",
        "rank": "int",
        "image_id": "str",  # its seed
        "vector": "list",
    },
    "embed": {  # per unit: its map (atlas.pipeline.embed)
        "layer": "str",
        "unit": "int",
        "image_id": "str",
        "rank": "int",  # top-N rank for kind=natural, accent rank for kind=accent
        "kind": "str",  # "natural" or "accent"
        "x": "float",
        "y": "float",
        "cluster": "int",  # manifestation cluster (an accentuation: its seed's)
    },
    "layer_map": {  # per layer: every unit and accentuation on one map (embed.layer_map)
        "layer": "str",
        "unit": "int",  # the unit the point belongs to
        "kind": "str",  # "unit" (where its top images place it) or "accent"
        "rank": "int",  # accent rank; -1 for a unit's own point
        "image_id": "str",  # the seed, or the unit's top image (shown on hover)
        "x": "float",
        "y": "float",
    },
    "basis": {  # the basis stage: what each feature of a basis is made of (empty: channels)
        "layer": "str",  # the unit layer LAYER/NAME
        "unit": "int",
        "name": "str",  # a direction's name; "" for a dictionary's features
        "channels": "list",  # the channels its decoder row weighs most (by |weight|)
        "weights": "list",  # those weights, signed
        "nearest": "list",  # the features whose decoder rows point most alike
        "similarity": "list",  # their cosine similarity
    },
    "where": {  # one row per topk row (atlas.pipeline.describe.maps)
        "layer": "str",
        "unit": "int",
        "kind": "str",  # "top" or "bottom"
        "rank": "int",
        "image_id": "str",
        "map": "list",  # map_h * map_w raw activations, row-major, pooled to <= 16 per side
        "map_h": "int",
        "map_w": "int",
        "view": "list",  # [x0, y0, x1, y1] the region the model saw, fractions of the original
        "box": "list",  # [x0, y0, x1, y1] rf_px square at the map's peak, clipped to the view
        "rf_px": "int",  # effective receptive field side, model-input px (3/4 of the gradient)
        "scale": "float",  # the unit's heat scale: median of its top maps' peaks
    },
    "classes": {  # atlas.pipeline.describe.classes
        "layer": "str",
        "unit": "int",
        "rank": "int",  # 0 = smallest p-value within (unit, field)
        "field": "str",  # "label" or "group"
        "name": "str",
        "count": "int",  # top images with it
        "top_n": "int",  # top images considered
        "data_count": "int",  # images in the data with it
        "data_total": "int",
        "p_value": "float",  # hypergeometric upper tail
        "enrichment": "float",  # (count / top_n) / (data_count / data_total)
    },
    "causal": {  # atlas.pipeline.describe.causal
        "layer": "str",
        "unit": "int",
        "rank": "int",
        "class_index": "int",
        "class_name": "str",
        "drop": "float",  # mean probability drop (0-1) over the images, unit set to its mean
        "images": "int",  # top images used
    },
    "connections": {  # atlas.pipeline.connect: drive = act x grad of the unit's objective
        "layer": "str",  # the later layer
        "unit": "int",
        "input_layer": "str",  # the mined layer that runs before it
        "input_unit": "int",
        "rank": "int",  # 0 = largest drive; the most negative has the largest rank
        "drive": "float",  # mean over its top images of sum over positions of act x grad
        "share": "float",  # drive / sum of |drive| over every input unit
        "shortcut": "int",  # 1: the same channel carried by a residual shortcut (same shape)
        "images": "int",  # top images averaged over
    },
    "predictions": {  # atlas.pipeline.decisions.predict: one row per mined image
        "image_id": "str",
        "label": "str",  # the data's label ("" = none)
        "class_index": "int",  # top-1
        "class_name": "str",
        "prob": "float",  # its softmax probability
        "top_index": "list",  # the top-5 classes, best first
        "top_prob": "list",
        "true_index": "int",  # the label's model class; -1: unmapped
        "true_prob": "float",  # its probability (NaN when unmapped)
        "correct": "int",  # 1 right, 0 wrong, -1 unknown (label unmapped)
    },
    "label_map": {  # atlas.pipeline.decisions.labels, written by the predict stage
        "label": "str",
        "images": "int",  # images with the label
        "class_index": "int",  # -1: unmapped
        "class_name": "str",
        "how": "str",  # exact, case, loose, file | ambiguous, unmapped, none
        "candidates": "list",  # ambiguous: the classes it fits
    },
    "class_accents": {  # atlas.pipeline.decisions.accent: toward a class's logit
        "kind": "str",  # "class" (its page), "predicted" / "true" (a failure's pair)
        "class_index": "int",  # the class accentuated toward
        "class_name": "str",
        "image_id": "str",  # the seed photo
        "rank": "int",  # order in the plan (0 first)
        "logit_before": "float",
        "logit_after": "float",
        "prob_before": "float",
        "prob_after": "float",
        "top_after": "str",  # the top-1 class after
        "top_after_prob": "float",
        "latent_distance": "float",
        "pixel_rmse": "float",
        "steps": "int",
        "lam": "float",
        "reg_layer": "str",
        "seed_media": "str",
        "accent_media": "str",
        "mask_media": "str",  # a failure's two masks share one scale
        "overlay_media": "str",
        "change_media": "str",
        "change_gain": "float",
    },
}


def check(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Validate that ``df`` has exactly the columns of ``table`` and return it in column order.

    Catching a missing or misnamed column here, at write time, keeps a broken stage from
    producing a file that only fails much later in another stage.
    """
    if table not in TABLES:
        raise AtlasError(f"unknown table {table!r}; valid: {', '.join(TABLES)}")
    cols = list(TABLES[table])
    missing = [c for c in cols if c not in df.columns]
    extra = [c for c in df.columns if c not in TABLES[table]]
    if missing or extra:
        raise ValueError(f"table {table}: missing columns {missing}, unexpected columns {extra}")
    return df[cols].reset_index(drop=True)


def empty(table: str) -> pd.DataFrame:
    """An empty frame with the columns of ``table``."""
    return pd.DataFrame({c: [] for c in TABLES[table]})
