"""atlas: browsable atlases of what the latent units of vision models respond to.

The pipeline is a chain of small stages (mine, select, accentuate, embed, render) that talk
to each other only through files in a run directory; see :mod:`atlas.pipeline.schema`.
"""

__version__ = "0.1.0"
