"""A corpus of good, odd and broken image files, generated at test time (no committed binaries).

``make_corpus(root)`` writes the files and returns what each should become: ``"ok"`` or the
kind of skip reason (the part of the reason before the colon).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

RED, BLUE, WHITE = (255, 0, 0), (0, 0, 255), (255, 255, 255)


def encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def noise(w: int, h: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), "RGB")


def png_claiming(width: int, height: int) -> bytes:
    """A tiny valid PNG whose IHDR (CRC fixed up) claims ``width`` x ``height``: a bomb header
    that costs nothing to make, and would fail as corrupt if anyone tried to decode it."""
    data = bytearray(encode(Image.new("L", (1, 1)), "PNG"))
    ihdr = 8 + 8  # signature, then chunk length + type "IHDR"
    data[ihdr:ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4:ihdr + 13]))  # type + 13 bytes of IHDR data
    data[ihdr + 13:ihdr + 17] = struct.pack(">I", crc)
    return bytes(data)


def rgba_half_transparent() -> Image.Image:
    img = Image.new("RGBA", (32, 32), (*RED, 255))
    img.paste((0, 0, 0, 0), (0, 0, 16, 32))  # left half: transparent black
    return img


def palette_transparent() -> bytes:
    img = Image.new("P", (32, 32), 0)
    img.putpalette([0, 0, 0, *BLUE] + [0] * 762)
    img.paste(1, (16, 0, 32, 32))  # right half blue, left half index 0 = transparent
    return encode(img, "PNG", transparency=0)


def exif_rotated() -> bytes:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    return encode(noise(48, 24, 1), "JPEG", exif=exif.tobytes())


def two_frame_gif() -> bytes:
    frames = [Image.new("RGB", (24, 24), RED), Image.new("RGB", (24, 24), BLUE)]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)


def gradient16() -> bytes:
    a = np.linspace(0, 65535, 64 * 64).reshape(64, 64).astype(np.uint16)
    return encode(Image.fromarray(a), "PNG")  # mode I;16


def make_corpus(root: Path) -> dict[str, str]:
    """Write the corpus under ``root``; return relative path -> "ok" or expected reason kind."""
    jpeg = encode(noise(64, 64), "JPEG", quality=90)
    files: dict[str, tuple[bytes, str]] = {
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated"),
        "zero.jpg": (b"", "empty file"),
        "text.jpg": (b"this is not an image\n" * 20, "not an image"),
        "page.png": (b"<!doctype html><html><body>404 Not Found</body></html>", "not an image"),
        "bomb.png": (png_claiming(100_000, 100_000), "too large"),
        "bomb-mild.png": (png_claiming(9000, 9000), "too large"),  # 81 Mpx: under Pillow's limit
        "tiny.png": (encode(Image.new("RGB", (1, 1), RED), "PNG"), "too small"),
        "cmyk.jpg": (encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"), "ok"),
        "gray16.png": (gradient16(), "ok"),
        "rgba.png": (encode(rgba_half_transparent(), "PNG"), "ok"),
        "palette.png": (palette_transparent(), "ok"),
        "rotated.jpg": (exif_rotated(), "ok"),
        "anim.gif": (two_frame_gif(), "ok"),
        "plain.bmp": (encode(noise(20, 30, 2), "BMP"), "ok"),
        "plain.tiff": (encode(noise(30, 20, 3), "TIFF"), "ok"),
        "plain.webp": (encode(noise(40, 40, 4), "WEBP", lossless=True), "ok"),
        "UPPER.JPG": (jpeg, "ok"),
        "<script>alert(1)</script>.png": (encode(noise(16, 16, 5), "PNG"), "ok"),  # a sub-folder
        '"onerror=alert(1).png': (encode(noise(16, 16, 6), "PNG"), "ok"),
        "sub/deeper/nested.png": (encode(noise(20, 20, 7), "PNG"), "ok"),
    }
    ignored = {"notes.txt": b"hello", "page.html": b"<html></html>", ".hidden.jpg": jpeg,
               "._resource.jpg": b"\x00\x05\x16\x07", ".git/x.jpg": jpeg}
    for rel, data in [*((k, v[0]) for k, v in files.items()), *ignored.items()]:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return {rel: want for rel, (_, want) in files.items()}
