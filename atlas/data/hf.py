"""Hugging Face ``datasets`` as image sources: hub datasets, ``save_to_disk`` output, imagefolder.

Beside :mod:`atlas.data.sources` (both build on :mod:`atlas.data.base`); ``datasets`` is
imported lazily, only when one of these sources is opened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from atlas.data.base import SPEC_FORMS, ImageSource, folder_group
from atlas.data.decode import ImageInput
from atlas.errors import AtlasError, notice, unknown
from atlas.io.hashing import stable_hash
from atlas.names import readable


class HFSource(ImageSource):
    """A Hugging Face ``datasets.Dataset``; images decoded by us (limits, reasons), not by it.

    The image column is read with ``Image(decode=False)`` so a bomb or a broken file in the
    dataset reaches :func:`atlas.data.decode.decode_rgb` as bytes instead of failing inside
    ``datasets``. Only the image and label columns are kept (and pickled to workers).
    """

    def __init__(self, ds: Any, key: str, id_key: str, stem: str, credit_url: str = "",
                 image_column: str | None = None, label_column: str | None = None,
                 root: Path | None = None):
        import datasets

        feats = ds.features
        images = [c for c, f in feats.items() if isinstance(f, datasets.Image)]
        labels = [c for c, f in feats.items() if isinstance(f, datasets.ClassLabel)]
        if not labels:  # exactly one string column (not the image's) is taken as the label
            text = [c for c, f in feats.items() if c != image_column
                    and isinstance(f, datasets.Value) and f.dtype in ("string", "large_string")]
            labels = text if len(text) == 1 else []
        self.image_column = _column(feats, image_column, images, "image")
        self.label_column = _column(feats, label_column, labels, "label", required=False)
        keep = [c for c in (self.image_column, self.label_column) if c]
        self.ds = ds.select_columns(keep).cast_column(self.image_column,
                                                      datasets.Image(decode=False))
        self.key, self.id_key, self.stem = key, id_key, readable(stem, 28)
        self.split = str(ds.split) if getattr(ds, "split", None) else None
        self.root = root  # imagefolder: paths relative to it, groups from its folders
        self.credit = {"license": ds.info.license or "",
                       "credit_url": credit_url or ds.info.homepage or ""}

    def __len__(self) -> int:
        return len(self.ds)

    def open(self, index: int) -> ImageInput:
        cell = self.ds[index][self.image_column] or {}
        if cell.get("bytes"):
            return cell["bytes"]
        if cell.get("path"):
            return Path(cell["path"])
        raise ValueError("row has no image data")

    @cached_property
    def _labels(self) -> list[str]:
        if not self.label_column:
            return [""] * len(self)
        feature, values = self.ds.features[self.label_column], list(self.ds[self.label_column])
        names = getattr(feature, "names", None)
        if names is not None:
            return [names[v] if v is not None and 0 <= v < len(names) else "" for v in values]
        return ["" if v is None else str(v) for v in values]

    @cached_property
    def _paths(self) -> list[str]:
        """The file each row came from, where the dataset exposes it: relative to an
        imagefolder's root, else only the file name (an absolute path of the machine that
        saved the dataset says nothing to a reader). Read from the path field alone, so
        embedded image bytes are never loaded."""
        import pyarrow.compute as pc

        paths = pc.struct_field(self.ds.data.column(self.image_column), "path")
        if self.ds._indices is not None:  # a select()ed or shuffled dataset
            paths = paths.take(self.ds._indices.column(0))
        out = []
        for p in paths.to_pylist():
            rel = Path(p or "")
            if self.root is not None and p and not rel.is_relative_to(self.root):
                rel = rel.resolve()  # the root was resolved; the dataset's paths may not be
            inside = self.root is not None and rel.is_relative_to(self.root)
            out.append(rel.relative_to(self.root).as_posix() if inside else rel.name)
        return out

    def _describe(self, index: int) -> tuple[str, str, dict[str, str]]:
        path, label = self._paths[index], self._labels[index]
        group = folder_group(path, label) if self.root is not None else ""
        fields = {"path": path, "label": label, "group": group, **self.credit}
        return f"{self.stem}-{index}", f"{self.id_key}\0{index}", fields

    def fingerprint(self) -> str:
        return stable_hash([self.id_key, self.ds._fingerprint, len(self)])

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_labels", None)
        state.pop("_paths", None)
        return state


def _column(feats: Any, given: str | None, found: list[str], what: str,
            required: bool = True) -> str | None:
    """The column the user named (must exist) or the first of the right feature type."""
    if given is not None:
        if given not in feats:
            raise unknown(f"{what} column", given, feats)
        return given
    if required and not found:
        raise AtlasError(f"no {what} column (a datasets.Image feature) among: {', '.join(feats)}")
    return found[0] if found else None


def is_saved(path: Path) -> bool:
    """A ``save_to_disk`` output: a Dataset (state.json + dataset_info.json) or a DatasetDict."""
    return (path / "dataset_dict.json").is_file() or (
        (path / "state.json").is_file() and (path / "dataset_info.json").is_file())


def _hf_call(what: str, fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a datasets loader, turning its many failure types into one AtlasError line."""
    try:
        return fn(*args, **kwargs)
    except AtlasError:
        raise
    except Exception as e:
        msg = str(e).strip().split("\n")[0][:200]
        raise AtlasError(f"cannot load {what}: {type(e).__name__}: {msg}") from None


def hub_source(name: str, split: str = "train", config: str | None = None,
               **columns: str | None) -> HFSource:
    """A dataset on the Hugging Face Hub (downloaded and cached by ``datasets``)."""
    import datasets

    ds = _hf_call(f"Hugging Face dataset {name!r} split {split!r}", datasets.load_dataset,
                  name, config, split=split)
    key = f"hf:{name}:{split}" + (f":{config}" if config else "")
    return HFSource(ds, key, key, name.rsplit("/", 1)[-1],
                    f"https://huggingface.co/datasets/{name}", **columns)


def disk_source(path: Path, split: str | None = None, **columns: str | None) -> HFSource:
    """A ``save_to_disk`` dataset; for a DatasetDict, ``split`` (default: train or the only one)."""
    import datasets

    ds = _hf_call(f"saved dataset {str(path)!r}", datasets.load_from_disk, str(path))
    if isinstance(ds, datasets.DatasetDict):
        names = list(ds)
        if split is None and len(names) > 1:
            split = "train" if "train" in names else None
            if split is None:
                raise AtlasError(f"saved dataset {str(path)!r} holds splits {', '.join(names)}; "
                                 f"name one as {str(path)}:SPLIT or with data.split")
            notice(f"saved dataset {path} holds splits {', '.join(names)}: reading 'train' "
                   f"(name another as {path}:SPLIT or with data.split)")
        split = split or names[0]
        if split not in ds:
            raise unknown("split", split, names)
        ds = ds[split]
    elif split is not None and split != (str(ds.split) if ds.split else split):
        raise AtlasError(f"saved dataset {str(path)!r} holds only split {ds.split!r}, "
                         f"not {split!r}")
    split = split or (str(ds.split) if ds.split else "")
    src = HFSource(ds, f"hf-disk:{path}:{split}", f"hf-disk:{split}", path.name, **columns)
    src.split = split or None
    return src


def imagefolder_source(path: str | os.PathLike[str], split: str = "train",
                       **columns: str | None) -> HFSource:
    """A folder read by ``datasets``' imagefolder builder (class sub-folders become labels)."""
    import datasets

    root = Path(path).expanduser()
    if not root.is_dir():
        raise AtlasError(f"imagefolder {str(root)!r} is not a folder; valid: {SPEC_FORMS}")
    with _quiet(datasets):  # local files: no "Downloading data" / "Generating" bars
        ds = _hf_call(f"imagefolder {str(root)!r}", datasets.load_dataset, "imagefolder",
                      data_dir=str(root), split=split)
    return HFSource(ds, f"imagefolder:{root}:{split}", f"imagefolder:{split}", root.name,
                    root=root.resolve(), **columns)


@contextlib.contextmanager
def _quiet(datasets: Any) -> Iterator[None]:
    """``datasets``' progress bars off for the block, restored after (a global switch)."""
    was = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was:
            datasets.enable_progress_bars()

