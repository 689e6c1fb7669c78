"""The basis stage: a layer's features (a learned sparse dictionary, a file, directions)."""
