"""The sections of the config tree that are not accentuation's: model, data, each stage, site.

Plain dataclasses with declared fields (:mod:`atlas.config.fields`): nothing here imports torch
or a stage, so the command line, the site and the stages all read one tree. A stage reads its
section; settings a stage derives from the machine or the model (device, batch sizes, workers,
the regularization layer) are resolved once per command into :class:`atlas.config.resolved.
Resolved`, never written back here.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from atlas.config.fields import MAX_SEED, flag, names, num, one_of, text
from atlas.errors import AtlasError

METHODS = ("diverse", "topk")
METRICS = ("cosine", "euclidean", "correlation", "manhattan")


@dataclass
class ModelConfig:
    SECTION: ClassVar[str] = "model"
    name: str = text("efficientnet-lite0", empty=False)
    weights: str = text("default", empty=False)  # "default", "none" or a state_dict file
    input_size: int = num(0, 0, 4096)  # 0: the model's own
    num_classes: int = num(0, 0, 1_000_000)  # a fine-tuned head's classes; 0: the model's own
    class_names: list[str] = dataclasses.field(default_factory=list)  # names, or [a .txt file]


@dataclass
class DataConfig:
    SECTION: ClassVar[str] = "data"
    images: str = text("bundled", empty=False)
    limit: int = num(0, 0)  # 0: every image
    split: str = text("")  # Hugging Face sources: the split ("" = the spec's or "train")
    image_column: str = text("")  # Hugging Face sources: "" = the first Image feature
    label_column: str = text("")  # Hugging Face sources: "" = the first ClassLabel feature


@dataclass
class MineConfig:
    """What mining keeps. ``k`` is the top-N per unit from which seeds are later chosen."""

    SECTION: ClassVar[str] = "mine"
    layers: list[str] = names("_blocks.10")
    k: int = num(64, 1, 10_000)
    bottom_k: int = num(8, 0, 10_000)
    reduce: str = one_of("mean", ["mean", "max"])
    sample: int = num(8192, 1)
    bins: int = num(40, 2, 1000)
    batch_size: int = num(32, 1, 4096)
    workers: int = num(-1, -1, 64)  # -1: auto (atlas.pipeline.resolve)
    checkpoint_every: int = num(4, 1)

    def result_key(self) -> dict[str, Any]:
        """The settings the result depends on (batching and workers do not change it)."""
        d = asdict(self)
        for k in ("batch_size", "workers", "checkpoint_every"):
            d.pop(k)
        return d


@dataclass
class DescribeConfig:
    """``top_n``: the top images per unit that dataset classes and causal labels are computed
    on (16: enough for a class to reach p < 0.05 at a few hits, few enough to stay among the
    images that really drive the unit). ``map_side``: maps larger than this per side are
    average-pooled. ``rows_per_pass``: the most ablation rows in one rest-of-network batch."""

    SECTION: ClassVar[str] = "describe"
    top_n: int = num(16, 1, 10_000)
    map_side: int = num(16, 1, 256)
    causal: bool = flag(True)
    batch_size: int = num(32, 1, 4096)
    rows_per_pass: int = num(256, 2, 1 << 20)

    def result_key(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("batch_size", "rows_per_pass"):
            d.pop(k)
        return d


@dataclass(frozen=True)
class SelectConfig:
    """How many seeds per unit, and how to choose them."""

    SECTION: ClassVar[str] = "select"
    k: int = num(8, 1, 1024)  # seeds per unit
    method: str = one_of("diverse", METHODS)  # round-robin over clusters, or the k strongest
    max_clusters: int = num(8, 1, 64)  # upper bound on manifestation clusters per unit
    # reserved for stochastic methods; Ward clustering is deterministic
    seed: int = num(0, 0, MAX_SEED)


@dataclass(frozen=True)
class EmbedConfig:
    """UMAP settings shared by every map of a run."""

    SECTION: ClassVar[str] = "embed"
    n_neighbors: int = num(15, 2, 200)
    min_dist: float = num(0.1, 0.0, 1.0)
    metric: str = one_of("cosine", METRICS)  # pooled vectors: direction matters, not length
    # UMAP random_state: makes maps reproducible (and single-threaded)
    seed: int = num(0, 0, MAX_SEED)
    n_epochs: int = num(200, 10, 5000)  # UMAP's default for small sets is 500
    max_clusters: int = num(8, 1, 64)  # keep equal to select.max_clusters: labels match seeds
    unit_top: int = num(8, 1, 1024)  # top natural images that place a unit on the layer map


@dataclass(frozen=True)
class SiteConfig:
    """How and where the site is rendered (``atlas build``, ``atlas render``, ``atlas report``).

    ``reports_max_units``: pre-render a shareable report for every unit when the run has at most
    this many units (-1 always, 0 never); each report inlines its images, so for big runs make
    reports on demand with ``atlas report``, which uses ``report_px`` too. ``refresh``: during a
    build, re-render at most every this many seconds (0: only at the end).
    """

    SECTION: ClassVar[str] = "site"
    out: str = text("site", empty=False)
    title: str = text("")  # the site's title; default: model · layer · data
    thumb_px: int = num(128, 16, 1024)
    report_px: int = num(192, 32, 2048)
    reports_max_units: int = num(128, -1)
    refresh: int = num(60, 0, 86_400)


BASIS_KINDS = ("channels", "sae", "file", "directions")
VIEWS = (1, 2, 4, 6)  # atlas.pipeline.basis.sample: plain, mirror, two zoomed crops, their mirrors


@dataclass
class BasisConfig:
    """How one layer is read besides its channels: a sparse dictionary learned here (``sae``:
    TopK, ``features`` of them, ``k`` per position), one trained elsewhere (``file``: SAELens's
    folder or atlas's NAME.json), or named directions (``directions``: a file of vectors, e.g.
    from ``atlas concept``). ``channels`` reads channels only. The features' units form the
    unit layer ``LAYER/NAME`` (``_blocks.10/sae``), mined and shown beside the channels."""

    SECTION: ClassVar[str] = "basis"
    kind: str = one_of("channels", BASIS_KINDS)
    layer: str = text("")  # "": the first mined layer
    name: str = text("")  # "": the kind ("sae", "file", "directions")
    file: str = text("")  # kind file or directions: the basis file
    features: int = num(0, 0, 1 << 20)  # sae: dictionary size F; 0: 8 x the layer's channels
    k: int = num(16, 1, 4096)  # sae: features kept per position (TopK)
    steps: int = num(3000, 1, 10_000_000)  # sae: optimizer steps
    batch_size: int = num(4096, 16, 1 << 20)  # sae: position vectors per step
    lr: float = num(4e-3, 0.0, 1.0, open_lo=True)  # sae: Adam learning rate (cosine decay)
    aux_k: int = num(64, 0, 4096)  # sae: dead features revived by the auxiliary loss (0: off)
    sample: int = num(250_000, 1000, 50_000_000)  # sae: position vectors learned from, at most
    holdout: float = num(0.1, 0.0, 0.5)  # sae: share of images held out for the metrics
    views: int = one_of(6, VIEWS)  # sae: views per training image (1, 2: + mirror, 4, 6: + zooms)
    batch_topk: bool = flag(False)  # sae: k per position on average over a batch (BatchTopK)
    finetune_steps: int = num(600, 0, 10_000_000)  # sae: steps of the KL fine-tune (0: none)
    finetune_mse: float = num(1.0, 0.0, 1e6)  # sae: its reconstruction term's weight beside KL
    finetune_encoder: bool = flag(True)  # sae: the fine-tune tunes the encoder too (else decoder)
    refine: int = num(0, 0, 100)  # sae: steps refining codes by least squares on their support
    margin: float = num(2.0, 0.0, 10.0)  # sae, BatchTopK: standard errors the L0 aims under k
    seed: int = num(0, 0, MAX_SEED)

    @property
    def active(self) -> bool:
        return self.kind != "channels"

    def rules(self, dot: str) -> None:
        if "/" in self.name or ":" in self.name:
            raise AtlasError(f"{dot}name must not hold '/' or ':', got {self.name!r}")
