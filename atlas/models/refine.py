"""Codes refined on their support: the encoder chooses which features fire, least squares says
how much.

A sparse autoencoder's encoder is one linear map and a threshold: it picks the features of a
position well, but their magnitudes are a compromise a single matrix has to make for every
position at once, so the reconstruction leaves error that the chosen decoder rows could still
explain. Refining solves, per position, the non-negative least squares problem on the features
that fired::

    minimize ||t - z @ decoder||^2  over z >= 0 with z_f = 0 where the encoder's code is 0

(``t`` the position in the basis's normalized space less the decoder bias), from the encoder's
code, by steepest descent along the feasible part of the gradient with the exact step, cut where
a falling code reaches 0. Each step therefore never raises the error, and a feature the encoder
did not fire never fires (one that the refinement brings to 0 stops firing, and may come back
at a later step); a few steps come within a hair of the optimum's explained variance (measured
in docs/benchmarks.md, "Features"). It is a fixed number of differentiable tensor
operations, so it is deterministic and objectives backpropagate through it.
"""

from __future__ import annotations

import torch

TINY = 1e-12


def refined(z: torch.Tensor, t: torch.Tensor, decoder: torch.Tensor, steps: int
            ) -> torch.Tensor:
    """``z`` (..., F), any non-negative codes of the targets ``t`` (..., C), after ``steps``
    steps toward the least-squares codes on their support (see the module note). Its support
    is found here (each row's K largest codes, K the most any row fires); a TopK code already
    has it, and refines through :func:`on_support` directly."""
    flat, rows = z.reshape(-1, z.shape[-1]), t.reshape(-1, t.shape[-1])
    k = int(torch.count_nonzero(flat, dim=-1).max()) if flat.numel() and steps else 0
    if not k:
        return z
    zs, idx = flat.topk(k, dim=-1)  # each row's support, padded with codes at 0
    return dense(on_support(zs, idx, rows, decoder, steps), idx, flat).view_as(z)


def dense(zs: torch.Tensor, idx: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Codes ``zs`` of features ``idx`` (..., K) as full rows shaped like ``like`` (..., F),
    zero elsewhere."""
    return torch.zeros_like(like).scatter(-1, idx, zs)


def on_support(zs: torch.Tensor, idx: torch.Tensor, t: torch.Tensor, decoder: torch.Tensor,
               steps: int) -> torch.Tensor:
    """Codes ``zs`` (N, K) >= 0 of features ``idx`` (N, K) (distinct per row; those at 0 are
    padding, not support) of the targets ``t`` (N, C), after ``steps`` steps.

    The steps run in the K-dimensional space of each row's support: with G = D_s D_s^T and
    b = D_s t (D_s the row's K decoder directions), minus half the gradient is b - G z and the
    exact step's denominator g^T G g, so a step costs O(K^2) per row, whatever C. Gathering
    D_s itself, (N, K, C), and reading it at every step slowed mining of an 8C basis to 0.74x
    channel mining (docs/benchmarks.md, "Mining cost with a basis")."""
    gram, b = _support_system(idx, t, decoder.to(t))
    support = zs > 0
    for _ in range(steps):
        g = (b - (gram @ zs.unsqueeze(-1)).squeeze(-1)) * support
        g = g * ((zs > 0) | (g > 0))  # a code at 0 may rise, not fall
        curvature = (g * (gram @ g.unsqueeze(-1)).squeeze(-1)).sum(-1, keepdim=True)
        step = (g * g).sum(-1, keepdim=True) / curvature.clamp_min(TINY)
        # stop where the first falling code reaches 0 (the problem's boundary), and put that
        # code at exactly 0: a rounding residue above 0 would cut the next step to nothing
        room = torch.where(g < 0, zs / (-g).clamp_min(TINY), torch.full_like(zs, torch.inf))
        taken = torch.minimum(step, room.amin(-1, keepdim=True))
        zs = torch.where((g < 0) & (room <= taken), 0.0, (zs + taken * g).clamp_min(0))
    return zs


def _support_system(idx: torch.Tensor, t: torch.Tensor, d: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(G, b) of each row's support: G (N, K, K), b (N, K).

    Two ways to the same numbers, whichever costs less: cut from the dictionary's whole Gram
    matrix (F^2 C once, and b as one F-wide product, as wide as the encoder's) when F^2 is at
    most N K^2, as in mining's batches of thousands of positions; else from the rows' own
    gathered decoder directions (N K^2 C), as for one image's positions."""
    n, k = idx.shape
    f = d.shape[0]
    if f * f <= n * k * k:
        # index_select and gather, not fancy indexing: their backward adds in index order,
        # so the decoder-only fine-tune that tunes the decoder through this is deterministic
        pairs = (idx.unsqueeze(-1) * f + idx.unsqueeze(-2)).flatten()
        gram = (d @ d.T).flatten().index_select(0, pairs).view(n, k, k)
        return gram, (t @ d.T).gather(1, idx)
    ds = d.index_select(0, idx.flatten()).view(n, k, -1)  # (N, K, C)
    return ds @ ds.transpose(1, 2), (ds @ t.unsqueeze(-1)).squeeze(-1)
