"""The accentuate stage: every chosen (unit, seed) pair, batched and resumable."""
