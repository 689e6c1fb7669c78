"""The mining pass: one stream over this rank's share of the images, checkpointed as it goes.

Every few batches the state of every running statistic is saved with how many source positions
were consumed (``checkpoints/mine-r{rank}.pt``), and the image rows read so far go to their own
chunk files; a pass killed at any moment resumes with a bit-identical result.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import pandas as pd
import torch
from tqdm import tqdm

from atlas.config.checks import check_choice, check_int
from atlas.data.loader import make_loader
from atlas.data.sources import ImageSource, records_frame
from atlas.models.distributed import Dist
from atlas.models.hooks import Probe, unit_count
from atlas.models.zoo import LoadedModel
from atlas.pipeline.rundir import RunDir, atomic_write_with
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


class Shard:
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

    def images(self) -> pd.DataFrame:
        parts = [pd.read_parquet(self.chunk_path(i)) for i in range(self.chunks)]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def layer_units(model: LoadedModel, layers: list[str]) -> dict[str, int]:
    """Channel count of each layer at the model's input size."""
    x = torch.rand(1, 3, model.input_size, model.input_size, device=model.device)
    with torch.no_grad():
        out = Probe(model, layers)(x)
    return {n: unit_count(tuple(t.shape[1:])) for n, t in out.items()}  # `atlas layers` agrees


def mine_shard(run: RunDir, model: LoadedModel, source: ImageSource, cfg: MineConfig,
               key: str, workers: int, d: Dist, progress: bool = True) -> Shard:
    """Mine this rank's share of the source, resuming from its checkpoint."""
    rank, world = d.rank, d.world
    shard = Shard(run, rank, layer_units(model, cfg.layers), cfg)
    shard.load(key)
    records = source.records
    positions = list(range(rank, len(records), world))
    ids = [r.image_id for r in records]
    probe = Probe(model, cfg.layers)
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
