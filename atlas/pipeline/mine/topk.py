"""Streaming per-unit statistics: a running top-k with ``state_dict`` and running moments.

Both objects are small (O(units x k)), can be checkpointed and restored bit-exactly, and can be
merged across shards, which is what makes mining resumable and distributable. Ties are broken by
the smaller image position, so the result never depends on batch order or sharding.
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


class RunningTopK:
    """For each of ``units`` rows, keep the ``k`` largest scores with their ids and payloads.

    ``payload`` tensors ride along with each score (e.g. the argmax position, or a sampled
    activation vector); their trailing shape is fixed on the first :meth:`add`.
    """

    def __init__(self, units: int, k: int):
        self.units, self.k = units, k
        self.scores = torch.empty(units, 0, dtype=torch.float32)
        self.ids = torch.empty(units, 0, dtype=torch.int64)
        self.payload: dict[str, torch.Tensor] = {}

    def add(self, scores: torch.Tensor, ids: torch.Tensor, **payload: torch.Tensor) -> None:
        """Add a batch: ``scores`` (B, units), ``ids`` (B,), payloads (B, units, ...)."""
        s = torch.cat([self.scores, scores.detach().float().cpu().T], dim=1)
        i = torch.cat([self.ids, ids.cpu().long().expand(self.units, -1)], dim=1)
        p = {}
        for name, v in payload.items():
            v = v.detach().cpu().transpose(0, 1)
            old = self.payload.get(name)
            p[name] = v if old is None else torch.cat([old, v], dim=1)
        self._keep(s, i, p)

    def _keep(self, s: torch.Tensor, i: torch.Tensor, p: dict[str, torch.Tensor]) -> None:
        # order by id ascending, then stably by score descending: ties go to the smaller id
        by_id = torch.argsort(i, dim=1, stable=True)
        s, i = s.gather(1, by_id), i.gather(1, by_id)
        order = torch.argsort(-s, dim=1, stable=True)[:, : self.k]
        idx = by_id.gather(1, order)
        self.scores, self.ids = s.gather(1, order), i.gather(1, order)
        self.payload = {n: _take(v, idx) for n, v in p.items()}

    def merge(self, other: RunningTopK) -> None:
        """Fold in another shard's top-k (exact: the union's top-k)."""
        p = {n: torch.cat([v, other.payload[n]], dim=1) for n, v in self.payload.items()}
        if not self.payload:
            p = dict(other.payload)
        self._keep(
            torch.cat([self.scores, other.scores], 1), torch.cat([self.ids, other.ids], 1), p
        )

    def state_dict(self) -> dict:
        return {
            "units": self.units, "k": self.k, "scores": self.scores.clone(),
            "ids": self.ids.clone(), "payload": {n: v.clone() for n, v in self.payload.items()},
        }

    def load_state_dict(self, state: dict) -> None:
        self.units, self.k = state["units"], state["k"]
        self.scores, self.ids = state["scores"].clone(), state["ids"].clone()
        self.payload = {n: v.clone() for n, v in state["payload"].items()}


def _take(v: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """Gather along dim 1 of a (units, n, ...) tensor."""
    shape = idx.shape + v.shape[2:]
    return v.gather(1, idx.view(*idx.shape, *([1] * (v.dim() - 2))).expand(shape))


class RunningMoments:
    """Per-unit count, mean, std, min and max, in float64 (mergeable across shards)."""

    def __init__(self, units: int):
        self.count = 0
        self.sum = torch.zeros(units, dtype=torch.float64)
        self.sumsq = torch.zeros(units, dtype=torch.float64)
        self.min = torch.full((units,), float("inf"), dtype=torch.float64)
        self.max = torch.full((units,), float("-inf"), dtype=torch.float64)

    def add(self, x: torch.Tensor) -> None:
        """Add a batch ``x`` (B, units). Each unit's values are summed as one contiguous row,
        in the same order whatever the number of units (a one-hot feature of a basis then has
        exactly its channel's moments)."""
        x = x.detach().cpu().double().T.contiguous()  # (units, B)
        self.count += x.shape[1]
        self.sum += x.sum(1)
        self.sumsq += (x * x).sum(1)
        self.min = torch.minimum(self.min, x.min(1).values)
        self.max = torch.maximum(self.max, x.max(1).values)

    def merge(self, other: RunningMoments) -> None:
        self.count += other.count
        self.sum += other.sum
        self.sumsq += other.sumsq
        self.min = torch.minimum(self.min, other.min)
        self.max = torch.maximum(self.max, other.max)

    @property
    def mean(self) -> torch.Tensor:
        return self.sum / max(self.count, 1)

    @property
    def std(self) -> torch.Tensor:
        var = self.sumsq / max(self.count, 1) - self.mean**2
        return var.clamp_min(0).sqrt()

    def state_dict(self) -> dict:
        return {k: getattr(self, k) for k in ("count", "sum", "sumsq", "min", "max")}

    def load_state_dict(self, state: dict) -> None:
        for k, v in state.items():
            setattr(self, k, v.clone() if isinstance(v, torch.Tensor) else v)


def priority(image_ids: list[str]) -> torch.Tensor:
    """A pseudo-random but content-defined priority per image id (for the stats sample).

    Keeping the images of highest priority gives a uniform sample that is the same whatever the
    order or sharding of the pass, unlike a reservoir driven by a random generator.
    """
    out = [
        int.from_bytes(hashlib.blake2b(i.encode(), digest_size=6).digest(), "big") / 2**48
        for i in image_ids
    ]
    return torch.tensor(np.asarray(out, dtype=np.float32))
