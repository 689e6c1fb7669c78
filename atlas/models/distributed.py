"""torch.distributed glue for ``torchrun --nproc-per-node N -m atlas build``.

Mining shards images over ranks and merges the running top-k states exactly (gathered as
objects, so no shared filesystem is needed for that step); accentuation shards whole-unit
batches over ranks and exchanges results through the run directory, which must therefore be on
a filesystem all ranks see (any cluster's shared storage). Single-process runs never import
anything from torch.distributed beyond this module's checks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.world > 1:
            dist.barrier()

    def gather(self, obj: Any) -> list[Any]:
        """Every rank's ``obj``, in rank order, on every rank."""
        if self.world == 1:
            return [obj]
        out: list[Any] = [None] * self.world
        dist.all_gather_object(out, obj)
        return out

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        if self.world == 1:
            return obj
        box = [obj if self.main else None]
        dist.broadcast_object_list(box, src=0)
        return box[0]


def setup() -> Dist:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a no-op."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return Dist(rank, world, local)


def teardown(d: Dist) -> None:
    if d.world > 1 and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
