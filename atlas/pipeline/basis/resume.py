"""The resumable state of an optimization loop (dictionary learning, its fine-tune): the
parameters, the optimizer, the random generator and the loop's own counters, saved atomically
as one checkpoint, so a killed loop continues bit for bit where it stopped."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from atlas.io.files import atomic_write_with

OWN = ("params", "opt", "gen")


@dataclass
class Resumable:
    path: Path
    params: dict[str, torch.Tensor]
    opt: torch.optim.Optimizer
    gen: torch.Generator

    def restore(self) -> dict[str, Any]:
        """Load the checkpoint into the parameters, optimizer and generator, if there is one;
        the loop's counters saved with it ({} when starting afresh)."""
        if not self.path.exists():
            return {}
        state = torch.load(self.path, map_location="cpu", weights_only=False)
        with torch.no_grad():
            for k, v in self.params.items():
                v.copy_(state["params"][k])
        self.opt.load_state_dict(state["opt"])
        self.gen.set_state(state["gen"])
        return {k: v for k, v in state.items() if k not in OWN}

    def save(self, **counters: Any) -> None:
        state = {"params": {k: v.detach().clone() for k, v in self.params.items()},
                 "opt": self.opt.state_dict(), "gen": self.gen.get_state(), **counters}
        atomic_write_with(self.path, lambda buf: torch.save(state, buf))
