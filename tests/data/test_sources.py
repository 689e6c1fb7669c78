"""Image sources, ids, robust decoding and the loader, on a generated corpus of bad files."""

from __future__ import annotations

import pickle
import re
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from atlas.data.decode import BadImage, DecodeConfig, crop_box, decode_rgb, preprocess, to_rgb
from atlas.data.loader import ImageDataset, make_loader
from atlas.data.sources import FolderSource, open_source
from atlas.errors import AtlasError
from atlas.pipeline import schema
from atlas.pipeline.mine.shard import records_frame
from tests.helpers.badimages import BLUE, RED, WHITE, encode, make_corpus, noise

SAFE_ID = re.compile(r"^[A-Za-z0-9_-]{1,40}-[0-9a-f]{8}$")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "photos"
    return root, make_corpus(root)


def kind(reason: str) -> str:
    return reason.split(":")[0]


def test_folder_lists_images_in_sorted_order_and_skips_the_rest(corpus):
    root, want = corpus
    src = open_source(str(root))
    assert isinstance(src, FolderSource) and src.key == f"folder:{root}"
    assert [r.path for r in src.records] == sorted(want)  # no .txt/.html/hidden/.git files
    assert [r.index for r in src.records] == list(range(len(want)))
    labels = {r.path: r.label for r in src.records}
    assert labels["sub/deeper/nested.png"] == "deeper" and labels["plain.bmp"] == ""
    groups = {r.path: r.group for r in src.records}  # the top folder, when not the label
    assert groups["sub/deeper/nested.png"] == "sub" and groups["plain.bmp"] == ""


def test_each_file_loads_or_is_skipped_with_its_reason(corpus):
    root, want = corpus
    src = open_source(str(root))
    items = [ImageDataset(src, 16)[i] for i in range(len(src))]
    got = {src.records[pos].path: ("ok" if t is not None else kind(reason))
           for pos, t, _, _, reason in items}
    assert got == want
    for _, t, w, h, reason in items:
        assert (t is None) == bool(reason)
        if t is not None:
            assert t.shape == (3, 16, 16) and t.dtype == torch.float32 and w > 0 and h > 0


def test_bomb_refused_from_header_without_touching_pillow_globals(corpus):
    root, _ = corpus
    before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImage, match=r"too large: 9000x9000 > 67108864"):
        decode_rgb(root / "bomb-mild.png")  # had it been decoded it would read as corrupt
    with pytest.raises(BadImage, match="too large"):
        decode_rgb(root / "bomb.png")
    assert before == Image.MAX_IMAGE_PIXELS
    with pytest.raises(BadImage, match="too large: 20x20 > 100"):
        decode_rgb(root / "sub/deeper/nested.png", DecodeConfig(max_pixels=100))
    assert decode_rgb(root / "tiny.png", DecodeConfig(min_side=1)).image.size == (1, 1)


def test_modes_become_sensible_rgb(corpus):
    root, _ = corpus
    dec = {name: decode_rgb(root / name) for name in
           ["cmyk.jpg", "gray16.png", "rgba.png", "palette.png", "rotated.jpg", "anim.gif"]}
    assert all(d.image.mode == "RGB" for d in dec.values())
    px = {k: np.asarray(d.image).astype(int) for k, d in dec.items()}
    assert np.abs(px["cmyk.jpg"][16, 16] - RED).max() < 40
    gray = px["gray16.png"][..., 0]  # a 0..65535 ramp: scaled, not clipped to white
    assert gray.min() == 0 and gray.max() == 255 and 120 <= np.median(gray) <= 135
    assert (px["rgba.png"][:, :16] == WHITE).all() and (px["rgba.png"][:, 16:] == RED).all()
    assert (px["palette.png"][:, :16] == WHITE).all() and (px["palette.png"][:, 16:] == BLUE).all()
    assert dec["rotated.jpg"].image.size == (24, 48)  # stored 48x24, EXIF orientation 6
    assert (dec["rotated.jpg"].width, dec["rotated.jpg"].height) == (24, 48)
    assert (px["anim.gif"] == RED).all()  # first frame of two


def test_bytes_and_high_bit_depth_inputs():
    with pytest.raises(BadImage, match="empty file"):
        decode_rgb(b"")
    assert decode_rgb(encode(noise(30, 10), "PNG")).image.size == (30, 10)
    ramp = Image.fromarray(np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10), "F")
    assert np.asarray(to_rgb(ramp))[..., 0].max() == 255
    wide = Image.fromarray(np.arange(100, dtype=np.int32).reshape(10, 10) * 100_000, "I")
    assert np.asarray(to_rgb(wide))[..., 0].max() == 255  # out of 16-bit range: stretched


def test_jpeg_draft_keeps_original_size_and_enough_pixels():
    data = encode(noise(800, 600), "JPEG")
    img, w, h = decode_rgb(data, draft_size=64)
    assert (w, h) == (800, 600) and min(img.size) >= 64 and img.size[0] < 800
    assert decode_rgb(data, DecodeConfig(draft=False), draft_size=64).image.size == (800, 600)


def test_ids_are_safe_unique_and_stable_across_copies(corpus, tmp_path):
    root, _ = corpus
    ids = [r.image_id for r in open_source(str(root)).records]
    assert all(SAFE_ID.match(x) for x in ids) and len(set(ids)) == len(ids)
    by_path = {r.path: r.image_id for r in open_source(str(root)).records}
    assert by_path["<script>alert(1)</script>.png"].startswith("script-")  # stem: 'script>'
    assert by_path['"onerror=alert(1).png'].startswith("onerror-alert-1-")
    moved = tmp_path / "elsewhere"
    shutil.copytree(root, moved)
    assert [r.image_id for r in open_source(str(moved)).records] == ids


def test_workers_give_the_same_batches_and_shards_partition(corpus):
    root, want = corpus
    src = open_source(str(root))

    def run(workers, positions=None):
        batches = list(make_loader(src, 24, 4, workers, positions))
        return ([p for b in batches for p in b.positions], torch.cat([b.images for b in batches]),
                [s for b in batches for s in b.skipped], [s for b in batches for s in b.sizes])

    pos0, img0, skip0, size0 = run(0)
    pos2, img2, skip2, size2 = run(2)
    assert pos0 == pos2 and skip0 == skip2 and size0 == size2 and torch.equal(img0, img2)
    assert img0.shape == (sum(v == "ok" for v in want.values()), 3, 24, 24)
    assert sorted(pos0 + [p for p, _ in skip0]) == list(range(len(src)))
    shards = [run(0, range(len(src))[rank::3]) for rank in range(3)]
    merged = sorted(p for pos, _, skip, _ in shards for p in pos + [q for q, _ in skip])
    assert merged == list(range(len(src)))
    with pytest.raises(AtlasError, match="out of range"):
        make_loader(src, 24, 4, 0, [len(src)])


def test_preprocess_is_antialiased_and_centre_cropped():
    checker = Image.fromarray((np.indices((256, 512)).sum(0) % 2 * 255).astype(np.uint8))
    t = preprocess(checker.convert("RGB"), 32)
    assert t.shape == (3, 32, 32) and t.min() >= 0 and t.max() <= 1
    assert abs(t.mean().item() - 0.5) < 0.02 and t.std().item() < 0.05  # nearest: 0/1 pixels
    stripes = Image.new("RGB", (300, 100), RED)
    stripes.paste(BLUE, (100, 0, 200, 100))  # only the centre square survives the crop
    assert torch.allclose(preprocess(stripes, 16)[:, 4:12, 4:12].mean((1, 2)),
                          torch.tensor([0.0, 0.0, 1.0]), atol=1e-3)
    box = crop_box(300, 100, 50)
    assert box.box == (100.0, 0.0, 200.0, 100.0) and box.to_original(25, 50) == (150.0, 100.0)


def test_bundled_photos_have_labels_and_credits():
    src = open_source("bundled")
    recs = src.records
    assert len(recs) == 254 and src.key == "bundled"
    assert all(r.label and r.author and r.license and r.path.endswith(".webp") for r in recs)
    groups = {r.path: r.group for r in recs}  # CREDITS.csv's category
    assert groups["tools-scissors2.webp"] == "tools" and all(groups.values())
    assert sum(r.credit_url.startswith("https://") for r in recs) > 100
    batch = next(iter(make_loader(src, 64, 3, 0, [0, 100, 253])))
    assert batch.positions == [0, 100, 253] and not batch.skipped
    frame = records_frame(recs, batch.positions, batch.sizes)
    assert list(frame.columns) == list(schema.TABLES["images"]) and (frame.width > 0).all()
    assert frame.group.tolist() == [recs[p].group for p in (0, 100, 253)]
    assert frame.image_id.tolist() == [recs[p].image_id for p in (0, 100, 253)]


def _tiny_dataset():
    import datasets

    images = [noise(20, 16, i) for i in range(5)]
    feats = datasets.Features({"image": datasets.Image(),
                               "label": datasets.ClassLabel(names=["cat", "dog"])})
    return datasets.Dataset.from_dict({"image": images, "label": [0, 1, 0, 1, 1]},
                                      features=feats)


def test_saved_hf_dataset_is_detected_and_loads_in_workers(tmp_path):
    import datasets

    _tiny_dataset().save_to_disk(str(tmp_path / "ds"))
    src = open_source(str(tmp_path / "ds"))
    assert [r.label for r in src.records] == ["cat", "dog", "cat", "dog", "dog"]
    assert all(SAFE_ID.match(r.image_id) and r.path == "" for r in src.records)
    assert [r.image_id for r in open_source(str(tmp_path / "ds")).records] == \
        [r.image_id for r in src.records]
    clone = pickle.loads(pickle.dumps(src))
    b0, b2 = (next(iter(make_loader(s, 16, 8, w))) for s, w in [(src, 0), (clone, 2)])
    assert b0.positions == list(range(5)) and b0.sizes == [(20, 16)] * 5
    assert torch.equal(b0.images, b2.images)

    datasets.DatasetDict({"train": _tiny_dataset(), "test": _tiny_dataset().select([0, 1])}) \
        .save_to_disk(str(tmp_path / "dd"))
    assert len(open_source(str(tmp_path / "dd"))) == 5
    assert len(open_source(str(tmp_path / "dd"), split="test")) == 2
    with pytest.raises(AtlasError, match="unknown split 'tset'; closest: test"):
        open_source(str(tmp_path / "dd"), split="tset")
    with pytest.raises(AtlasError, match="unknown image column 'img'"):
        open_source(str(tmp_path / "ds"), image_column="img")


def test_saved_dataset_takes_its_only_string_column_as_the_label(tmp_path):
    import datasets

    images = [noise(20, 16, i) for i in range(3)]
    datasets.Dataset.from_dict({"image": images, "kind": ["fish", "tool", "fish"],
                                "n": [1, 2, 3]}).save_to_disk(str(tmp_path / "one"))
    assert [r.label for r in open_source(str(tmp_path / "one")).records] == \
        ["fish", "tool", "fish"]
    datasets.Dataset.from_dict({"image": images, "kind": ["a"] * 3, "note": ["b"] * 3}) \
        .save_to_disk(str(tmp_path / "two"))  # two candidates: ambiguous, none is taken
    assert [r.label for r in open_source(str(tmp_path / "two")).records] == [""] * 3
    assert [r.label for r in open_source(str(tmp_path / "two"), label_column="note").records] \
        == ["b"] * 3


def test_imagefolder_labels_from_class_folders(tmp_path, monkeypatch, capfd):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "cache")
    for i, cls in enumerate(["cat", "cat", "dog"]):
        (tmp_path / "imf" / cls).mkdir(parents=True, exist_ok=True)
        noise(16, 16, i).save(tmp_path / "imf" / cls / f"{i}.png")
    capfd.readouterr()
    src = open_source(f"imagefolder:{tmp_path / 'imf'}")
    err = capfd.readouterr().err  # local files: no "Downloading data" / "Generating" bars
    assert "Downloading" not in err and "Generating" not in err
    assert datasets.is_progress_bar_enabled()  # switched back on for everything else
    assert sorted(r.label for r in src.records) == ["cat", "cat", "dog"]
    assert sorted(r.path for r in src.records) == ["cat/0.png", "cat/1.png", "dog/2.png"]
    assert all(r.group == "" for r in src.records)  # class folders at the top: no coarser group
    batch = next(iter(make_loader(src, 8, 4, 0)))
    assert len(batch.positions) == 3 and not batch.skipped


def test_hub_spec_calls_load_dataset_with_name_and_split(monkeypatch):
    import datasets

    calls = []

    def fake(path, name=None, **kw):
        calls.append((path, name, kw))
        return _tiny_dataset()

    monkeypatch.setattr(datasets, "load_dataset", fake)
    src = open_source("hf:org/pets:validation")
    assert calls == [("org/pets", None, {"split": "validation"})]
    assert src.key == "hf:org/pets:validation" and src.records[0].image_id.startswith("pets-0-")
    assert src.records[0].credit_url == "https://huggingface.co/datasets/org/pets"
    open_source("hf:org/pets", config="small")
    assert calls[-1] == ("org/pets", "small", {"split": "train"})


@pytest.mark.parametrize("spec, message", [
    ("bundeld", r"did you mean 'bundled'\?\); valid: 'bundled', a folder path"),
    ("no/such/dir", "is not a folder or a known form; valid:"),
    ("hf:", "valid: 'bundled'"),
])
def test_bad_specs_name_the_valid_forms(spec, message):
    with pytest.raises(AtlasError, match=message):
        open_source(spec)


def test_bad_folder_inputs(corpus, tmp_path):
    root, _ = corpus
    with pytest.raises(AtlasError, match="is a file, not a folder"):
        open_source(str(root / "plain.bmp"))
    with pytest.raises(AtlasError, match="apply only to Hugging Face"):
        open_source(str(root), image_column="image")
    (tmp_path / "empty").mkdir()
    with pytest.raises(AtlasError, match="no images in"):
        open_source(str(tmp_path / "empty"))


def test_colliding_ids_get_a_longer_hash(monkeypatch, corpus):
    from atlas.data import base

    real = base.image_id  # 1 hex digit for 20 files: collisions are certain (pigeonhole)
    monkeypatch.setattr(base, "image_id",
                        lambda stem, key, digits=8: real("same", key, 1 if digits == 8 else 16))
    ids = [r.image_id for r in open_source(str(corpus[0])).records]
    assert len(set(ids)) == len(ids) == 20
    assert any(len(x) == len("same-") + 16 for x in ids)
