"""Faithfulness of the connections and the class pages, measured by ablation on a built run.

    python -m benchmarks.connections RUN [--draws 10] [--seed 0] [--units N]

Connections (``connections.parquet``): for each unit of a later mined layer, its 3 strongest
listed inputs (the largest positive drives), each set to its data-set mean at the earlier layer,
should lower the unit's mean activation on its own top images at least 3x as much as 3 random
units of that layer (``--draws`` random sets per unit, their drops averaged). Reported twice:
with the residual channel (the same index, when the layers share a shape) allowed among the 3,
and without it (the 3 strongest other inputs against 3 random other units).

Class pages: for each predicted class and each mined layer, the up to 5 units listed on the
class page (the causal table's largest probability drops for the class), ablated together,
should lower the class's probability on the images predicted as the class at least 3x as much
as as many random units of that layer.

Printed per check: the median over units (classes) of the listed drop and of the random drop,
the ratio of the two medians, the median of the per-unit ratios, and the share of units whose
listed drop is at least 3x their random drop. Activations are in the layer's own units,
probabilities in percentage points.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from atlas.config.tree import build_config
from atlas.data.loader import load_by_id
from atlas.models.hooks import LOGITS, LayerHooks, first_tensor
from atlas.models.maps import as_map
from atlas.models.zoo import LoadedModel
from atlas.pipeline.resolve import model_of, source_of
from atlas.pipeline.rundir import RunDir

Rows = Sequence[tuple[int, Sequence[int]]]  # (image index, channels set to their means)


@torch.inference_mode()
def ablated(model: LoadedModel, layer: str, out: str, images: torch.Tensor, rows: Rows,
            means: torch.Tensor) -> torch.Tensor:
    """``out``'s output (the logits for ``LOGITS``) for each row: its image with ``layer``'s
    listed channels at their means. The prefix runs once per image; rows expand at ``layer``."""
    idx = [i for i, _ in rows]
    if len(idx) == len(images) and idx != list(range(len(images))):
        idx.append(idx[0])

    def swap(a: torch.Tensor) -> torch.Tensor:
        x = a[torch.tensor(idx, device=a.device)].clone()
        for r, (_, chans) in enumerate(rows):
            if chans:
                c = torch.tensor(list(chans), device=x.device)
                x[r, c] = means[c].to(x)[:, None, None].expand(-1, *x.shape[2:])
        return x

    reads = {} if out == LOGITS else {out: model.layer(out)}
    with LayerHooks(reads, stop=out != LOGITS, swap=(model.layer(layer), swap)) as hooks:
        res = hooks.run(model.module, model.normalize(images))
    got = first_tensor(res) if out == LOGITS else hooks.outputs[out]
    return got[:len(rows)].float().cpu()


def _means(stats: pd.DataFrame, layer: str) -> torch.Tensor:
    s = stats[stats["layer"] == layer].sort_values("unit")
    return torch.tensor(s["mean"].to_numpy(), dtype=torch.float32)


def _summary(name: str, listed: list[float], random: list[float]) -> None:
    ratios = [a / b for a, b in zip(listed, random, strict=True) if b > 0]
    ok = sum(a >= 3 * b for a, b in zip(listed, random, strict=True))
    ml, mr = statistics.median(listed), statistics.median(random)
    print(f"{name}: n={len(listed)}  listed drop median {ml:.4g}  random drop median {mr:.4g}  "
          f"ratio of medians {ml / mr if mr > 0 else float('inf'):.2f}  median per-unit ratio "
          f"{statistics.median(ratios) if ratios else float('nan'):.2f}  listed >= 3x random: "
          f"{ok}/{len(listed)}")


def connections(run: RunDir, model: LoadedModel, source, draws: int, rng: np.random.Generator,
                limit: int, reduce: str, top_n: int) -> None:
    conn = run.read_table("connections")
    if conn.empty:
        print("connections: none (one mined layer)")
        return
    topk, stats = run.read_table("topk"), run.read_table("stats")
    for (late, early), rows in conn.groupby(["layer", "input_layer"]):
        means = _means(stats, early)
        n_in = len(means)
        res: dict[str, tuple[list[float], list[float]]] = {"with": ([], []),
                                                           "without": ([], [])}
        units = sorted(rows["unit"].unique())[:limit or None]
        for u in units:
            mine = rows[rows["unit"] == u].sort_values("rank")
            top = topk[(topk["layer"] == late) & (topk["unit"] == u) & (topk["kind"] == "top")
                       & (topk["rank"] < top_n)]
            images = load_by_id(source, list(top["image_id"]), model.input_size)
            shortcut = int(u) if bool(mine["shortcut"].any()) else -1
            pos = mine[mine["drive"] > 0]
            sets = {"with": list(pos["input_unit"][:3]),
                    "without": list(pos[pos["input_unit"] != shortcut]["input_unit"][:3])}
            pool = {"with": list(range(n_in)),
                    "without": [c for c in range(n_in) if c != shortcut]}
            for k in res:
                configs = [sets[k]] + [list(rng.choice(pool[k], 3, replace=False))
                                       for _ in range(draws)]
                drops = _unit_drops(model, early, late, images, int(u), configs, means, reduce)
                res[k][0].append(drops[0])
                res[k][1].append(float(np.mean(drops[1:])))
        for k, (listed, random) in res.items():
            _summary(f"connections {early} -> {late}, 3 strongest inputs, {k} the residual "
                     "channel", listed, random)


def _unit_drops(model: LoadedModel, early: str, late: str, images: torch.Tensor, unit: int,
                configs: list[list[int]], means: torch.Tensor, reduce: str) -> list[float]:
    """Per config: the drop of ``unit``'s mean activation over ``images``."""
    rows = [(i, ()) for i in range(len(images))]
    rows += [(i, tuple(int(c) for c in cfg)) for cfg in configs for i in range(len(images))]
    out = as_map(ablated(model, early, late, images.to(model.device), rows, means))[:, unit]
    act = out.flatten(1).amax(1) if reduce == "max" else out.flatten(1).mean(1)
    act = act.view(len(configs) + 1, len(images)).mean(1)
    return [float(act[0] - a) for a in act[1:]]


def classes(run: RunDir, model: LoadedModel, source, draws: int, rng: np.random.Generator,
            listed_n: int, limit: int) -> None:
    preds, causal = run.read_table("predictions"), run.read_table("causal")
    if preds.empty or causal.empty:
        print("class pages: no predictions or no causal table")
        return
    stats = run.read_table("stats")
    for layer in sorted(causal["layer"].unique()):
        means = _means(stats, layer)
        listed_d, random_d = [], []
        per_class = causal[causal["layer"] == layer]
        order = preds["class_index"].value_counts().index[:limit or None]
        for cls in order:
            drivers = per_class[per_class["class_index"] == cls].sort_values(
                ["drop", "unit"], ascending=[False, True])["unit"].head(listed_n).tolist()
            if not drivers:
                continue
            ids = preds[preds["class_index"] == cls]["image_id"].tolist()
            images = load_by_id(source, ids, model.input_size).to(model.device)
            configs = [drivers] + [list(rng.choice(len(means), len(drivers), replace=False))
                                   for _ in range(draws)]
            rows = [(i, ()) for i in range(len(ids))]
            rows += [(i, tuple(int(c) for c in cfg)) for cfg in configs for i in range(len(ids))]
            p = ablated(model, layer, LOGITS, images, rows, means).softmax(-1)[:, int(cls)]
            p = p.view(len(configs) + 1, len(ids)).mean(1)
            drops = [float(p[0] - x) * 100 for x in p[1:]]
            listed_d.append(drops[0])
            random_d.append(float(np.mean(drops[1:])))
        if listed_d:
            _summary(f"class pages, {layer}, up to {listed_n} listed units (pts)", listed_d,
                     random_d)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", help="a built run directory (the default atlas: runs/demo)")
    ap.add_argument("--draws", type=int, default=10, help="random sets per unit or class")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--units", type=int, default=0, help="at most this many units (0: all)")
    ap.add_argument("--classes", type=int, default=0,
                    help="at most this many classes, the most predicted (0: all)")
    args = ap.parse_args()
    run = RunDir(args.run)
    m = json.loads(Path(run.manifest_path).read_text())
    conf = m["config"]
    cfg = build_config(model__name=conf["model"]["name"], model__weights=conf["model"]["weights"],
                       data__images=conf["data"]["images"], data__limit=conf["data"]["limit"],
                       device="cpu")
    model, source = model_of(cfg), source_of(cfg)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    print(f"run {args.run}: {conf['model']['name']}, layers {conf['mine']['layers']}, "
          f"{args.draws} random draws, seed {args.seed}")
    connections(run, model, source, args.draws, rng, args.units, conf["mine"]["reduce"],
                conf.get("connect", {}).get("top_n", 16))
    classes(run, model, source, args.draws, rng, 5, args.classes)


if __name__ == "__main__":
    main()
