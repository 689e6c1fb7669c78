"""Fixtures shared across the test folders: the bundled model (loaded once) at its own input
size and at the smaller ones fast tests use, a few real bundled photos, and fake runs with
their rendered sites. Helpers that are plain functions live in :mod:`tests.helpers`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from atlas.data.sources import bundled
from atlas.models.zoo import LoadedModel, load_model
from atlas.site.render import SiteConfig, render_site
from tests.helpers.fakerun import BASES, FakeRunConfig, make_fake_run


@pytest.fixture(scope="session")
def lite0() -> LoadedModel:
    torch.manual_seed(0)
    return load_model("efficientnet-lite0")


@pytest.fixture(scope="session")
def lite0_96(lite0: LoadedModel) -> LoadedModel:
    """The session's model at a 96-px input (the accentuation loop's fast tests): a copy
    sharing its weights, so the shared one keeps 224."""
    return dataclasses.replace(lite0, input_size=96)


@pytest.fixture(scope="session")
def lite0_112(lite0: LoadedModel) -> LoadedModel:
    """The session's model at a 112-px input (the describe stage's tests: 14x14 and 7x7
    maps), a copy sharing its weights."""
    return dataclasses.replace(lite0, input_size=112)


@pytest.fixture(scope="session")
def photos() -> torch.Tensor:
    """Eight real bundled photos at 224 px, as the model sees them."""
    from atlas.data.loader import make_loader

    src = bundled()
    batch = next(iter(make_loader(src, 224, 8, 0, list(range(0, 80, 10)))))
    return batch.images


@pytest.fixture(scope="session")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A complete fake run (every table, two layers of three units) with a validation result.
    Shared by every module that only reads it: tests that change a run make their own."""
    return make_fake_run(tmp_path_factory.mktemp("fake-run"), FakeRunConfig(validation=True))


@pytest.fixture(scope="session")
def fake_site(fake_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``fake_run`` rendered once; read-only for the tests that share it."""
    return render_site(fake_run, tmp_path_factory.mktemp("fake-site") / "out")


@pytest.fixture(scope="session")
def evil_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake run with script-injection strings in every user-supplied field."""
    return make_fake_run(tmp_path_factory.mktemp("evil-run"),
                         FakeRunConfig(payload=True, units=2, validation=True))


@pytest.fixture(scope="session")
def evil_site(evil_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_site(evil_run, tmp_path_factory.mktemp("evil-site") / "out")


@pytest.fixture(scope="session")
def features_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fake run of two layers' channels and, over _blocks.10, the features of :data:`BASES`."""
    return make_fake_run(tmp_path_factory.mktemp("features-run"),
                         FakeRunConfig(units=4, bases=BASES))


@pytest.fixture(scope="session")
def features_site(features_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_site(features_run, tmp_path_factory.mktemp("features-site") / "out",
                       SiteConfig(reports_max_units=0))
