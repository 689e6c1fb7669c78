"""Names made safe for files, URLs and HTML: the one slug every layer of atlas uses.

It lives at the top of the package because the data layer (image ids), the evaluation (chart
files) and the site (page paths) all need it and none should import another to get it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_SAFE = re.compile(r"[A-Za-z0-9._-]+")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9_]+")


def readable(text: str, limit: int = 40, empty: str = "img") -> str:
    """The readable part of a name: ASCII letters, digits, ``_`` and ``-`` only (accents folded,
    other runs become ``-``), at most ``limit`` chars. Lossy, so only for names made unique by
    something else (an image id adds a hash of its source key)."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    out = _UNSAFE_RUN.sub("-", ascii_text).strip("-_")[:limit].strip("-_")
    return out or empty


def slug(name: object, limit: int = 60) -> str:
    """A file-name-safe, collision-free form of ``name`` (a layer name, an image id, a stem).

    Names made only of ``[A-Za-z0-9._-]`` (like ``_blocks.10``), not hidden and not longer than
    ``limit``, stay as they are, so URLs stay readable and stable; anything else becomes its
    readable part plus a short hash of the original, so two different names never meet.
    """
    name = str(name)
    if _SAFE.fullmatch(name) and not name.startswith(".") and len(name) <= limit:
        return name
    digest = hashlib.sha1(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"{readable(name, limit, 'x')}-{digest}"
