"""Contact sheet of a run's accentuations: seed | accentuation | mask overlay, one pair per unit.

    python -m benchmarks.contact_sheet runs/demo test-output/contact.png [--pairs 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image

from atlas.data.media import sheet
from atlas.pipeline.rundir import RunDir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("out")
    ap.add_argument("--pairs", type=int, default=16)
    ap.add_argument("--size", type=int, default=160)
    args = ap.parse_args()
    run = RunDir(args.run)
    acc = run.read_table("accents")
    acc = acc.groupby(["layer", "unit"]).head(1).head(args.pairs)  # one per unit: varied
    panels, captions = [], []
    for r in acc.itertuples():
        for col in ("seed_media", "accent_media", "overlay_media"):
            with Image.open(run.root / getattr(r, col)) as im:
                panels.append(im.resize((args.size, args.size)))
        captions += [[f"{r.layer}:{r.unit} seed", f"{r.seed_activation:.2f}"],
                     ["accentuation", f"{r.final_activation:.2f}"],
                     ["mask overlay", f"dist {r.latent_distance:.2f}"]]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    sheet(panels, captions, columns=6).save(args.out)
    print(f"{len(acc)} pairs -> {args.out}")


if __name__ == "__main__":
    main()
