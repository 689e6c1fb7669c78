"""Mining: one streaming pass over an image source keeping, per unit, its top and bottom images.

The pass (:mod:`atlas.pipeline.mine.shard`) checkpoints as it goes and resumes after a kill with
a bit-identical result. With ``world > 1`` each rank mines every ``world``-th image; the shards'
states merge exactly.
"""

from __future__ import annotations

import pandas as pd

from atlas.config.sections import MineConfig
from atlas.data.sources import ImageSource
from atlas.io.hashing import stable_hash
from atlas.pipeline.mine.shard import mine_shard
from atlas.pipeline.mine.unitstats import LayerStats
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stage import Context, Stage


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
    model, source, _ = ctx.inputs()
    return [model.fingerprint(), model.input_size, source.fingerprint(),
            ctx.cfg.mine.result_key(), ctx.cfg.unit_layers]


def _compute(ctx: Context, key: str) -> dict:
    """Each rank mines its share; rank 0 merges the shards exactly and writes the tables."""
    cfg, d = ctx.cfg.mine, ctx.dist
    model, source, resolved = ctx.inputs()
    shard = mine_shard(ctx.run, model, source, cfg, ctx.cfg.unit_layers,
                       stable_hash([key, d.world]), resolved.workers, d, ctx.bar)
    parts = d.gather(({n: st.state_dict() for n, st in shard.stats.items()}, shard.images(),
                      shard.skipped))
    if not d.main:
        return {}
    info = finish(ctx.run, parts, source, cfg)
    ctx.run.update_manifest(skipped=info["skipped"])
    return {"images": info["images"], "skipped": len(info["skipped"]), "units": info["units"]}


MINE = Stage("mine", inputs=("basis",), outputs=("images", "topk", "stats"),
             settings=_settings, compute=_compute, version="3", sharded=True,
             checkpoints=("mine-*",))
