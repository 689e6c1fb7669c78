"""Contact sheet of a run's accentuations: seed | accentuation | mask overlay, one row each.

    python tests/contact_sheet.py runs/demo test-output/contact.png [--pairs 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd
from PIL import Image, ImageDraw


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args()
    run = Path(args.run)
    acc = pd.read_parquet(run / "accents.parquet")
    acc = acc.groupby("unit").head(1).head(args.pairs)  # one pair per unit: varied units
    s, cols = args.size, 2
    rows = (len(acc) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * (3 * s + 40), rows * (s + 22)), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for i, r in enumerate(acc.itertuples()):
        x0, y0 = (i % cols) * (3 * s + 40), (i // cols) * (s + 22)
        for j, col in enumerate(("seed_media", "accent_media", "overlay_media")):
            img = Image.open(run / getattr(r, col)).resize((s, s))
            if img.mode == "RGBA":
                img = Image.alpha_composite(Image.new("RGBA", img.size, (0, 0, 0, 255)), img)
            sheet.paste(img.convert("RGB"), (x0 + j * s, y0))
        draw.text((x0 + 2, y0 + s + 4), f"{r.layer}:{r.unit}  {r.seed_activation:.2f} -> "
                  f"{r.final_activation:.2f} ({r.gain:.2f}x)  dist {r.latent_distance:.2f}",
                  fill=(230, 230, 230))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.out)
    print(f"{len(acc)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
