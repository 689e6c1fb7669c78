"""The config tree's own sections: the model, the images and the site.

The stages own the sections of their settings (``MineConfig`` in atlas.pipeline.mine,
``AccentConfig`` in atlas.accent.loop, ``ValidateConfig`` in atlas.evaluation.validate, ...).
These three belong to no single stage. This module imports nothing heavy, so the site renderer
can use :class:`SiteConfig` without loading the compute stages.
"""

from __future__ import annotations

from dataclasses import dataclass

from atlas.config.checks import check_int


@dataclass
class ModelConfig:
    name: str = "efficientnet-lite0"
    weights: str = "default"
    input_size: int = 0  # 0: the model's own

    def validate(self) -> None:
        check_int("model.input_size", self.input_size, 0, 4096)


@dataclass
class DataConfig:
    images: str = "bundled"
    limit: int = 0  # 0: every image
    split: str = ""  # Hugging Face sources: the split ("" = the spec's or "train")
    image_column: str = ""  # Hugging Face sources: "" = the first Image feature
    label_column: str = ""  # Hugging Face sources: "" = the first ClassLabel feature

    def validate(self) -> None:
        check_int("data.limit", self.limit, 0)


@dataclass(frozen=True)
class SiteConfig:
    """How and where the site is rendered (``atlas build``, ``atlas render``, ``atlas report``).

    ``reports_max_units``: pre-render a shareable report for every unit when the run has at most
    this many units (-1 always, 0 never); each report inlines its images, so for big runs make
    reports on demand with ``atlas report``, which uses ``report_px`` too.
    """

    out: str = "site"
    title: str = ""  # the site's title; default: the run's name
    thumb_px: int = 128
    report_px: int = 192
    reports_max_units: int = 128
    refresh: int = 60  # during a build, re-render at most every this many seconds (0: only at
    #                    the end); at most ~10% of the build (atlas.pipeline.progressive)

    def __post_init__(self) -> None:
        check_int("site.thumb_px", self.thumb_px, 16, 1024)
        check_int("site.report_px", self.report_px, 32, 2048)
        check_int("site.reports_max_units", self.reports_max_units, -1)
        check_int("site.refresh", self.refresh, 0, 86_400)
