"""The split forward: the model run from an intermediate layer reaches the logits, with gradients
back to the split."""

from __future__ import annotations

import torch

from atlas.accent.objectives import Target
from atlas.accent.split import split_forward
from atlas.models.hooks import Probe


def test_split_forward_reaches_logits(lite0, photos):
    x = photos[:2]
    a, leaf, acts = split_forward(lite0, x, "_blocks.4", ["logits"])
    with torch.no_grad():
        ref = Probe(lite0, ["logits"])(x)["logits"]
    assert acts["logits"].shape == (2, 1000)
    assert torch.allclose(acts["logits"], ref, atol=1e-4)
    value = Target("logits", torch.tensor([1, 2]))(acts)
    (g,) = torch.autograd.grad(value.sum(), leaf)
    assert g.abs().sum() > 0 and a.shape == leaf.shape
