"""The mining pass: one stream over this rank's share of the images, checkpointed as it goes.

Every few batches the state of every running statistic is saved with how many source positions
were consumed (``checkpoints/mine-r{rank}.pt``), and the image rows read so far go to their own
chunk files; a pass killed at any moment resumes with a bit-identical result.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace

import pandas as pd
import torch
from tqdm import tqdm

from atlas.config.sections import MineConfig
from atlas.data.base import Record
from atlas.data.loader import make_loader
from atlas.data.sources import ImageSource
from atlas.io.files import atomic_write_with
from atlas.models.distributed import Dist
from atlas.models.hooks import Probe
from atlas.models.probe import unit_counts
from atlas.models.zoo import LoadedModel
from atlas.pipeline import schema
from atlas.pipeline.mine.topk import priority
from atlas.pipeline.mine.unitstats import LayerStats
from atlas.pipeline.rundir import RunDir


def records_frame(records: Sequence[Record], positions: Sequence[int],
                  sizes: Sequence[tuple[int, int]]) -> pd.DataFrame:
    """The images table for the decoded ``positions`` (with their decoded ``sizes``)."""
    rows = [asdict(replace(records[p], width=int(w), height=int(h)))
            for p, (w, h) in zip(positions, sizes, strict=True)]
    frame = pd.DataFrame(rows, columns=list(schema.TABLES["images"]))
    return schema.check(frame.astype({"index": "int64", "width": "int64", "height": "int64"}),
                        "images")


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


def mine_shard(run: RunDir, model: LoadedModel, source: ImageSource, cfg: MineConfig,
               layers: list[str], key: str, workers: int, d: Dist,
               progress: bool = True) -> Shard:
    """Mine this rank's share of the source for unit layers ``layers`` (channels of a layer,
    or features of a basis over it), resuming from its checkpoint."""
    rank, world = d.rank, d.world
    counts = unit_counts(model, layers)
    shard = Shard(run, rank, {n: counts[n] for n in layers}, cfg)
    shard.load(key)
    records = source.records
    positions = list(range(rank, len(records), world))
    ids = [r.image_id for r in records]
    probe = Probe(model, layers)
    loader = make_loader(source, model.input_size, cfg.batch_size, workers,
                         positions[shard.consumed:])
    bar = tqdm(total=len(positions), initial=shard.consumed, unit="img", disable=not progress,
               desc=f"mine {','.join(layers)}", dynamic_ncols=True)
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
