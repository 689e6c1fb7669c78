"""What several test modules share besides fixtures: fake runs and validation results, image
corpora, clustered vectors, and the helpers that run one stage alone."""
