"""Turning image bytes into 8-bit RGB and model-ready tensors, alone or in DataLoader workers.

Real folders hold broken files: truncated downloads, HTML saved as .jpg, 16-bit scans, CMYK
prints, crafted decompression bombs. Each of them becomes either a clean RGB image or a
:class:`BadImage` with a short reason (``"kind: detail"``), so a run skips and records it and
goes on. Nothing here touches Pillow's global settings (``Image.MAX_IMAGE_PIXELS``,
``ImageFile.LOAD_TRUNCATED_IMAGES``): our limits are checked per call from :class:`DecodeConfig`.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NamedTuple

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from atlas.errors import AtlasError

ImageInput = str | os.PathLike[str] | bytes | BinaryIO
_ALPHA_MODES = {"RGBA", "LA", "PA", "RGBa", "La"}
_SWAPPING = {5, 6, 7, 8}  # EXIF orientations that turn the image by 90 degrees


@dataclass(frozen=True)
class DecodeConfig:
    """Per-run decoding limits, passed explicitly to every worker (no global state).

    ``max_pixels`` (default 2**26, about 67 Mpx): images whose *header* claims more are refused
    before any pixel is decoded. It admits every common camera (full-frame sensors top out near
    61 Mpx, phones at 50 Mpx) while bounding one decoded image to ~200 MB RGB, ~800 MB with the
    transient copies of a mode conversion, per worker. Pillow's own hard limit (twice
    ``Image.MAX_IMAGE_PIXELS``, ~179 Mpx) still applies on top; we report it the same way.
    ``min_side`` (default 8): shorter sides are skipped as "too small": a 1x1 or 4x300 image
    upsampled to the model input is a flat colour or a smear, not a photo, and would only
    pollute a unit's top images with artefacts.
    ``draft``: let JPEG decode at 1/2, 1/4 or 1/8 scale (in the DCT) when the target size
    allows; the shorter side stays >= the target, then the usual antialiased resize follows.
    """

    max_pixels: int = 2**26
    min_side: int = 8
    draft: bool = True

    def __post_init__(self) -> None:
        if self.max_pixels < 1 or self.min_side < 1:
            raise AtlasError(f"decode limits must be positive, got max_pixels={self.max_pixels}, "
                             f"min_side={self.min_side}")


class BadImage(Exception):
    """An input that cannot become an image; ``reason`` is a short ``"kind: detail"`` string."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Decoded(NamedTuple):
    image: Image.Image  # 8-bit RGB, EXIF orientation applied (smaller if JPEG draft was used)
    width: int  # the original size after orientation, whatever draft did
    height: int


def decode_rgb(src: ImageInput, config: DecodeConfig | None = None,
               draft_size: int | None = None) -> Decoded:
    """Decode ``src`` (path, bytes or binary file) into 8-bit RGB, or raise :class:`BadImage`."""
    config = config or DecodeConfig()
    if isinstance(src, bytes | bytearray):
        src = io.BytesIO(src)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with _open(src) as img:
            width, height, swaps = _check_header(img, config)
            if draft_size and config.draft:
                img.draft(None, (draft_size, draft_size))  # a no-op for non-JPEG formats
            try:
                img.load()
            except Exception as e:  # decoders raise OSError, SyntaxError, ValueError, ...
                msg = str(e).split("\n")[0][:80] or type(e).__name__
                kind = "truncated" if "truncat" in msg.lower() else "corrupt"
                raise BadImage(f"{kind}: {msg}") from None
            img, turned = _orient(img)
            if swaps and turned:
                width, height = height, width
            return Decoded(to_rgb(img), width, height)


def _open(src: ImageInput) -> Image.Image:
    """Image.open with our reasons for the ways opening fails (it reads the header only)."""
    if isinstance(src, str | os.PathLike):
        path = Path(src)
        try:
            if path.stat().st_size == 0:
                raise BadImage("empty file")
        except OSError as e:
            raise BadImage(f"unreadable: {e.strerror or type(e).__name__}") from None
    elif isinstance(src, io.BytesIO) and src.getbuffer().nbytes == 0:
        raise BadImage("empty file")
    try:
        return Image.open(src)
    except UnidentifiedImageError:
        raise BadImage("not an image") from None
    except Image.DecompressionBombError:
        raise BadImage("too large: over Pillow's MAX_IMAGE_PIXELS") from None
    except Exception as e:
        raise BadImage(f"unreadable: {type(e).__name__}: {str(e)[:80]}") from None


def _check_header(img: Image.Image, config: DecodeConfig) -> tuple[int, int, bool]:
    """The size the header claims (refused if too large or small) and whether EXIF turns it.

    Only the header has been read at this point, so a bomb costs nothing."""
    w, h = img.size
    if w * h > config.max_pixels:
        raise BadImage(f"too large: {w}x{h} > {config.max_pixels} px")
    if min(w, h) < config.min_side:
        raise BadImage(f"too small: {w}x{h}, a side < {config.min_side} px")
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # corrupt EXIF: decode the pixels as stored
        orientation = 1
    return w, h, orientation in _SWAPPING


def _orient(img: Image.Image) -> tuple[Image.Image, bool]:
    """Apply EXIF orientation; report whether it succeeded (a corrupt tag keeps the pixels)."""
    try:
        ImageOps.exif_transpose(img, in_place=True)  # in place: no copy when already upright
        return img, True
    except Exception:
        return img, False


def to_rgb(img: Image.Image) -> Image.Image:
    """Any Pillow mode as 8-bit RGB: alpha over white, 16/32-bit and float scaled, CMYK too."""
    if img.mode.startswith("I") or img.mode == "F":
        return Image.fromarray(_to_uint8(np.asarray(img)), "L").convert("RGB")
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return img.convert("RGB")


def _to_uint8(a: np.ndarray) -> np.ndarray:
    """Scale high-bit-depth pixels to 0..255 instead of clipping them (Pillow's convert clips).

    uint16 and non-negative int32 up to 65535 are 16-bit data (full scale 65535); floats in
    [0, 1] are unit data; anything else (signed, 32-bit range, HDR floats) is min-max stretched.
    """
    a = a.astype(np.float64)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if lo >= 0 and hi <= 1.0 and a.dtype.kind == "f":
        scale, lo = 255.0, 0.0
    elif lo >= 0 and hi <= 65535:
        scale, lo = 255.0 / 65535.0, 0.0
    else:
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip(np.rint((a - lo) * scale), 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class CropBox:
    """The square of the original image that :func:`preprocess` turns into the model input."""

    left: float
    top: float
    side: float
    scale: float  # model-input pixels per original pixel

    @property
    def box(self) -> tuple[float, float, float, float]:
        return (self.left, self.top, self.left + self.side, self.top + self.side)

    def to_original(self, x: float, y: float) -> tuple[float, float]:
        """Map a point of the model input (pixels) to the original image (pixels)."""
        return (self.left + x / self.scale, self.top + y / self.scale)


def crop_box(width: int, height: int, size: int) -> CropBox:
    """Shorter side resized to ``size``, centre crop: the centred square of side min(w, h)."""
    side = float(min(width, height))
    return CropBox((width - side) / 2, (height - side) / 2, side, size / side)


def preprocess(img: Image.Image, size: int) -> torch.Tensor:
    """RGB image -> float32 tensor [3, size, size] in [0, 1]: antialiased bicubic, centre crop.

    Pillow's bicubic widens its kernel by the reduction factor, so downscaling is antialiased
    (nearest-neighbour seeds come out blocky, a known pitfall). Cropping with ``box`` resamples
    the crop straight from the original with sub-pixel accuracy, in one pass.
    """
    if img.mode != "RGB":
        img = to_rgb(img)
    box = crop_box(*img.size, size).box
    out = img.resize((size, size), Image.Resampling.BICUBIC, box=box)
    arr = np.array(out, dtype=np.uint8)  # a writable copy for torch
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous().float().div_(255.0)


def read_photo(path: str | os.PathLike[str], size: int) -> torch.Tensor:
    """One photo a user names, as (3, size, size) in [0, 1]; one line when it cannot be read."""
    if not Path(path).is_file():
        raise AtlasError(f"photo {str(path)!r} is not a file")
    try:
        return preprocess(decode_rgb(path, draft_size=size).image, size)
    except BadImage as e:
        raise AtlasError(f"photo {str(path)!r}: cannot read it ({e.reason})") from None
