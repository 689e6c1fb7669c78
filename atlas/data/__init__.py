"""Image sources, decoding, batched loading and media files; also the bundled photos."""

from pathlib import Path

PHOTOS = Path(__file__).resolve().parent / "photos"
"""The bundled photos (``--data bundled``) and their ``CREDITS.csv``."""
