"""Every package of the source tree ships in the wheel: setuptools' package list is explicit, so
a new subpackage left out of it installs a wheel that fails on import."""

from __future__ import annotations

from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_every_subpackage_is_in_the_wheel() -> None:
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "atlas").rglob("__init__.py")}
    assert {"atlas", "atlas.pipeline.basis"} <= found  # the walk saw the tree
    assert sorted(found - listed) == []
