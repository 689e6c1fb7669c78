"""The embed stages: per-unit manifestation maps and the layer map."""
