"""Measurements, not tests: run each as python -m benchmarks.NAME --help."""
