"""Media for the site: find natural images, mirror run media into the site, make thumbnails.

The site must be self-contained (it never points outside its folder) yet cheap to rebuild, so run
media are copied under the same relative path and skipped when already current (copies, not hard
links: a site edited or re-permissioned for publishing must not change the run's files);
only the card thumbnails are re-encoded. Photos that live outside the run (bundled or folder
sources without a copy in ``media/images/``) are re-encoded to at most 512 px, never copied whole.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from PIL import Image

from atlas.data import PHOTOS
from atlas.site.safe import safe_relpath, slug

THUMB_TAGS = "thumbs/tags.json"  # what each card thumbnail was made from (hashed)
NATURAL_DIR = "media/images"  # where stages put natural-image copies: media/images/<id>.webp
_EXTS = (".webp", ".png", ".jpg", ".jpeg")


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def find_natural(run_root: Path, image_id: str, row: dict[str, Any],
                 seed_media: str | None) -> str | None:
    """Where a natural image's pixels are: a run-relative path, an absolute path, or None.

    Tried in order: ``media/images/<image_id>.*`` in the run, the seed media of an accentuation
    of it, the bundled photo, the file of a folder source. Hub datasets have no file; their
    images show only when a stage copied them into the run.
    """
    if image_id and "/" not in image_id and "\\" not in image_id and image_id not in (".", ".."):
        for ext in _EXTS:
            if (run_root / NATURAL_DIR / f"{image_id}{ext}").is_file():
                return f"{NATURAL_DIR}/{image_id}{ext}"
    seed = run_root / seed_media if seed_media else None
    if seed is not None and _inside(seed, run_root) and seed.is_file():
        return seed_media
    source, path = str(row.get("source") or ""), str(row.get("path") or "")
    root = PHOTOS if source == "bundled" else Path(source[7:]) if source.startswith(
        "folder:") else None
    if root is not None and path:
        candidate = root / path
        if _inside(candidate, root) and candidate.is_file():
            return str(candidate.resolve())
    return None


def _open_rgb(path: Path, max_side: int) -> Image.Image:
    img = Image.open(path)
    img.draft("RGB", (max_side, max_side))  # JPEG: decode at reduced size, much faster
    keep_alpha = img.mode in ("RGBA", "LA", "PA") or "transparency" in img.info
    img = img.convert("RGBA" if keep_alpha else "RGB")
    img.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return img


def encode_webp(path: Path, max_side: int, quality: int = 80) -> bytes:
    """``path`` re-encoded as a WebP of at most ``max_side`` pixels (alpha kept)."""
    buf = io.BytesIO()
    _open_rgb(path, max_side).save(buf, format="WEBP", quality=quality, method=4)
    return buf.getvalue()


def _replace_with(dest: Path, make: Any) -> None:
    """Create ``dest`` through a temporary name and an atomic rename (no half files)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        make(tmp)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


class SiteMedia:
    """Places media into a site folder and remembers every file it wrote (for stale cleanup)."""

    def __init__(self, run_root: Path, site_root: Path, thumb_px: int = 128,
                 external_px: int = 512):
        self.run_root, self.site_root = Path(run_root), Path(site_root)
        self.thumb_px, self.external_px = thumb_px, external_px
        self.written: set[str] = set()
        self._placed: dict[str, str | None] = {}

    def _source(self, media: str) -> Path:
        p = Path(media)
        return p if p.is_absolute() else self.run_root / media

    def place(self, media: str | None) -> str | None:
        """The site-relative path of ``media`` (copied in on first use), None if unavailable."""
        if not media:
            return None
        if media not in self._placed:
            self._placed[media] = self._place(media)
        return self._placed[media]

    def _place(self, media: str) -> str | None:
        src = self._source(media)
        external = Path(media).is_absolute()
        if not src.is_file() or not (external or _inside(src, self.run_root)):
            return None  # a missing file, or a relative path that escapes the run
        if external:  # a photo outside the run: re-encode, never copy whole
            tag = hashlib.sha1(media.encode("utf-8", "surrogatepass")).hexdigest()[:8]
            rel = f"media/ext/{slug(src.stem)[:40]}-{tag}.webp"
            self._make(rel, src, lambda t: t.write_bytes(encode_webp(src, self.external_px)))
            return rel
        rel = safe_relpath(media)
        rel = rel if rel.startswith("media/") else f"media/{rel}"
        self._make(rel, src, lambda t: shutil.copyfile(src, t))
        return rel

    def _make(self, rel: str, src: Path, make: Any) -> None:
        dest = self.site_root / rel
        self.written.add(rel)
        if dest.is_file() and dest.stat().st_mtime >= src.stat().st_mtime:
            return  # already current: rebuilding a site only touches what changed
        _replace_with(dest, make)

    def unit_thumbs(self, faces: dict[str, str | None]) -> set[str]:
        """Card thumbnails at the paths given (``{site path: face media}``; the index derives a
        unit's path from the unit, so its data need not spell paths out). Each distinct face is
        encoded once (threads: Pillow releases the GIL while coding). A thumbnail is remade
        when its face or the face's file changed since it was made: ``THUMB_TAGS`` keeps a short
        hash of each (a unit's face can turn to an older file, which a time check would miss;
        hashes, so a published site does not list the run's paths). Returns the paths made."""
        tags_path = self.site_root / THUMB_TAGS
        try:
            old = json.loads(tags_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        old = old if isinstance(old, dict) else {}
        tags: dict[str, str] = {}
        for rel, media in faces.items():
            src = self._source(media) if media else None
            if src is None or not src.is_file() or not (
                    Path(media).is_absolute() or _inside(src, self.run_root)):
                continue
            st = src.stat()
            key = f"{media}\0{st.st_mtime_ns}\0{st.st_size}\0{self.thumb_px}"
            tags[rel] = hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        todo: dict[str, list[str]] = {}
        for rel, tag in tags.items():
            if old.get(rel) != tag or not (self.site_root / rel).is_file():
                todo.setdefault(str(faces[rel]), []).append(rel)

        def one(item: tuple[str, list[str]]) -> None:
            media, rels = item
            data = encode_webp(self._source(media), self.thumb_px, 75)
            for rel in rels:
                _replace_with(self.site_root / rel, lambda t: t.write_bytes(data))

        with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
            list(pool.map(one, todo.items()))
        _replace_with(tags_path, lambda t: t.write_text(json.dumps(tags, sort_keys=True)))
        self.written.update(tags)
        self.written.add(THUMB_TAGS)
        return set(tags)


class InlineMedia:
    """Media as data: URIs for the self-contained report (downscaled so the file stays small)."""

    max_animation_bytes = 1_500_000  # larger animations are inlined as their first frame

    def __init__(self, run_root: Path, max_px: int = 256):
        self.run_root, self.max_px = Path(run_root), max_px
        self._cache: dict[str, str | None] = {}

    def place(self, media: str | None) -> str | None:
        if not media:
            return None
        if media not in self._cache:
            src = Path(media) if Path(media).is_absolute() else self.run_root / media
            ok = src.is_file() and (Path(media).is_absolute() or _inside(src, self.run_root))
            self._cache[media] = self._encode(src) if ok else None
        return self._cache[media]

    def _encode(self, src: Path) -> str:
        with Image.open(src) as img:
            fmt, animated = img.format or "", getattr(img, "is_animated", False)
        if animated and fmt in ("WEBP", "GIF") and src.stat().st_size <= self.max_animation_bytes:
            data, mime = src.read_bytes(), f"image/{fmt.lower()}"  # keep it moving
        else:
            data, mime = encode_webp(src, self.max_px), "image/webp"
        return f"data:{mime};base64," + base64.b64encode(data).decode()
