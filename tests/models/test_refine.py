"""Codes refined on their support: lower error, the same or fewer features, a file option."""

from __future__ import annotations

import json

import pytest
import torch

from atlas.errors import AtlasError
from atlas.models import basis as bases
from atlas.models.basis import Basis
from atlas.models.refine import on_support, refined


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


def test_the_gram_and_the_gathered_ways_to_a_step_agree():
    """Mining's batches refine through the dictionary's whole Gram matrix, one image's
    positions through their gathered decoder rows: the same steps either way."""
    b = _basis(3, f=64, c=12)
    x = torch.randn(400, 12, generator=torch.Generator().manual_seed(5))
    t = b.normalized(x) - b.decoder_bias
    vals, idx = bases.top_k(t @ b.encoder.T + b.encoder_bias, b.k)
    zs = vals.clamp_min(0)
    whole = on_support(zs, idx, t, b.decoder, 3)  # 64^2 <= 400 * 4^2: the Gram matrix
    rows = torch.cat([on_support(zs[i:i + 2], idx[i:i + 2], t[i:i + 2], b.decoder, 3)
                      for i in range(0, 400, 2)])  # 64^2 > 2 * 4^2: gathered rows
    assert torch.allclose(whole, rows, atol=1e-5)
    assert not torch.equal(whole, zs)  # the steps moved the codes
    assert torch.equal(b.codes(x), torch.zeros(400, 64).scatter(-1, idx, whole))


@pytest.mark.parametrize("f,k", [(896, 16), (64, 4), (30, 4), (12, 5)])
def test_top_k_is_torch_topk(f, k):
    """The grouped top-k (rows of F >= 16k on a CPU) returns torch's values and indices, also
    with ties and infinities."""
    g = torch.Generator().manual_seed(f)
    x = torch.randn(300, f, generator=g)
    x[:50] = x[:50].round()  # many ties
    x[50:60, ::3] = float("-inf")
    x[60:70] = 0.0
    got, want = bases.top_k(x, k), x.topk(k, dim=-1)
    assert torch.equal(got[0], want[0])
    # where values tie the two may name different entries of the same value
    assert torch.equal(x.gather(1, got[1]), want[0])
    assert bool((got[1].sort(1).values.diff(dim=1) > 0).all())  # distinct entries
    assert torch.equal(got[1][70:], want[1][70:])  # no ties: the same entries
    codes = bases.top_k(x.view(3, 100, f), k)[0]
    assert codes.shape == (3, 100, k)
