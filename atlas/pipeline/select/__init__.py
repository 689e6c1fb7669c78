"""The select stage: which of a unit's top images to accentuate."""
