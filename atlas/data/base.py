"""What every image source is: an indexable list of images with stable ids and records.

Split from :mod:`atlas.data.sources` so the Hugging Face sources (:mod:`atlas.data.hf`) and the
folder sources build on one base without importing each other.
"""

from __future__ import annotations

import hashlib
import unicodedata
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from atlas.data.decode import ImageInput
from atlas.names import readable

SPEC_FORMS = ("'bundled', a folder path, 'folder:PATH', 'hf:NAME[:SPLIT]', a saved dataset "
              "'PATH[:SPLIT]' or 'imagefolder:PATH'")


@dataclass(frozen=True)
class Record:
    """One row of ``images.parquet`` (width/height stay 0 until the image is decoded)."""

    image_id: str
    source: str
    path: str
    index: int
    label: str = ""
    group: str = ""
    width: int = 0
    height: int = 0
    author: str = ""
    license: str = ""
    credit_url: str = ""


def image_id(stem: str, key: str, digits: int = 8) -> str:
    """``readable(stem)-sha1(key)[:digits]``; ``key`` holds what makes the image unique in its
    source.

    The key is NFC-normalized so a name stored decomposed (macOS) and composed (Linux) hashes
    the same; it holds no absolute path, so moving the folder keeps every id.
    """
    digest = hashlib.sha1(unicodedata.normalize("NFC", key).encode()).hexdigest()
    return f"{readable(stem)}-{digest[:digits]}"


class ImageSource(ABC):
    """A deterministic, indexable list of images; picklable so DataLoader workers can read it."""

    key: str  # the ``source`` column: "bundled", "folder:<root>", "hf:<name>:<split>", ...
    split: str | None = None  # the dataset split read (Hugging Face sources), for the manifest

    @abstractmethod
    def __len__(self) -> int: ...

    @abstractmethod
    def open(self, index: int) -> ImageInput:
        """What :func:`atlas.data.decode.decode_rgb` reads for image ``index`` (a path or bytes)."""

    @abstractmethod
    def _describe(self, index: int) -> tuple[str, str, dict[str, str]]:
        """(name stem for the id, unique id key, Record fields) of image ``index``."""

    @abstractmethod
    def fingerprint(self) -> str:
        """A short hash that changes when the source's images change (for stage caching)."""

    @cached_property
    def records(self) -> list[Record]:
        """Every image's record, in order. Ids that collide (a 1-in-10^9-ish event for one
        pair of same-named files) get a longer hash, so ids are always unique in a source."""
        parts = [self._describe(i) for i in range(len(self))]
        ids = [image_id(stem, key) for stem, key, _ in parts]
        counts = Counter(ids)
        if len(counts) < len(ids):
            ids = [image_id(s, k, 16) if counts[x] > 1 else x
                   for x, (s, k, _) in zip(ids, parts, strict=True)]
        return [Record(image_id=x, source=self.key, index=i, **fields)
                for i, (x, (_, _, fields)) in enumerate(zip(ids, parts, strict=True))]

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("records", None)  # workers only open(); don't ship every record to each
        return state


def folder_group(rel: str, label: str) -> str:
    """The coarser class of a file from its folders: the top folder under the root when it
    differs from the label (``animals/dogs/x.jpg`` labelled dogs: animals), else ""."""
    top = rel.split("/", 1)[0] if "/" in rel else ""
    return top if top != label else ""
