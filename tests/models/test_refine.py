"""Codes refined on their support: lower error, the same or fewer features, a file option."""

from __future__ import annotations

import json

import pytest
import torch

from atlas.errors import AtlasError
from atlas.models import basis as bases
from atlas.models.basis import Basis
from atlas.models.refine import refined


def _basis(refine: int = 0, f: int = 40, c: int = 12, seed: int = 0) -> Basis:
    g = torch.Generator().manual_seed(seed)
    dec = torch.randn(f, c, generator=g)
    dec = dec / dec.norm(dim=1, keepdim=True)
    enc = dec + 0.3 * torch.randn(f, c, generator=g)  # an imperfect encoder, as learned ones are
    return Basis("sae", "sae", "L", enc, 0.1 * torch.randn(f, generator=g), dec,
                 0.1 * torch.randn(c, generator=g), activation="topk", k=4, refine=refine)


def _error(b: Basis, x: torch.Tensor) -> torch.Tensor:
    return (x - b.decode(b.codes(x))).pow(2).sum(-1)


def test_each_step_lowers_the_error_and_never_adds_a_feature():
    x = torch.randn(500, 12, generator=torch.Generator().manual_seed(1))
    plain = _basis().codes(x)
    errors = [_error(_basis(n), x) for n in range(5)]
    for before, after in zip(errors, errors[1:], strict=False):
        assert bool((after <= before + 1e-5).all())
    assert float(errors[-1].mean()) < 0.9 * float(errors[0].mean())
    z = _basis(4).codes(x)
    assert bool((z >= 0).all()) and not bool(((z > 0) & (plain == 0)).any())


def test_many_steps_reach_the_least_squares_codes_on_the_support():
    b, x = _basis(), torch.randn(200, 12, generator=torch.Generator().manual_seed(2))
    z = b.codes(x)
    t = b.normalized(x) - b.decoder_bias
    best = refined(z, t, b.decoder, 300)
    checked = 0
    for i in range(len(x)):
        on = z[i].nonzero().flatten()
        sol = torch.linalg.lstsq(b.decoder[on].T, t[i][:, None]).solution.flatten()
        if bool((sol > 0.05).all()):  # the unconstrained optimum is feasible: it is the answer
            assert torch.allclose(best[i, on], sol, atol=1e-3)
            checked += 1
    assert checked > 50


def test_objectives_backpropagate_through_refined_codes():
    b = _basis(3)
    x = torch.randn(2, 12, 5, 5, generator=torch.Generator().manual_seed(3), requires_grad=True)
    codes = bases.on_channels(x, b.codes)
    f = int(codes.sum((0, 2, 3)).argmax())
    codes[:, f].sum().backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all()) and float(
        x.grad.abs().sum()) > 0


def test_a_refined_basis_round_trips_and_old_files_read_unrefined(tmp_path):
    b = _basis(3)
    x = torch.randn(50, 12, generator=torch.Generator().manual_seed(4))
    again = bases.load(bases.save(b, tmp_path / "new"))
    assert again.refine == 3 and "refine" not in again.meta
    assert torch.equal(again.codes(x), b.codes(x))
    old = bases.save(_basis(0), tmp_path / "old")
    meta = json.loads(old.read_text())
    del meta["refine"]  # a file written before refinement existed
    old.write_text(json.dumps(meta))
    assert bases.load(old).refine == 0
    with pytest.raises(AtlasError, match="refine"):
        Basis("d", "directions", "L", b.encoder, b.encoder_bias, b.decoder, b.decoder_bias,
              activation="none", refine=2).check("here")
