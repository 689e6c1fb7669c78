"""Models: the zoo, the bundled EfficientNet-Lite0, layer hooks, runtime and distributed glue."""
