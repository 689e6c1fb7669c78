"""The wheel installs and runs anywhere: built, installed into a bare folder, run from another.

The checkout's own files must not help: the source is copied out before building (so no
``build/`` lands in the checkout), the wheel goes into a temporary ``--target`` folder, and the
installed atlas renders a run and resolves its bundled config from an unrelated working
directory, with that folder first on the path.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.fakerun import FakeRunConfig, make_fake_run

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
CHECK = """
import sys
from pathlib import Path
import atlas
from atlas.site import env
from atlas.config.load import load_toml
target = Path(sys.argv[1]).resolve()
assert Path(atlas.__file__).resolve().is_relative_to(target), atlas.__file__
assert env.TEMPLATES.resolve().is_relative_to(target), env.TEMPLATES
cfg = load_toml("bundled")
print("bundled:", sorted(cfg))
"""


def _pip(*args: str, cwd: Path) -> None:
    subprocess.run([sys.executable, "-m", "pip", *args], cwd=cwd, check=True,
                   capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in ("atlas", "templates"):
        shutil.copytree(ROOT / name, src / name, ignore=junk)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    wheels, target = tmp_path_factory.mktemp("wheels"), tmp_path_factory.mktemp("target")
    _pip("wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(wheels), ".", cwd=src)
    (wheel,) = wheels.glob("atlas_accent-*.whl")
    _pip("install", "-q", "--no-deps", "--target", str(target), str(wheel), cwd=wheels)
    return target


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_wheel_carries_every_package_template_config_and_photo(installed: Path) -> None:
    pkg = installed / "atlas"
    packages = {p.parent.relative_to(ROOT) for p in (ROOT / "atlas").rglob("__init__.py")}
    assert packages and all((installed / p / "__init__.py").is_file() for p in packages)
    templates = [p.relative_to(ROOT / "templates") for p in (ROOT / "templates").rglob("*")
                 if p.is_file() and "__pycache__" not in p.parts]
    assert {"base.html", "static/index.js", "static/atlas.css"} <= {t.as_posix()
                                                                     for t in templates}
    missing = [t for t in templates if not (pkg / "templates" / t).is_file()]
    assert missing == []
    configs = sorted(p.name for p in (ROOT / "atlas" / "configs").glob("*.toml"))
    assert "bundled.toml" in configs
    assert sorted(p.name for p in (pkg / "configs").glob("*.toml")) == configs
    for name in configs:
        tomllib.loads((pkg / "configs" / name).read_text())
    photos = sorted(p.name for p in (ROOT / "atlas" / "data" / "photos").iterdir())
    assert len(photos) > 20
    assert sorted(p.name for p in (pkg / "data" / "photos").iterdir()) == photos


def test_installed_atlas_renders_a_run_from_another_folder(installed: Path,
                                                            tmp_path: Path) -> None:
    run = make_fake_run(tmp_path / "run", FakeRunConfig(units=1))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = _run(installed, elsewhere, "-c", CHECK, str(installed))
    assert check.returncode == 0, check.stderr[-3000:]
    assert "bundled: [" in check.stdout and "model" in check.stdout
    out = _run(installed, elsewhere, "-m", "atlas", "render", str(run), "--out", "site")
    assert out.returncode == 0, out.stderr[-3000:]
    site = elsewhere / "site"
    assert (site / "index.html").is_file() and (site / "static" / "index.js").is_file()
    assert "atlas" in (site / "index.html").read_text()
