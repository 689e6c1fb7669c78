"""The config layer stays light: a command checks its settings before torch loads (a bad value
is one line at once), so no module of ``atlas.config`` may import torch, even indirectly."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import atlas.config

CHECK = """
import importlib, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
heavy = sorted(m for m in ("torch", "torchvision", "numpy", "pandas") if m in sys.modules)
print(",".join(heavy))
"""


def test_importing_every_config_module_loads_no_torch() -> None:
    names = [f"atlas.config.{m.name}" for m in pkgutil.iter_modules(atlas.config.__path__)]
    assert len(names) >= 8  # the walk found the package's modules
    out = subprocess.run([sys.executable, "-c", CHECK, *names], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "", f"atlas.config imports {out.stdout.strip()}"
