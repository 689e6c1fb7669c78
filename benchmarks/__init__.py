"""Measurements, not tests (pytest does not collect them): run each from the checkout's root as
``python -m benchmarks.NAME --help``. ``make bench`` runs the quick ones, ``make bench-scale``
the ResNet-50 scale check. Figures they print belong in docs/benchmarks.md beside the command."""
