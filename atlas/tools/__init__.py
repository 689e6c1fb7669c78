"""Tools for one photo: accentuate it toward a unit, or explain its classification."""
