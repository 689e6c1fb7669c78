"""Mining: one streaming pass over an image source keeping, per unit, its top and bottom images.

The pass (:mod:`atlas.pipeline.mine_pass`) checkpoints as it goes and resumes after a kill with
a bit-identical result. With ``world > 1`` each rank mines every ``world``-th image; the shards'
states merge exactly.
"""

from __future__ import annotations

import os
from contextlib import nullcontext
from types import SimpleNamespace

import pandas as pd
import torch

from atlas.data.sources import ImageSource
from atlas.models.distributed import Dist
from atlas.models.zoo import LoadedModel
from atlas.pipeline.mine_pass import MineConfig, mine_shard  # noqa: F401 (MineConfig: its home)
from atlas.pipeline.rundir import RunDir, stable_hash
from atlas.pipeline.runlock import RunLock
from atlas.pipeline.stage import Context, Stage, run_stage
from atlas.pipeline.unitstats import LayerStats


def resolve_workers(workers: int, device: torch.device) -> int:
    """Decoding workers for ``workers=-1``: none on a CPU with <= 4 cores, where a worker
    process competes with the model's own threads and mining was measured slower with one
    than decoding in-process (README, "Mining"); else half the cores, at most 8."""
    if workers >= 0:
        return workers
    cores = os.cpu_count() or 1
    if device.type == "cpu" and cores <= 4:
        return 0
    return min(8, max(1, cores // 2))


def finish(run: RunDir, parts: list[tuple[dict, pd.DataFrame, list]], source: ImageSource,
           cfg: MineConfig) -> dict:
    """Merge the shards' (stats, images, skipped) exactly and write images, topk and stats."""
    first = {n: LayerStats(0, cfg.k, cfg.bottom_k, cfg.sample) for n in parts[0][0]}
    for n, st in first.items():
        st.load_state_dict(parts[0][0][n])
        for other_stats, _, _ in parts[1:]:
            o = LayerStats(0, cfg.k, cfg.bottom_k, cfg.sample)
            o.load_state_dict(other_stats[n])
            st.merge(o)
    ids = [r.image_id for r in source.records]
    images = pd.concat([p[1] for p in parts], ignore_index=True)
    images = images.sort_values("index").reset_index(drop=True)
    topk = pd.concat([st.topk_frame(n, ids) for n, st in first.items()], ignore_index=True)
    stats = pd.concat([st.stats_frame(n, cfg.bins) for n, st in first.items()],
                      ignore_index=True)
    run.write_table("images", images)
    run.write_table("topk", topk)
    run.write_table("stats", stats)
    skipped = sorted((x for p in parts for x in p[2]), key=lambda d: d["image_id"])
    return {"images": len(images), "skipped": skipped,
            "units": {n: st.top.units for n, st in first.items()}}


def _settings(ctx: Context) -> list:
    model, source = ctx.model, ctx.source
    return [model.fingerprint(), model.input_size, source.fingerprint(),
            ctx.cfg.mine.result_key()]


def _compute(ctx: Context, key: str) -> dict:
    """Each rank mines its share; rank 0 merges the shards exactly and writes the tables."""
    cfg, d, model = ctx.cfg.mine, ctx.dist, ctx.model
    workers = resolve_workers(cfg.workers, model.device)
    shard = mine_shard(ctx.run, model, ctx.source, cfg, stable_hash([key, d.world]), workers, d,
                       ctx.bar)
    parts = d.gather(({n: st.state_dict() for n, st in shard.stats.items()}, shard.images(),
                      shard.skipped))
    if not d.main:
        return {}
    info = finish(ctx.run, parts, ctx.source, cfg)
    ctx.run.update_manifest(skipped=info["skipped"])
    return {"images": info["images"], "skipped": len(info["skipped"]), "units": info["units"]}


MINE = Stage("mine", inputs=(), outputs=("images", "topk", "stats"), settings=_settings,
             compute=_compute, version="2", sharded=True, checkpoints=("mine-*",))


def mine(run: RunDir, model: LoadedModel, source: ImageSource, cfg: MineConfig,
         progress: bool = True, dist: Dist | None = None) -> dict:
    """The mining stage alone (skipped when done with the same inputs, else resumed)."""
    cfg.validate()
    ctx = Context(run, SimpleNamespace(mine=cfg), dist or Dist(), progress, model, source)
    with RunLock(run.root) if ctx.dist.main else nullcontext():
        out = run_stage(MINE, ctx)
    return {"cached": out.cached, **out.info}
