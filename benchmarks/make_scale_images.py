"""Write N distinct photos for the scale run: crops and flips of the bundled photos.

Issue 12's scale check mines ResNet-50 ``layer4`` (2,048 units) over 10,000 or more images, more
than the 254 bundled photos. Each variant is a different crop box (30-100% of the shorter side,
anywhere in the photo), optionally mirrored, saved as JPEG; the boxes come from a seeded RNG, so the
same command writes the same files. Variants go into one folder per bundled category, so a
``folder:`` source labels them by category (the dataset classes the site reports).

    python -m benchmarks.make_scale_images /tmp/scale-images --count 10000
"""

from __future__ import annotations

import argparse
import hashlib
import random
from pathlib import Path

from PIL import Image

from atlas.data import PHOTOS
from atlas.data.sources import read_credits


def photos() -> list[tuple[Path, str]]:
    """The bundled photos with their category (CREDITS.csv), in file order."""
    return [(PHOTOS / f, c["group"] or "other") for f, c in read_credits(PHOTOS).items()]


def variant(img: Image.Image, rng: random.Random, side: int) -> Image.Image:
    """One random crop (a box of 30-100% of the shorter side, aspect 3:4 to 4:3), maybe mirrored."""
    w, h = img.size
    s = min(w, h) * rng.uniform(0.3, 1.0)
    aspect = rng.uniform(0.75, 4 / 3)
    cw, ch = min(w, s * aspect ** 0.5), min(h, s / aspect ** 0.5)
    x0, y0 = rng.uniform(0, w - cw), rng.uniform(0, h - ch)
    out = img.resize((round(side * cw / max(cw, ch)), round(side * ch / max(cw, ch))),
                     Image.Resampling.BICUBIC, box=(x0, y0, x0 + cw, y0 + ch))
    return out.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if rng.random() < 0.5 else out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--side", type=int, default=256, help="longer side of each variant, pixels")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    sources = photos()
    rng = random.Random(args.seed)
    digests: set[str] = set()
    written = 0
    while written < args.count:
        path, category = sources[written % len(sources)]
        with Image.open(path) as im:
            img = variant(im.convert("RGB"), rng, args.side)
        data = img.tobytes()
        digest = hashlib.sha1(data).hexdigest()
        if digest in digests:  # identical pixels: draw again (never happens in practice)
            continue
        digests.add(digest)
        folder = args.out / category
        folder.mkdir(parents=True, exist_ok=True)
        img.save(folder / f"{path.stem}-{written:05d}.jpg", quality=88)
        written += 1
    folders = len({c for _, c in sources})
    print(f"{written} distinct images in {folders} folders under {args.out}")


if __name__ == "__main__":
    main()
