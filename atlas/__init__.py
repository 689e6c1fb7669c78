"""atlas: browsable atlases of what the latent units of vision models respond to.

The pipeline is a chain of small stages (mine, select, accentuate, embed, render) that talk
to each other only through files in a run directory; see :mod:`atlas.pipeline.schema`.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["Atlas", "__version__"]


def __getattr__(name: str) -> Any:
    """``atlas.Atlas``, the Python API (:mod:`atlas.api`), imported on first use so that
    ``import atlas`` and ``atlas --help`` stay light (no torch)."""
    if name in ("Atlas", "Accentuation"):
        from atlas import api

        return getattr(api, name)
    raise AttributeError(f"module 'atlas' has no attribute {name!r}")
