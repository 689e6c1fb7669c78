"""The build's stages over a run directory: mine, select, visualize, accentuate, embed."""
