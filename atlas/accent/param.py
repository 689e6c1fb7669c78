"""Image parameterizations that start *exactly* at a seed photo.

Each parameterization maps a parameter tensor to images in [0, 1] (``decode``) and a batch of
seed images to the parameters that decode back to them (``encode``). Round trips are exact up to
float error, also for pure black and white pixels: the squashing function is a sigmoid stretched
so that 0 and 1 are reached at finite logits (``±log((1-eps)/eps)``) instead of at infinity,
which also keeps the gradient of saturated pixels from vanishing.

- ``fourier``: Lucid's decorrelated space: 1/f^d spectrum scaling, ImageNet colour
  decorrelation, desaturation constant k. The 1/f scale preconditions the step size so
  low frequencies move first, which keeps edits smooth.
- ``maco``: phase-only: the seed's magnitude spectrum is fixed and the phase is optimized, as
  in MACO (Fel et al. 2023).
- ``pixel``: per-pixel logits, the baseline.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

# Square root of ImageNet's colour covariance (Lucid's color_correlation_svd_sqrt).
COLOR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])
COLOR = COLOR_SQRT / COLOR_SQRT.norm(dim=0).max()
EPS = 0.01  # output 0 and 1 sit at logits of about -/+4.6


def squash(x: torch.Tensor) -> torch.Tensor:
    """Stretched sigmoid: logits -> [0, 1], reaching 0 and 1 at finite logits."""
    return ((torch.sigmoid(x) - EPS) / (1 - 2 * EPS)).clamp(0, 1)


def unsquash(img: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`squash` on [0, 1]."""
    p = img.clamp(0, 1) * (1 - 2 * EPS) + EPS
    return torch.log(p) - torch.log1p(-p)


def spectrum_scale(h: int, w: int, decay: float, device=None) -> torch.Tensor:
    """See :func:`_spectrum_scale`; computed once per shape, decay and device (every step
    decodes with it). The tensor is shared: callers must not change it in place."""
    return _spectrum_scale(h, w, decay, torch.device(device or "cpu"))


@functools.lru_cache(maxsize=32)
def _spectrum_scale(h: int, w: int, decay: float, device: torch.device) -> torch.Tensor:
    """1 / max(f, 1/max(h, w))^decay for the rfft2 frequencies of an h x w image, normalized
    to the root-mean-square of the decay-1 scale.

    The optimizer steps on the scaled coefficients (Adam moves each by about lr), so the
    scale is each frequency's step size in image space. Unnormalized, decay 2 multiplies the
    lowest frequencies' step by max(h, w) and saturates the image within a few steps; with
    the RMS fixed, decay only moves step size between frequencies and lr keeps its meaning.
    """
    fy = torch.fft.fftfreq(h, device=device)[:, None]
    fx = torch.fft.rfftfreq(w, device=device)[None, :]
    f = torch.sqrt(fx * fx + fy * fy).clamp_min(1.0 / max(h, w))
    scale = 1.0 / f**decay
    if decay != 1.0:
        ref = 1.0 / f
        scale = scale * (ref.pow(2).mean() / scale.pow(2).mean()).sqrt()
    return scale


def _mix(x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour matrix to (N, 3, H, W) as one batched matrix product over the
    pixels. A 1x1 convolution does the same on one thread, but on two oneDNN took 2 ms for
    one 224-px image where the product takes 0.05 (docs/benchmarks.md)."""
    return (m.to(x) @ x.flatten(2)).view_as(x)


@dataclass
class Parameterization:
    """Maps parameters <-> images of one canvas size; holds no per-image state."""

    kind: str = "fourier"
    size: int = 224
    decay: float = 1.0
    desaturation: float = 4.0

    def _to_spatial(self, img: torch.Tensor) -> torch.Tensor:
        """[0,1] image -> the decorrelated, desaturated spatial signal y."""
        logits = unsquash(img)
        return _mix(logits, torch.linalg.inv(COLOR)) * self.desaturation

    def _from_spatial(self, y: torch.Tensor) -> torch.Tensor:
        return squash(_mix(y, COLOR / self.desaturation))

    def encode(self, seeds: torch.Tensor) -> dict[str, torch.Tensor]:
        """Parameters (leaf tensors requiring grad) that decode exactly to ``seeds``."""
        if self.kind == "pixel":
            params = {"logits": unsquash(seeds)}
        else:
            spec = torch.fft.rfft2(self._to_spatial(seeds), norm="ortho")
            if self.kind == "fourier":
                scale = spectrum_scale(self.size, self.size, self.decay, seeds.device)
                params = {"spectrum": torch.view_as_real(spec / scale)}
            else:
                params = {"magnitude": spec.abs(), "phase": spec.angle()}
        out = {}
        for k, v in params.items():
            v = v.detach().clone().contiguous()
            out[k] = v.requires_grad_(k != "magnitude")
        return out

    def decode(self, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """Images in [0, 1], (N, 3, size, size), differentiable in the parameters."""
        if self.kind == "pixel":
            return squash(params["logits"])
        s = (self.size, self.size)
        if self.kind == "fourier":
            scale = spectrum_scale(*s, self.decay, params["spectrum"].device)
            spec = torch.view_as_complex(params["spectrum"]) * scale
        else:
            spec = torch.polar(params["magnitude"], params["phase"])
        return self._from_spatial(torch.fft.irfft2(spec, s=s, norm="ortho"))

    def trainable(self, params: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        return [v for v in params.values() if v.requires_grad]


def noise_params(p: Parameterization, n: int, sd: float = 0.01, seed: int = 0) -> dict:
    """Parameters for noise-seeded feature visualization: grey plus a little random spectrum.

    This is Lucid's initialization (normal noise of ``sd`` in parameter space), so the contrast
    images on the site are what classic feature visualization would show.
    """
    g = torch.Generator().manual_seed(seed)
    params = p.encode(torch.full((n, 3, p.size, p.size), 0.5))
    for v in p.trainable(params):
        with torch.no_grad():
            v.add_(sd * torch.randn(v.shape, generator=g).to(v))
    return params
