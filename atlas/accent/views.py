"""Random box crops plus pixel noise, applied identically to the accentuation and its seed.

Boxes are drawn as affine parameters (side and centre in [-1, 1]) and cut at whole pixels of
the image they are applied to, then resized bilinearly to the model input; bilinear sampling is
adequate for side fractions near or above input/canvas. One bilinear resize per crop, rather
than one batched ``grid_sample``, because the latter's CPU backward is slow
(docs/benchmarks.md, "Accentuation speed against the floor", has the measurement); all of a
step's crops are one node of the graph (:class:`_Crops`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from atlas.config.accent import AugmentConfig


@dataclass
class Views:
    """One step's random views: affine crop boxes (N*T, 2, 3, on the CPU: only Python reads
    them) and pixel noise (N*T, 3, S, S) for the image being optimized and, at other pixels of
    the same field, for its seed."""

    theta: torch.Tensor
    noise: torch.Tensor
    seed_noise: torch.Tensor | None  # None: the seed was read before (a pool's boxes)
    size: int
    _boxes: dict = field(default_factory=dict, repr=False)  # (h, w) -> boxes; image and seed

    def boxes(self, h: int, w: int) -> list[tuple[int, int, int, int]]:
        """Pixel boxes (top, left, bottom, right) of the crops on an h x w image."""
        if (h, w) not in self._boxes:
            self._boxes[(h, w)] = pixel_boxes(self.theta, h, w)
        return self._boxes[(h, w)]

    def apply(self, images: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        """(N, 3, H, W) -> (N*T, 3, S, S): image i's T crops are rows i*T .. i*T+T-1."""
        t = self.theta.shape[0] // images.shape[0]
        crops = _Crops.apply(images, self.boxes(*images.shape[-2:]), t, self.size)
        return crops.add_(self.noise if noise is None else noise)


class _Crops(torch.autograd.Function):
    """Every box of its image resized to S x S, as one node of the graph.

    Its backward sums the crops' gradients into one zero image batch. Through autograd, each
    crop's slice sent back a zero-filled image-sized gradient of its own, and the per-image
    split and the concatenation added nodes of their own: at batch 1 the crops took 1.19 ms
    of a step forward and backward, 1.01 ms this way (docs/benchmarks.md, "Accentuation
    speed against the floor"). Cropping per image, never from the whole batch, keeps a
    large batch from sending a batch-sized gradient back per crop.
    """

    @staticmethod
    def forward(ctx, images: torch.Tensor, boxes: list[tuple[int, int, int, int]],
                per_image: int, size: int) -> torch.Tensor:
        out = images.new_empty(len(boxes), images.shape[1], size, size)
        for k, (top, left, bottom, right) in enumerate(boxes):
            i = k // per_image
            torch._C._nn.upsample_bilinear2d(images[i:i + 1, :, top:bottom, left:right],
                                             (size, size), False, None, None,
                                             out=out[k:k + 1])
        ctx.boxes, ctx.per_image, ctx.shape = boxes, per_image, images.shape
        return out

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        images = grad.new_zeros(ctx.shape)
        grad = grad.contiguous()  # channels-last from the model: slower to resize back
        size, c = list(grad.shape[-2:]), grad.shape[1]
        for k, (top, left, bottom, right) in enumerate(ctx.boxes):
            images[k // ctx.per_image, :, top:bottom, left:right] += \
                torch.ops.aten.upsample_bilinear2d_backward(
                    grad[k:k + 1], size, [1, c, bottom - top, right - left], False)[0]
        return images, None, None, None


@dataclass
class BoxPool:
    """A fixed set of ``per`` crop boxes for each pair, drawn once for a run, each with its
    own noise on the seed: the regularizer's references (the seed read through every box)
    then take one batched pass before the first step, instead of one view of the seed per
    view of the image. Each step scores ``crops`` distinct boxes of each pair's pool, with
    fresh noise on the image."""

    theta: torch.Tensor  # (N*P, 2, 3) on the CPU; pair i's boxes are rows i*P .. i*P+P-1
    seed_noise: torch.Tensor  # (N*P, 3, S, S)
    per: int
    size: int

    @classmethod
    def draw(cls, cfg: AugmentConfig, n: int, per: int, size: int,
             generator: torch.Generator, noise_generator: torch.Generator) -> BoxPool:
        noise = cfg.noise * torch.randn(n * per, 3, size, size, generator=noise_generator,
                                        device=noise_generator.device)
        return cls(draw_theta(cfg, n * per, generator), noise, per, size)

    def seed_views(self) -> Views:
        """Every box of the pool, with the seed's noise."""
        return Views(self.theta, self.seed_noise, self.seed_noise, self.size)

    def pick(self, crops: int, generator: torch.Generator,
             noise: torch.Tensor) -> tuple[Views, torch.Tensor]:
        """One step's views (``crops`` distinct boxes per pair, image noise ``noise``) and
        the pool rows they are, to index the references by."""
        n = self.theta.shape[0] // self.per
        order = torch.rand(n, self.per, generator=generator).argsort(1)[:, :crops]
        rows = (order + self.per * torch.arange(n)[:, None]).flatten()
        return Views(self.theta[rows], noise, None, self.size), rows


class NoiseBank:
    """Pixel noise for every step of a run, cut as windows out of one field drawn up front.

    A fresh noise draw per view and step cost a visible share of a step (docs/benchmarks.md), pure
    overhead, growing with the batch. Each step instead takes a window at a
    random offset; the seed's window sits half the margin further along (wrapping), so the two
    never share a pixel's noise: at step 0, where image and seed are equal, identical noise
    would make their distance exactly 0 and its gradient undefined.
    """

    def __init__(self, rows: int, size: int, std: float, generator: torch.Generator,
                 margin: int = 32) -> None:
        self.size, self.margin = size, margin
        self.field = std * torch.randn(rows, 3, size + margin, size + margin,
                                       generator=generator, device=generator.device)

    def windows(self, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(noise, seed_noise) for one step; offsets come from the (CPU) ``generator``."""
        span = self.margin + 1
        dy, dx = torch.randint(0, span, (2,), generator=generator).tolist()
        sy, sx = ((d + self.margin // 2 + 1) % span for d in (dy, dx))
        s = self.size
        return self.field[..., dy:dy + s, dx:dx + s], self.field[..., sy:sy + s, sx:sx + s]


def pixel_boxes(theta: torch.Tensor, h: int, w: int) -> list[tuple[int, int, int, int]]:
    """Pixel boxes (top, left, bottom, right) on an h x w image of affine crop parameters
    ``theta`` (M, 2, 3), cut at whole pixels."""
    th = theta.double()
    side_x, side_y, cx, cy = th[:, 0, 0], th[:, 1, 1], th[:, 0, 2], th[:, 1, 2]
    out = []
    for sx, sy, x, y in zip(side_x.tolist(), side_y.tolist(), cx.tolist(), cy.tolist(),
                            strict=True):
        bw, bh = max(1, round(sx * w)), max(1, round(sy * h))
        left = min(max(round((x + 1) / 2 * w - bw / 2), 0), w - bw)
        top = min(max(round((y + 1) / 2 * h - bh / 2), 0), h - bh)
        out.append((top, left, top + bh, left + bw))
    return out


def draw_theta(cfg: AugmentConfig, m: int, generator: torch.Generator) -> torch.Tensor:
    """``m`` random crop boxes as affine parameters (m, 2, 3): side uniform in
    [min_side, max_side], centre anywhere the box stays inside the canvas."""
    side = cfg.min_side + (cfg.max_side - cfg.min_side) * torch.rand(m, generator=generator)
    cx = (1 - side) * (2 * torch.rand(m, generator=generator) - 1)
    cy = (1 - side) * (2 * torch.rand(m, generator=generator) - 1)
    theta = torch.zeros(m, 2, 3)
    theta[:, 0, 0], theta[:, 1, 1] = side, side
    theta[:, 0, 2], theta[:, 1, 2] = cx, cy
    return theta


def draw_views(cfg: AugmentConfig, n: int, size: int, generator: torch.Generator,
               bank: NoiseBank | None = None) -> Views:
    """Draw ``cfg.crops`` boxes per image for ``n`` images; reproducible from the generator.

    Boxes come from ``generator`` (CPU, tiny); the noise from ``bank``, which a loop makes
    once on the device where it is used (a CPU draw of a 64-pair batch's noise plus its copy
    to a GPU cost more than the model's step there); without one, a bank is drawn here.
    """
    m = n * cfg.crops
    theta = draw_theta(cfg, m, generator)
    bank = bank or NoiseBank(m, size, cfg.noise, generator)
    noise, seed_noise = bank.windows(generator)
    return Views(theta, noise, seed_noise, size)
