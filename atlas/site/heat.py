"""Activation maps drawn over their photos: tiny heat PNGs and where to put them.

A map is the unit's response over the region the model saw (``view``), a few cells a side. The
site ships it at that size, as a map-sized RGBA PNG inside a data: URI (a few hundred bytes), and
lets the browser scale it smoothly over the photo: 2,048 units x 72 images stay light, with no
extra files. Colour is ``clip(map / scale, 0, 1)`` through the atlas's heat colours
(:mod:`atlas.data.colormap`), with opacity rising with heat so the photo shows where the unit is
quiet. Positions come out in the coordinates of the square tile the page shows (the photo's
centre square, ``object-fit: cover``), so the overlay needs no style attribute (the site's CSP
forbids them): SVG geometry does it.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from atlas.data.colormap import heat_rgba
from atlas.site.content import Pic, Where

colour = heat_rgba  # the atlas's one heat colour scale (atlas.data.colormap)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA PNG written directly (an image library's per-file overhead dominates at
    147,000 maps of 7x7)."""
    h, w = rgba.shape[:2]
    rows = np.concatenate([np.zeros((h, 1), np.uint8), rgba.reshape(h, w * 4)], axis=1)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows.tobytes(), 9)) + _chunk(b"IEND", b""))


# A build re-renders its pages several times in one process: every map of a 112-unit atlas
# (72 images each) stays cached between renders, about 400 bytes apiece.
@lru_cache(maxsize=16384)
def _png(values: tuple[float, ...], h: int, w: int, scale: float) -> str:
    heat = np.asarray(values, np.float64).reshape(h, w) / scale
    return "data:image/png;base64," + base64.b64encode(png_bytes(colour(heat))).decode()


def heat_uri(where: Where) -> str:
    """The map as a map-sized heat PNG (data: URI), coloured against the unit's shared scale."""
    return _png(tuple(where.map), where.h, where.w, where.scale)


@dataclass(frozen=True)
class Placement:
    """Rectangles as SVG attribute values: ``heat`` and ``box`` in the shown tile's 0-100
    coordinates; ``crop`` a viewBox over the original photo drawn ``size`` (w, h) large."""

    heat: tuple[str, str, str, str]
    box: tuple[str, str, str, str]
    crop: str
    size: tuple[str, str]


def _shown(pic: Pic, view: tuple[float, float, float, float]) -> tuple[float, ...]:
    """The part of the original a square tile shows (its centre square), as fractions."""
    if pic.width <= 0 or pic.height <= 0:
        return view  # unknown size: the view is the centre square the model saw
    side = min(pic.width, pic.height)
    dx, dy = (pic.width - side) / 2 / pic.width, (pic.height - side) / 2 / pic.height
    return (dx, dy, 1 - dx, 1 - dy)


def _f(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") or "0"


def _rect(q: tuple[float, ...], shown: tuple[float, ...]) -> tuple[str, str, str, str]:
    sw, sh = shown[2] - shown[0], shown[3] - shown[1]
    x, y = (q[0] - shown[0]) / sw * 100, (q[1] - shown[1]) / sh * 100
    return (_f(x), _f(y), _f((q[2] - q[0]) / sw * 100), _f((q[3] - q[1]) / sh * 100))


def place(where: Where, pic: Pic) -> Placement:
    """Where the heat map and the receptive-field box go over ``pic``'s tile, and the crop."""
    shown = _shown(pic, where.view)
    w, h = (pic.width, pic.height) if pic.width > 0 and pic.height > 0 else (1000, 1000)
    b = where.box
    crop = f"{_f(b[0] * w)} {_f(b[1] * h)} {_f((b[2] - b[0]) * w)} {_f((b[3] - b[1]) * h)}"
    return Placement(heat=_rect(where.view, shown), box=_rect(where.box, shown), crop=crop,
                     size=(str(w), str(h)))
