"""Scale benchmark: ResNet-50 ``layer4`` (2,048 units) over 10,000 photos, mined to a site.

    python -m benchmarks.scale --work /tmp/scale [--count 10000] [--small 2000]

Steps, each printed as it finishes (docs/benchmarks.md quotes its figures):
1. :mod:`benchmarks.make_scale_images` writes the photos (crops and flips of the bundled ones) once.
2. The forward-only floor: the same truncated model on 256 images already decoded to tensors.
3. ``atlas mine`` at ``--small`` and at ``--count`` images, each in its own process: mining
   throughput against the floor, and the process's resident memory sampled every 0.1 s, reported
   as the peak inside the mine stage (from the manifest's start and finish times) and over the
   whole command. Mining keeps O(units x k) state, so the mine-stage peak must not grow with
   the number of images.
4. ``atlas build`` on the large run (mine resumes): describe, select, a few accentuations, maps
   and the site for all units; then ``atlas render`` alone, timed.
5. In Chromium: the index's HTML+data bytes before images, first contentful paint (median of 5
   fresh loads) and search latency (median of 10 queries: the input handler, then the next
   painted frame).
Random weights (``--weights none``): the scale check is about size, not meaning.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ["--model", "resnet50", "--weights", "none", "--layer", "layer4"]


def ensure_images(folder: Path, count: int) -> None:
    if folder.is_dir() and sum(1 for _ in folder.rglob("*.jpg")) >= count:
        return
    subprocess.run([sys.executable, "-m", "benchmarks.make_scale_images", str(folder),
                    "--count", str(count)], cwd=ROOT, check=True)


def floor(folder: Path, n: int = 256, batch: int = 32) -> float:
    """Forward-only images/s to layer4 on decoded tensors (median of 3)."""
    import torch
    from PIL import Image

    from atlas.data.decode import preprocess
    from atlas.models.hooks import Probe
    from atlas.models.runtime import tune_allocator
    from atlas.models.zoo import load_model

    tune_allocator()
    model = load_model("resnet50", weights="none")
    files = sorted(folder.rglob("*.jpg"))[:n]
    x = torch.stack([preprocess(Image.open(f).convert("RGB"), model.input_size) for f in files])
    probe, rates = Probe(model, ["layer4"]), []
    for _ in range(3):
        t = time.perf_counter()
        with torch.inference_mode():
            for i in range(0, len(x), batch):
                probe(x[i:i + batch])
        rates.append(len(x) / (time.perf_counter() - t))
    return statistics.median(rates)


def rss_kb(pid: int) -> int:
    """Resident memory of ``pid`` and its children (DataLoader workers), in KiB."""
    total = 0
    pids = [pid] + [int(p) for p in _children(pid)]
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


def _children(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []


def run_sampled(cmd: list[str]) -> tuple[float, list[tuple[float, int]]]:
    """Run ``cmd``; return its wall seconds and (epoch time, RSS KiB) samples every 0.1 s."""
    samples: list[tuple[float, int]] = []
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT)
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append((time.time(), rss_kb(proc.pid)))
            done.wait(0.1)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    code = proc.wait()
    done.set()
    thread.join()
    if code:
        raise SystemExit(f"{' '.join(cmd)} exited with {code}")
    return time.perf_counter() - t0, samples


def stage_peak(samples: list[tuple[float, int]], stage: dict) -> int:
    inside = [r for t, r in samples if stage["started"] <= t <= stage["finished"]]
    return max(inside, default=0)


def mine_at(images: Path, n: int, out: Path, k: int) -> dict:
    cmd = [sys.executable, "-m", "atlas", "mine", *MODEL, "--images", f"folder:{images}",
           "--limit", str(n), "--k", str(k), "--out", str(out), "-q"]
    wall, samples = run_sampled(cmd)
    stages = json.loads((out / "manifest.json").read_text())["stages"]
    mine = stages["mine"]
    return {"images": mine["images"], "wall_s": round(wall, 1),
            "mine_s": round(mine["seconds"], 1),
            "images_per_s": round(mine["images"] / mine["seconds"], 2),
            "mine_peak_mib": round(stage_peak(samples, mine) / 1024),
            "command_peak_mib": round(max(r for _, r in samples) / 1024),
            "stages_s": {s: round(v.get("seconds", 0), 1) for s, v in stages.items()}}


def build(images: Path, n: int, run: Path, site: Path, k: int, units: str) -> dict:
    cmd = [sys.executable, "-m", "atlas", "build", *MODEL, "--images", f"folder:{images}",
           "--limit", str(n), "--k", str(k), "--units", units, "--out", str(run),
           "--set", f"site.out={site}", "--set", "select.k=2", "--set", "site.refresh=0", "-q"]
    wall, samples = run_sampled(cmd)
    stages = json.loads((run / "manifest.json").read_text())["stages"]
    return {"wall_s": round(wall, 1), "peak_mib": round(max(r for _, r in samples) / 1024),
            "stages_s": {s: round(v.get("seconds", 0), 1) for s, v in stages.items()}}


def render(run: Path, site: Path) -> dict:
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "atlas", "render", str(run), "--out", str(site)],
                   cwd=ROOT, check=True)
    wall = time.perf_counter() - t
    files = [p for p in site.rglob("*") if p.is_file()]
    return {"render_s": round(wall, 1), "site_files": len(files),
            "site_mib": round(sum(p.stat().st_size for p in files) / 2**20, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale"))
    ap.add_argument("--count", type=int, default=10_000)
    ap.add_argument("--small", type=int, default=2_000)
    ap.add_argument("--k", type=int, default=16, help="top images kept per unit")
    ap.add_argument("--units", default="0:3", help="units accentuated (all are mined)")
    ap.add_argument("--skip", default="", help="comma list of steps to skip: floor,small,build")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    images = args.work / "images"
    ensure_images(images, args.count)
    report: dict = {}
    if "floor" not in skip:
        report["floor_images_per_s"] = round(floor(images), 2)
        print("floor", report["floor_images_per_s"], "images/s", flush=True)
    if "small" not in skip:
        report["mine_small"] = mine_at(images, args.small, args.work / f"run-{args.small}", args.k)
        print("mine", args.small, report["mine_small"], flush=True)
    run, site = args.work / f"run-{args.count}", args.work / "site"
    report["mine_large"] = mine_at(images, args.count, run, args.k)
    print("mine", args.count, report["mine_large"], flush=True)
    if "build" not in skip:
        report["build"] = build(images, args.count, run, site, args.k, args.units)
        print("build", report["build"], flush=True)
    report["render"] = render(run, site)
    print("render", report["render"], flush=True)
    from benchmarks.site_browser import measure  # Playwright + Chromium, loaded only here

    report["browser"] = measure(site)
    print("browser", report["browser"], flush=True)
    (args.work / "report.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
