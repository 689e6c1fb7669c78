"""Mining: one streaming pass over an image source keeping, per unit, its top and bottom images.

The pass checkpoints every few batches (state of every running statistic plus how many source
positions were consumed) and resumes after a kill with a bit-identical result. With ``world > 1``
each rank mines every ``world``-th image; the shards' states merge exactly.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field

import pandas as pd
import torch
from tqdm import tqdm

from atlas.config.checks import check_choice, check_int
from atlas.data.loader import make_loader
from atlas.data.sources import ImageSource, records_frame
from atlas.models.distributed import Dist
from atlas.models.hooks import Probe
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir, atomic_write_with, stable_hash
from atlas.pipeline.topk import priority
from atlas.pipeline.unitstats import LayerStats


@dataclass
class MineConfig:
    """What mining keeps. ``k`` is the top-N per unit from which seeds are later chosen."""

    layers: list[str] = field(default_factory=lambda: ["_blocks.10"])
    k: int = 64
    bottom_k: int = 8
    reduce: str = "mean"
    sample: int = 8192
    bins: int = 40
    batch_size: int = 32
    workers: int = -1  # -1: auto (see resolve_workers)
    checkpoint_every: int = 4

    def validate(self) -> None:
        if not self.layers or not all(isinstance(x, str) and x for x in self.layers):
            raise ValueError("mine.layers must be a non-empty list of layer names")
        check_int("mine.k", self.k, 1, 10_000)
        check_int("mine.bottom_k", self.bottom_k, 0, 10_000)
        check_choice("mine.reduce", self.reduce, ["mean", "max"])
        check_int("mine.sample", self.sample, 1)
        check_int("mine.bins", self.bins, 2, 1000)
        check_int("mine.batch_size", self.batch_size, 1, 4096)
        check_int("mine.workers", self.workers, -1, 64)
        check_int("mine.checkpoint_every", self.checkpoint_every, 1)

    def result_key(self) -> dict:
        """The settings the result depends on (batching and workers do not change it)."""
        d = asdict(self)
        for k in ("batch_size", "workers", "checkpoint_every"):
            d.pop(k)
        return d


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


def mine_hash(model: LoadedModel, source: ImageSource, cfg: MineConfig) -> str:
    return stable_hash([model.fingerprint(), model.input_size, source.fingerprint(),
                        cfg.result_key()])


class _Shard:
    """One rank's mining state, checkpointed to ``checkpoints/mine-r{rank}.pt``."""

    def __init__(self, run: RunDir, rank: int, units: dict[str, int], cfg: MineConfig):
        self.run, self.rank = run, rank
        self.path = run.checkpoint_path(f"mine-r{rank}")
        self.stats = {n: LayerStats(u, cfg.k, cfg.bottom_k, cfg.sample) for n, u in units.items()}
        self.consumed, self.chunks = 0, 0
        self.rows: list[pd.DataFrame] = []
        self.skipped: list[dict] = []

    def chunk_path(self, i: int):
        return self.run.root / "checkpoints" / f"mine-r{self.rank}-images-{i:05d}.parquet"

    def load(self, key: str) -> None:
        if not self.path.exists():
            return
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        if state["hash"] != key:
            return  # a different config: start over
        for n, s in state["stats"].items():
            self.stats[n].load_state_dict(s)
        self.consumed, self.chunks = state["consumed"], state["chunks"]
        self.skipped = state["skipped"]

    def save(self, key: str) -> None:
        if self.rows:  # image rows go to their own chunk file, written before the checkpoint
            df = pd.concat(self.rows, ignore_index=True)
            atomic_write_with(self.chunk_path(self.chunks), lambda b: df.to_parquet(b, index=False))
            self.chunks, self.rows = self.chunks + 1, []
        stats = {n: s.state_dict() for n, s in self.stats.items()}
        state = {"hash": key, "consumed": self.consumed, "chunks": self.chunks,
                 "skipped": self.skipped, "stats": stats}
        atomic_write_with(self.path, lambda b: torch.save(state, b))

    def clear(self) -> None:
        """Remove this shard's checkpoint files once the tables are written."""
        self.path.unlink(missing_ok=True)
        for i in range(self.chunks):
            self.chunk_path(i).unlink(missing_ok=True)

    def images(self) -> pd.DataFrame:
        parts = [pd.read_parquet(self.chunk_path(i)) for i in range(self.chunks)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def layer_units(model: LoadedModel, layers: list[str]) -> dict[str, int]:
    """Channel count of each layer at the model's input size."""
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.no_grad():
        out = Probe(model, layers)(x)
    return {n: (t.shape[1] if t.dim() == 4 else t.shape[-1]) for n, t in out.items()}


def mine_shard(run: RunDir, model: LoadedModel, source: ImageSource, cfg: MineConfig,
               key: str, rank: int = 0, world: int = 1, progress: bool = True) -> _Shard:
    """Mine this rank's share of the source, resuming from its checkpoint."""
    shard = _Shard(run, rank, layer_units(model, cfg.layers), cfg)
    shard.load(key)
    records = source.records
    positions = list(range(rank, len(records), world))
    ids = [r.image_id for r in records]
    probe = Probe(model, cfg.layers)
    workers = resolve_workers(cfg.workers, model.device)
    loader = make_loader(source, model.input_size, cfg.batch_size, workers,
                         positions[shard.consumed:])
    bar = tqdm(total=len(positions), initial=shard.consumed, unit="img", disable=not progress,
               desc=f"mine {','.join(cfg.layers)}", dynamic_ncols=True)
    for b, batch in enumerate(loader, start=1):
        if len(batch.positions):
            pos = torch.tensor(batch.positions)
            with torch.inference_mode():
                acts = probe(batch.images.to(model.device, non_blocking=True))
            prio = priority([ids[p] for p in batch.positions])
            for name, st in shard.stats.items():
                st.update(acts[name], pos, prio, cfg.reduce)
            shard.rows.append(records_frame(records, batch.positions, batch.sizes))
        shard.skipped += [{"image_id": ids[p], "path": records[p].path, "reason": r}
                          for p, r in batch.skipped]
        n = len(batch.positions) + len(batch.skipped)
        shard.consumed += n
        bar.update(n)
        if b % cfg.checkpoint_every == 0:
            shard.save(key)
    bar.close()
    shard.save(key)
    return shard


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


def mine(run: RunDir, model: LoadedModel, source: ImageSource, cfg: MineConfig,
         progress: bool = True, dist: Dist | None = None) -> dict:
    """The mining stage: skipped when done with the same inputs, else resumed; with a
    :class:`Dist` of several ranks each mines its share and rank 0 writes the merged tables."""
    cfg.validate()
    d = dist or Dist()
    key = mine_hash(model, source, cfg)
    if run.stage_done("mine", key):
        return {"cached": True, **run.stage("mine")}
    d.barrier()
    if d.main:
        run.start_stage("mine", key)
    t0 = time.perf_counter()
    shard = mine_shard(run, model, source, cfg, stable_hash([key, d.world]), d.rank, d.world,
                       progress and d.main)
    parts = d.gather(({n: st.state_dict() for n, st in shard.stats.items()}, shard.images(),
                      shard.skipped))
    info: dict = {}
    if d.main:
        info = finish(run, parts, source, cfg)
        run.update_manifest(skipped=info["skipped"])
        run.finish_stage("mine", key, images=info["images"], skipped=len(info["skipped"]),
                         units=info["units"], pass_seconds=round(time.perf_counter() - t0, 3))
    d.barrier()
    shard.clear()
    return {"cached": False, **info, "seconds": time.perf_counter() - t0}
