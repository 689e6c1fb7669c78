"""A folder of finished parts: the resume point of a long stage that works in chunks.

A stage that accentuates or visualizes batch after batch writes each finished batch as one file
(atomically), named by the batch; a rerun skips every part that exists, so a killed stage
resumes where it stopped, and the stage's tables are made from whatever parts exist (during a
build too, so the site can show what is done). Parts never change once written, so each is read
at most once per process.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import Any, Generic, TypeVar

from atlas.io.files import atomic_write_with

T = TypeVar("T")


class PartStore(Generic[T]):
    """Parts under ``folder``, each ``<name><suffix>``, written by ``dump`` and read by ``load``."""

    def __init__(self, folder: Path, suffix: str, dump: Callable[[T, io.BytesIO], Any],
                 load: Callable[[Path], T]):
        self.folder, self.suffix, self._dump, self._load = Path(folder), suffix, dump, load
        self._cache: dict[str, T] = {}

    def path(self, name: str) -> Path:
        return self.folder / f"{name}{self.suffix}"

    def has(self, name: str) -> bool:
        return name in self._cache or self.path(name).exists()

    def save(self, name: str, part: T) -> None:
        atomic_write_with(self.path(name), lambda buf: self._dump(part, buf))

    def get(self, name: str) -> T | None:
        """The part ``name``, or None while it is not done (by any process)."""
        if name not in self._cache:
            path = self.path(name)
            if not path.exists():
                return None
            self._cache[name] = self._load(path)
        return self._cache[name]
