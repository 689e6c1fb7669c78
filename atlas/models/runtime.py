"""Process-level tuning for CPU runs: the memory allocator and native bfloat16.

glibc's malloc serves every block above a (dynamic, at most 32 MB) threshold with a fresh
``mmap`` and returns it on ``free``, so each training step of a convolutional network
re-faults its large buffers as fresh zeroed pages. On the 2-core reference machine that kernel
work (``sys`` time) can be as large as the arithmetic (``time`` around
``python -m benchmarks.accent`` shows it). PyTorch's CPU tuning guide gives the same
advice (use jemalloc or tcmalloc); ``mallopt`` gets the effect without a preloaded library. This
is a per-process choice, so the command line makes it (and the benchmarks); library users may call
:func:`tune_allocator` themselves. :func:`tune_cuda` is the GPU's counterpart, made by the
accentuation loop. :func:`pick_device` is the one place a device is chosen.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
from typing import TYPE_CHECKING

from atlas.errors import AtlasError

if TYPE_CHECKING:
    import torch

_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


@functools.cache
def tune_allocator(top_pad_bytes: int = 256 << 20) -> bool:
    """Keep freed memory in the heap for reuse instead of unmapping it; True if applied.

    Like PyTorch's CUDA caching allocator, the process keeps its peak memory for reuse: any
    trim threshold below a step's peak re-faults the pages every step at large batches, whose
    peak is several gigabytes. Only glibc has ``mallopt``;
    elsewhere this returns False and changes nothing.
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    ok = mallopt(_M_MMAP_MAX, 0) == 1
    ok &= mallopt(_M_TRIM_THRESHOLD, -1) == 1  # glibc reads it as SIZE_MAX: never trim
    ok &= mallopt(_M_TOP_PAD, min(top_pad_bytes, 2**31 - 1)) == 1
    return bool(ok)


@functools.cache
def tune_cuda() -> None:
    """Let cuDNN time its convolution algorithms once per shape and keep the fastest.

    The accentuation loop runs the same shapes every step (fixed view side, fixed batch), so
    the one-off timing is repaid many times over; cuDNN's default heuristic choice is not
    always its fastest kernel for small views or depthwise convolutions."""
    import torch

    torch.backends.cudnn.benchmark = True


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 convolutions natively (AVX512-BF16 or AMX).

    Without it oneDNN emulates bf16 and autocast would be slower than float32.
    """
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: this process's GPU (``local_rank`` under torchrun) when CUDA is there, else CPU.

    Asking for CUDA where there is none is one clear line, not a crash deep in the first stage.
    """
    import torch

    if name == "auto":
        return torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise AtlasError(f"device {name!r} requested but CUDA is not available; valid: cpu, auto")
    return torch.device(name)
