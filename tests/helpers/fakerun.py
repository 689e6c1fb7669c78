"""A synthetic but schema-valid run directory, with real WebP images, for site tests and benches.

The renderer must depend only on the run directory, so the site can be tested without a model:
this writes every table of :mod:`atlas.pipeline.schema` (or a chosen subset, e.g. only what
`mine` makes) through :meth:`RunDir.write_table`, plus the media those tables point at. The
tables and their columns come from the schema: a table the schema gains, or a column it gains or
loses, makes this fail until the fake follows. ``bases`` adds unit layers ``LAYER/NAME`` of
features beside a layer's channels, with the basis stage's files (``basis/NAME.json``, the
``basis`` table). ``payload=True`` puts script-injection strings
into every user-supplied field (labels, file names, credits, a layer name, config text);
``validation=True`` adds a small ``validation/`` result (:mod:`tests.helpers.fakevalidation`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from atlas.io.files import atomic_write_json
from atlas.pipeline import schema
from atlas.pipeline.connect.stage import CONNECT
from atlas.pipeline.decisions.accent import CLASS_ACCENTUATE
from atlas.pipeline.decisions.predict import PREDICT
from atlas.pipeline.mine.stage import MINE
from atlas.pipeline.rundir import RunDir
from atlas.pipeline.stages import stages
from tests.helpers.fakedecisions import decision_rows
from tests.helpers.fakemedia import CHANGE_GAIN, PAYLOADS, accent_media, natural, webp
from tests.helpers.fakevalidation import write_fake_validation

MINE_TABLES = frozenset(MINE.outputs)
DECISION_TABLES = frozenset(CONNECT.outputs) | frozenset(PREDICT.outputs) | frozenset(
    CLASS_ACCENTUATE.outputs)
CLASSES = ("tabby cat", "goldfish", "windmill", "solar dish", "hammer", "red panda", "toucan")
GROUPS = ("animals", "fish", "monuments", "tools")  # images' coarser `group` (bundled: category)
CAUSAL = ("tench", "lighthouse", "screwdriver", "agama", "volcano")  # ablation's classes
MAP = 7  # activation map side, as a 224-px model's layer at stride 32 would have


@dataclass(frozen=True)
class FakeBasis:
    """A basis over ``layer``: its ``features`` form the unit layer ``LAYER/NAME``. ``kind``
    "directions" names each feature (``names``, or made-up concept names)."""

    layer: str = "_blocks.10"
    name: str = "sae"
    features: int = 6
    kind: str = "sae"
    names: tuple[str, ...] = ()

    @property
    def unit_layer(self) -> str:
        return f"{self.layer}/{self.name}"

    def feature_names(self) -> list[str]:
        if self.kind != "directions":
            return []
        made = [f"concept {i}" for i in range(len(self.names), self.features)]
        return [*self.names[:self.features], *made]


# a learned basis and named directions over one layer, beside its channels
BASES = (FakeBasis(layer="_blocks.10", name="sae", features=6),
         FakeBasis(layer="_blocks.10", name="concepts", kind="directions", features=3,
                   names=("fish", "stripes")))


@dataclass(frozen=True)
class FakeRunConfig:
    """Shape of the fake run. ``pool`` media are shared between units to keep big runs cheap;
    every unit still gets its own strongest accentuation so card thumbnails are distinct.
    Frames come in both forms the site accepts: rank 0 one file per step, pooled accentuations
    one animated WebP (what the accentuate stage writes). Unit 1's last accentuation has a
    negative seed activation and unit 2's a near-zero one: their final/seed ratios are the
    numbers the site must never show. ``accented``: how many units of each layer have
    accentuations (-1: all), as a big build accentuates a few chosen units only."""

    layers: tuple[str, ...] = ("_blocks.4", "_blocks.10")
    units: int = 3
    topk: int = 6
    bottomk: int = 3
    accents: int = 3
    frames: int = 4
    images: int = 16
    image_size: int = 64
    pool: int = 8
    tables: frozenset[str] | None = None  # None: every table of the schema
    payload: bool = False
    seed: int = 0
    validation: bool = False  # also write validation/ as `atlas validate` does (fakevalidation)
    weights: str = "default"  # the manifest's config model.weights ("none": random weights)
    name: str = "fake"  # the manifest's run name
    bases: tuple[FakeBasis, ...] = ()  # unit layers of features beside their layer's channels
    accented: int = -1


def _images(run: RunDir, cfg: FakeRunConfig, rng: np.random.Generator) -> list[dict]:
    rows = []
    for i in range(cfg.images):
        label = CLASSES[i % len(CLASSES)]
        path = f"photos/img{i:03d}.webp"
        author, url = f"Author {i}", f"https://commons.wikimedia.org/wiki/File:img{i}.jpg"
        if cfg.payload and i < len(PAYLOADS):
            label, path, author = PAYLOADS[i], f"{PAYLOADS[(i + 1) % 3]}.png", PAYLOADS[(i + 2) % 3]
            url = "javascript:alert(1)" if i == 0 else url
        image_id = f"img{i:03d}-{i * 7919 % 65536:04x}"
        if cfg.payload and i == 1:
            image_id = 'x"onerror=alert(1)'  # ids should be safe; the site must not rely on it
        webp(run.media / "images" / f"{image_id}.webp", natural(rng, cfg.image_size))
        rows.append(dict(image_id=image_id, source="folder:/data/photos", path=path, index=i,
                         label=label, width=cfg.image_size, height=cfg.image_size,
                         author=author, license="CC-BY-SA-4.0", credit_url=url,
                         group=GROUPS[i % len(GROUPS)]))
    return rows


def _layers(cfg: FakeRunConfig) -> list[str]:
    """The channel layers (mine.layers)."""
    return [*cfg.layers, PAYLOADS[2]] if cfg.payload else list(cfg.layers)


def _unit_layers(cfg: FakeRunConfig) -> list[tuple[str, int]]:
    """Every unit layer and its unit count: the channels of each layer, then each basis's
    features."""
    return [*((layer, cfg.units) for layer in _layers(cfg)),
            *((b.unit_layer, b.features) for b in cfg.bases)]


def make_fake_run(root: Path, cfg: FakeRunConfig | None = None) -> Path:
    """Write a fake run directory at ``root`` and return it."""
    cfg = cfg or FakeRunConfig()
    tables = frozenset(schema.TABLES) if cfg.tables is None else cfg.tables
    if tables - set(schema.TABLES):
        raise ValueError(f"fake run: no table {sorted(tables - set(schema.TABLES))} in the schema")
    rng = np.random.default_rng(cfg.seed)
    run = RunDir(root)
    t: dict[str, list[dict]] = defaultdict(list, images=_images(run, cfg, rng))
    ids = [r["image_id"] for r in t["images"]]
    pool = _pool(run, cfg, ids)
    for li, (layer, units) in enumerate(_unit_layers(cfg)):
        placed = []
        for u in range(units):
            rows, accents = _unit(run, cfg, rng, t, pool, ids, layer, u, li)
            _describe(cfg, rng, t, layer, u, li, rows)
            placed.append((rows[0]["image_id"], accents))
        _global_map(rng, t, layer, placed)
    _vectors(cfg, rng, t)
    if cfg.bases:
        _bases(run, cfg, rng, t)
    if DECISION_TABLES & tables:
        t.update(decision_rows(run, t["images"], list(cfg.layers), cfg.units, cfg.payload,
                               cfg.weights == "none"))
    if cfg.weights == "none":  # as the describe stage: random weights give no causal labels
        t["causal"] = []
    may_be_empty = {"causal", "predictions", "class_accents"} if cfg.weights == "none" else set()
    if len(cfg.layers) < 2:
        may_be_empty.add("connections")  # one mined layer: nothing to connect
    if not cfg.bases:
        may_be_empty.add("basis")  # channels only: an empty table
    for name in sorted(tables):
        if not t[name] and name not in may_be_empty:
            raise ValueError(f"fake run: no rows for table {name}; teach {__name__} to write it")
        run.write_table(name, _frame(name, t[name]))
    atomic_write_json(run.manifest_path, _manifest(cfg, tables))
    if cfg.validation:
        write_fake_validation(run.root, _layers(cfg), cfg.units, cfg.seed, cfg.payload)
    return run.root


def _frame(name: str, rows: list[dict]) -> pd.DataFrame:
    """The rows of table ``name`` as a frame; every row must have exactly the schema's columns
    (a row with one more or one fewer would otherwise be filled or dropped quietly)."""
    want = set(schema.TABLES[name])
    for row in rows:
        if set(row) != want:
            raise ValueError(f"fake run: a row of table {name} has columns the schema lacks "
                             f"{sorted(set(row) - want)} and misses {sorted(want - set(row))}")
    return pd.DataFrame(rows) if rows else schema.empty(name)


def _pool(run: RunDir, cfg: FakeRunConfig, ids: list[str]) -> list[dict[str, object]]:
    """Shared accentuation media: seed/accent/mask/overlay/frames, reused across units."""
    out = []
    for p in range(cfg.pool):
        out.append(accent_media(run, cfg.frames, f"media/pool/{p}", ids[p % len(ids)],
                                p / cfg.pool, 3, animated=True))
    return out


def _unit(run: RunDir, cfg: FakeRunConfig, rng: np.random.Generator, t: dict[str, list[dict]],
          pool: list[dict[str, object]], ids: list[str], layer: str, u: int,
          li: int) -> tuple[list[dict], list[dict]]:
    """One unit's mining, accentuation and label rows; return its topk and accents rows."""
    key = {"layer": layer, "unit": u}
    first_topk, first_accent = len(t["topk"]), len(t["accents"])
    top = 5.0 + 3 * rng.random() + li
    chosen = rng.permutation(len(ids))
    acts = np.sort(rng.uniform(0.3 * top, top, cfg.topk))[::-1]
    acts[0] = top
    for r in range(cfg.topk):
        t["topk"].append({**key, "kind": "top", "rank": r, "image_id": ids[chosen[r]],
                          "activation": float(acts[r]), "argmax_y": 3, "argmax_x": 4,
                          "map_h": 7, "map_w": 7})
    for r in range(cfg.bottomk):
        t["topk"].append({**key, "kind": "bottom", "rank": r, "image_id": ids[chosen[-1 - r]],
                          "activation": float(-0.1 * r), "argmax_y": 0, "argmax_x": 0,
                          "map_h": 7, "map_w": 7})
    sample = np.concatenate([rng.gamma(1.5, 0.6, 500), acts])
    counts, edges = np.histogram(sample, bins=24, range=(min(0.0, sample.min()), top))
    t["stats"].append({**key, "count": int(sample.size), "mean": float(sample.mean()),
                       "std": float(sample.std()), "min": float(sample.min()), "max": top,
                       **{f"q{q:02d}": float(np.quantile(sample, q / 100))
                          for q in (1, 10, 50, 90, 99)},
                       "hist_counts": counts.tolist(), "hist_edges": edges.tolist(),
                       "fire_images": float((sample > 0).mean()),
                       "fire_positions": float((sample > 0).mean()) / 3})
    chosen_unit = cfg.accented < 0 or u < cfg.accented
    n_acc = min(cfg.accents, cfg.topk) if chosen_unit else 0
    for r in range(n_acc):
        seed_id = ids[chosen[r]]
        if r == 0:
            media = accent_media(run, cfg.frames, f"media/{layer}/{u}/a0", seed_id,
                                  (u * 0.13 + li * 0.3) % 1, 2 + u % 4)
        else:
            media = dict(pool[(u * 3 + r) % len(pool)], seed_media=f"media/images/{seed_id}.webp")
        final = float(acts[r] * (1.8 + rng.random()))
        seed_act = float(acts[r])
        if r == n_acc - 1 and u in (1, 2):  # a weak seed: negative (unit 1) or near zero
            seed_act = -0.35 if u == 1 else 0.004
        t["seeds"].append({**key, "rank": r, "image_id": seed_id, "cluster": r % 2,
                           "activation": float(acts[r])})
        t["accents"].append({**key, "image_id": seed_id, "rank": r,
                             "seed_activation": seed_act, "final_activation": final,
                             "gain": final / seed_act, "latent_distance": 0.2 + 0.1 * r,
                             "pixel_rmse": 0.05, "steps": 64, "lam": 1.0, "param": "fourier",
                             "reg_layer": "_blocks.2", **media, "change_gain": CHANGE_GAIN,
                             "trajectory": np.linspace(seed_act, final, 8).tolist()})
    if chosen_unit:
        t["vis"].append({**key, "final_activation": top * 3,
                         "vis_media": str(pool[u % len(pool)]["accent_media"])})
    for r in range(3 if chosen_unit else 0):
        t["labels"].append({**key, "rank": r, "class_index": (u + r) % 1000,
                            "class_name": PAYLOADS[0] if cfg.payload and r == 0
                            else CLASSES[(u + r + li) % len(CLASSES)], "score": 2.0 - r * 0.5})
    for r in range(cfg.topk):
        t["embed"].append({**key, "image_id": ids[chosen[r]], "rank": r, "kind": "natural",
                           "x": float(rng.random()), "y": float(rng.random()),
                           "cluster": r % (1 + u % 3)})
    for r in range(n_acc):
        t["embed"].append({**key, "image_id": ids[chosen[r]], "rank": r, "kind": "accent",
                           "x": float(rng.random()), "y": float(rng.random()), "cluster": r % 2})
    return t["topk"][first_topk:], t["accents"][first_accent:]


def _describe(cfg: FakeRunConfig, rng: np.random.Generator, t: dict[str, list[dict]],
              layer: str, u: int, li: int, rows: list[dict]) -> None:
    """The describe stage's tables for one unit (where / classes / causal, per the contract):
    each map a blob at the row's argmax, the unit's top maps sharing one scale."""
    key = {"layer": layer, "unit": u}
    yy, xx = np.mgrid[0:MAP, 0:MAP]
    maps = []
    for r in rows:
        cy, cx = (r["rank"] * 2 + u) % MAP, (r["rank"] * 3 + li) % MAP
        blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 2.0)
        maps.append(blob * r["activation"] + rng.normal(0, 0.05, (MAP, MAP)))
    scale = max((float(m.max()) for m, r in zip(maps, rows, strict=True) if r["kind"] == "top"),
                default=1.0)
    for m, r in zip(maps, rows, strict=True):  # square photos: the model saw all of each
        cy, cx = np.unravel_index(int(np.argmax(m)), m.shape)
        box = [max(0.0, (cx + 0.5) / MAP - 0.3), max(0.0, (cy + 0.5) / MAP - 0.3),
               min(1.0, (cx + 0.5) / MAP + 0.3), min(1.0, (cy + 0.5) / MAP + 0.3)]
        t["where"].append({**key, "kind": r["kind"], "rank": r["rank"], "image_id": r["image_id"],
                           "map": m.ravel().tolist(), "map_h": MAP, "map_w": MAP,
                           "view": [0.0, 0.0, 1.0, 1.0], "box": box, "rf_px": 134,
                           "scale": scale})
    total = cfg.images
    for r, (fld, name) in enumerate((("group", GROUPS[(u + li) % len(GROUPS)]),
                                     ("label", CLASSES[(u * 2 + li) % len(CLASSES)]))):
        if cfg.payload and fld == "label":
            name = PAYLOADS[0]
        count, data_count = min(cfg.topk, 4 + u % 3 - r), max(1, total // (4 + 3 * r))
        t["classes"].append({**key, "rank": r, "field": fld, "name": name, "count": count,
                             "top_n": cfg.topk, "data_count": data_count, "data_total": total,
                             "p_value": 0.002 * (r + 1) / (u + 1),
                             "enrichment": (count / cfg.topk) / (data_count / total)})
    for r in range(3):
        name = CAUSAL[(u + 2 * li + r) % len(CAUSAL)]
        t["causal"].append({**key, "rank": r, "class_index": 100 + (u + r) % 900,
                            "class_name": PAYLOADS[1] if cfg.payload and r == 0 else name,
                            "drop": 1.6 - 0.5 * r - 0.05 * u, "images": cfg.topk})


def _global_map(rng: np.random.Generator, t: dict[str, list[dict]], layer: str,
                placed: list[tuple[str, list[dict]]]) -> None:
    """The layer map: a point per unit (at its top image) and one per accentuation near it;
    ``placed``: per unit, its top image and its accentuations."""
    for u, (top_image, owned) in enumerate(placed):
        centre = rng.uniform(0.1, 0.9, 2)
        t["layer_map"].append({"layer": layer, "unit": u, "kind": "unit", "rank": -1,
                               "image_id": top_image, "x": float(centre[0]),
                               "y": float(centre[1])})
        for a in owned:
            x, y = np.clip(centre + rng.normal(0, 0.04, 2), 0, 1)
            t["layer_map"].append({"layer": layer, "unit": u, "kind": "accent",
                                   "rank": a["rank"], "image_id": a["image_id"], "x": float(x),
                                   "y": float(y)})


def _vectors(cfg: FakeRunConfig, rng: np.random.Generator, t: dict[str, list[dict]]) -> None:
    """Pooled layer vectors (one entry per unit of the layer) of every image some unit of the
    layer lists, and of every accentuation."""
    for layer in _layers(cfg):
        listed = sorted({r["image_id"] for r in t["topk"] if r["layer"] == layer})
        for image_id in listed:
            t["vectors"].append({"layer": layer, "image_id": image_id,
                                 "vector": rng.gamma(1.5, 0.6, cfg.units).tolist()})
    for a in t["accents"]:
        t["accent_vectors"].append({"layer": a["layer"], "unit": a["unit"], "rank": a["rank"],
                                    "image_id": a["image_id"],
                                    "vector": rng.gamma(1.5, 0.6, cfg.units).tolist()})


def _bases(run: RunDir, cfg: FakeRunConfig, rng: np.random.Generator,
           t: dict[str, list[dict]]) -> None:
    """What the basis stage leaves (atlas.pipeline.basis.stage): ``basis/NAME.json`` with the
    keys :func:`atlas.models.basis.save` writes (no tensors: the site reads none) and the
    ``basis`` table's rows, each feature's strongest channels and nearest features."""
    for b in cfg.bases:
        names = b.feature_names()
        learned = b.kind == "sae"
        meta = {"format": 1, "name": b.name, "kind": b.kind, "layer": b.layer,
                "features": b.features, "channels": cfg.units,
                "activation": "topk" if learned else "none", "k": 4 if learned else 0,
                "input_scale": 1.0, "names": names}
        if learned:
            meta.update(model="fake-net", data="folder:/data/photos",
                        learned={"features": b.features, "k": 4, "steps": 100},
                        finetuned={"steps": 60, "encoder": False}, refine=3,
                        positions={"train": 40 * cfg.images, "held_out": 10 * cfg.images},
                        images={"train": cfg.images - cfg.images // 5,
                                "held_out": cfg.images // 5},
                        metrics={"explained_variance": 0.81, "l0": 4.0, "dead_fraction": 0.01,
                                 "dense_fraction": 0.0, "splice_top1_agreement": 0.93})
        atomic_write_json(run.basis_dir / f"{b.name}.json", meta)
        top = min(8, cfg.units)
        near = min(8, b.features - 1)
        for f in range(b.features):
            channels = rng.choice(cfg.units, top, replace=False)
            others = np.delete(np.arange(b.features), f)
            t["basis"].append({"layer": b.unit_layer, "unit": f,
                               "name": names[f] if names else "",
                               "channels": channels.tolist(),
                               "weights": np.sort(rng.normal(0, 0.3, top))[::-1].tolist(),
                               "nearest": rng.choice(others, near, replace=False).tolist(),
                               "similarity": np.sort(rng.uniform(0, 0.6, near))[::-1].tolist()})


def _manifest(cfg: FakeRunConfig, tables: frozenset[str]) -> dict[str, object]:
    note = PAYLOADS[0] + "</script><script>alert(1)</script>" if cfg.payload else "fake run"
    return {
        "name": PAYLOADS[1] if cfg.payload else cfg.name,
        "model": {"name": "fake-net", "weights": cfg.weights},
        "config": {"name": PAYLOADS[1] if cfg.payload else cfg.name,
                   "model": {"name": "fake-net", "weights": cfg.weights},
                   "note": note, "data": {"images": "folder:/data/photos"},
                   "mine": {"layers": _layers(cfg), "k": cfg.topk}, "topk": cfg.topk,
                   "accents": cfg.accents,
                   **({"classes": {"match": "loose", "label_map": "", "accents": 1, "failures": 1}}
                      if "predictions" in tables else {}),
                   **({"basis": {"kind": cfg.bases[0].kind, "layer": cfg.bases[0].layer,
                                 "name": cfg.bases[0].name}} if cfg.bases else {})},
        "versions": {"atlas": "0.1.0", "torch": "fake"},
        "stages": {s.name: {"status": "done", "seconds": 1.0} for s in stages()
                   if set(s.outputs) & tables},
        "skipped": [{"path": PAYLOADS[2] if cfg.payload else "broken.jpg", "reason": "truncated"}],
    }
