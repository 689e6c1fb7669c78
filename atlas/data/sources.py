"""Where images come from and what they are called: folders, Hugging Face datasets, bundled photos.

A source lists its images in a deterministic order (``index`` = position in that order) and
names each with a stable ``image_id`` that is the same on every run and machine, so tables,
media files and site URLs from different runs and shards line up. Sources only *locate* images
(``open(index)`` gives a path or bytes); decoding, with its limits and skip reasons, lives in
:mod:`atlas.data.decode` and runs the same in DataLoader workers
(:mod:`atlas.data.loader`) for every
kind of source. Hugging Face datasets are in :mod:`atlas.data.hf`, imported only when used.
"""

from __future__ import annotations

import csv
import os
import unicodedata
from pathlib import Path

from atlas.data import PHOTOS
from atlas.data.base import SPEC_FORMS, ImageSource, folder_group
from atlas.data.decode import ImageInput
from atlas.errors import AtlasError, closest
from atlas.io.hashing import stable_hash

IMAGE_SUFFIXES = (".bmp", ".gif", ".jpe", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")
def list_images(root: Path) -> list[str]:
    """Image files under ``root`` as relative POSIX paths, sorted (NFC) for a fixed order.

    Hidden files and folders (.git, macOS ``._x.jpg`` resource forks) are ignored, and so are
    symlinked folders (os.walk does not follow them: no loops, no escaping the root).
    """
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        rel = Path(dirpath).relative_to(root)
        found += [(rel / f).as_posix() for f in filenames
                  if not f.startswith(".") and Path(f).suffix.lower() in IMAGE_SUFFIXES]
    return sorted(found, key=lambda p: unicodedata.normalize("NFC", p))


def read_credits(root: Path) -> dict[str, dict[str, str]]:
    """Optional ``CREDITS.csv`` (file,label,author,license,source[,category,...]) -> fields per
    file; ``category`` becomes the coarser ``group``."""
    path = root / "CREDITS.csv"
    if not path.is_file():
        return {}
    with path.open(newline="", encoding="utf-8") as f:
        return {row["file"]: {"label": row.get("label") or "", "group": row.get("category") or "",
                              "author": row.get("author") or "",
                              "license": row.get("license") or "",
                              "credit_url": row.get("source") or ""}
                for row in csv.DictReader(f) if row.get("file")}


class FolderSource(ImageSource):
    """Every image file under a folder, recursively. Label: CREDITS.csv, else the parent folder."""

    def __init__(self, root: str | os.PathLike[str], key: str | None = None,
                 id_key: str = "folder"):
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise AtlasError(f"image folder {str(self.root)!r} does not exist")
        self.files = list_images(self.root)
        if not self.files:
            raise AtlasError(f"no images in {str(self.root)!r} (looked for "
                             f"{', '.join(IMAGE_SUFFIXES)})")
        self.key = key or f"folder:{root}"
        self.id_key = id_key
        self.credits = read_credits(self.root)

    def __len__(self) -> int:
        return len(self.files)

    def open(self, index: int) -> ImageInput:
        return self.root / self.files[index]

    def _describe(self, index: int) -> tuple[str, str, dict[str, str]]:
        rel = self.files[index]
        parent = rel.rsplit("/", 1)[0] if "/" in rel else ""
        fields = {"label": parent.rsplit("/", 1)[-1], **self.credits.get(rel, {})}
        fields["group"] = fields.get("group") or folder_group(rel, fields["label"])
        return Path(rel).stem, f"{self.id_key}\0{rel}", {"path": rel, **fields}

    def fingerprint(self) -> str:
        stats = [(f, (st := (self.root / f).stat()).st_size, st.st_mtime_ns) for f in self.files]
        return stable_hash([self.id_key, stats, self.credits])


def bundled() -> FolderSource:
    """The 254 credited sample photos shipped inside the package (offline default)."""
    return FolderSource(PHOTOS, key="bundled", id_key="bundled")


class Limited(ImageSource):
    """The first ``n`` images of another source (``data.limit``)."""

    def __init__(self, inner: ImageSource, n: int):
        self.inner, self.n, self.key = inner, min(n, len(inner)), inner.key
        self.split = inner.split

    def __len__(self) -> int:
        return self.n

    def open(self, index: int):
        return self.inner.open(index)

    def _describe(self, index: int):
        return self.inner._describe(index)

    def fingerprint(self) -> str:
        return stable_hash([self.inner.fingerprint(), self.n])


def open_source(spec: str, *, image_column: str | None = None, label_column: str | None = None,
                split: str | None = None, config: str | None = None) -> ImageSource:
    """Open an image source from its command-line spec; see ``SPEC_FORMS`` for the forms.

    A folder holding a ``datasets`` ``save_to_disk`` output is opened as that dataset. Column,
    split and config options apply only to Hugging Face sources.
    """
    from atlas.data.hf import disk_source, hub_source, imagefolder_source, is_saved

    spec = str(spec).strip()
    kind, _, rest = spec.partition(":")
    path = Path(spec).expanduser()
    hf_opts = {"image_column": image_column, "label_column": label_column}
    if kind == "hf" and rest:
        name, _, spec_split = rest.partition(":")
        return hub_source(name, spec_split or split or "train", config, **hf_opts)
    if kind == "imagefolder" and rest:
        return imagefolder_source(rest, split or "train", **hf_opts)
    if spec != "bundled" and path.is_dir() and is_saved(path):
        return disk_source(path, split, **hf_opts)
    saved, _, spec_split = spec.rpartition(":")  # PATH:SPLIT of a saved DatasetDict
    if saved and spec_split and Path(saved).expanduser().is_dir() \
            and is_saved(Path(saved).expanduser()):
        if split is not None and split != spec_split:
            raise AtlasError(f"image source {spec!r} names split {spec_split!r} but data.split "
                             f"is {split!r}; give one of them")
        return disk_source(Path(saved).expanduser(), spec_split, **hf_opts)
    if any(v is not None for v in (image_column, label_column, split, config)):
        raise AtlasError(f"image_column/label_column/split/config apply only to Hugging Face "
                         f"sources, not {spec!r}")
    if spec == "bundled":
        return bundled()
    if kind == "folder" and rest:  # explicit: a plain folder even if it holds a saved dataset
        return FolderSource(rest)
    if path.is_dir():
        return FolderSource(path)
    near = closest(spec, ["bundled"])
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    what = "is a file, not a folder" if path.exists() else "is not a folder or a known form"
    raise AtlasError(f"image source {spec!r} {what}{hint}; valid: {SPEC_FORMS}")
