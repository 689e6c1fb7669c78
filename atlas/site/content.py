"""What the site shows, as plain dataclasses: one ``Unit`` per (layer, unit), one ``Pic`` per image.

Templates and the report read only these objects, never the tables, so the table contract can
evolve in one place (:mod:`atlas.site.load`). Media fields are paths relative to the run
directory (or absolute paths for photos found outside it); the page renderer decides whether they
become copied files or data: URIs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from atlas.site.standing import Standing


@dataclass
class Credit:
    author: str = ""
    license: str = ""
    url: str | None = None  # only ever an http(s) link
    source: str = ""  # the file name or dataset position the image came from

    def line(self) -> str:
        """One human line for a hover title or a caption."""
        bits = [b for b in (self.author, self.license) if b]
        return " · ".join(bits) or "credit unknown"


@dataclass
class Pic:
    """A natural image (a top/bottom example or a seed) and where its pixels are."""

    image_id: str
    label: str = ""
    media: str | None = None
    credit: Credit = field(default_factory=Credit)
    origin: str = ""  # the images table's source: "bundled", "folder:<root>", "hf:<name>:<split>"
    width: int = 0  # the original's size (0: unknown), to place maps on the displayed square
    height: int = 0


@dataclass
class Where:
    """Where a unit fired on one image (the describe stage's where.parquet row): its activation
    map over ``view`` (the region the model saw, fractions of the original), the crop ``box``
    around the strongest position at the layer's receptive-field size, and the unit's shared
    heat ``scale`` (so weaker images look weaker)."""

    map: list[float]
    h: int
    w: int
    view: tuple[float, float, float, float]
    box: tuple[float, float, float, float]
    scale: float
    rf_px: int = 0


@dataclass
class Shot:
    """A natural image in a unit's top or bottom list."""

    rank: int
    activation: float | None
    pic: Pic
    where: Where | None = None


@dataclass
class Accent:
    """One accentuation: the seed, the result, its attribution mask and the numbers."""

    rank: int
    pic: Pic
    seed_media: str | None
    accent_media: str | None
    mask_media: str | None
    overlay_media: str | None
    frames: list[str]
    seed_activation: float | None
    final_activation: float | None
    gain: float | None
    latent_distance: float | None
    pixel_rmse: float | None
    steps: int | None
    lam: float | None
    param: str
    reg_layer: str
    trajectory: list[float]
    change_media: str | None = None  # the amplified difference seed -> accentuation
    change_gain: float | None = None  # its amplification factor (stated beside it)
    seed_standing: Standing | None = None  # seed and result among the unit's natural
    final_standing: Standing | None = None  # activations (atlas.site.standing), never a ratio


@dataclass
class DataClass:
    """A dataset class over-represented among a unit's top images (classes.parquet)."""

    field: str  # "label" (the image's class) or "group" (a coarser class: folder, category)
    name: str
    count: int  # top images with it
    top_n: int  # top images considered
    data_count: int  # images of the whole data set with it
    data_total: int
    p_value: float | None
    enrichment: float | None

    @property
    def share(self) -> float | None:
        """Its share of the whole data set (0-1)."""
        return self.data_count / self.data_total if self.data_total else None


@dataclass
class Causal:
    """A model class whose probability drops when the unit is ablated on its top images."""

    class_index: int
    name: str
    drop: float | None  # mean probability drop, 0-1 (positive: ablation lowers it)
    images: int

    @property
    def points(self) -> str:
        """The drop in percentage points, for people: "1.2", "<0.1"."""
        if self.drop is None or not math.isfinite(self.drop):
            return "–"
        return "<0.1" if self.drop < 0.0005 else f"{100 * self.drop:.1f}"


@dataclass
class BasisInfo:
    """What a unit layer of features is: the basis's kind, size and how it was made."""

    unit_layer: str  # LAYER/NAME
    layer: str  # the layer it reads
    name: str
    kind: str  # "sae" (learned here), "file" (trained elsewhere), "directions"
    size: int  # F
    width: int  # C, the layer's channels
    activation: str = ""
    k: int = 0
    metrics: dict[str, float] = field(default_factory=dict)
    learned: dict[str, Any] = field(default_factory=dict)  # the recipe of a learned dictionary
    finetuned: dict[str, Any] = field(default_factory=dict)  # its KL fine-tune (steps 0: none)
    threshold_l0: float = 0.0  # BatchTopK: the L0 its threshold was calibrated to
    refine: int = 0  # steps refining the codes on their support (atlas.models.refine)
    positions: dict[str, int] = field(default_factory=dict)  # learned from / held out
    images: dict[str, int] = field(default_factory=dict)
    source: str = ""  # the file it came from


@dataclass
class FeatureInfo:
    """One feature of a basis: its name (directions), density and what it is made of."""

    name: str = ""
    fire_images: float | None = None  # share of images where it fires somewhere
    fire_positions: float | None = None  # share of positions where it fires
    channels: list[tuple[int, float]] = field(default_factory=list)  # (channel, decoder weight)
    nearest: list[tuple[int, float]] = field(default_factory=list)  # (feature, cosine)


@dataclass
class Unit:
    layer: str
    unit: int
    lslug: str  # the layer name made safe for paths
    top: list[Shot] = field(default_factory=list)
    bottom: list[Shot] = field(default_factory=list)
    accents: list[Accent] = field(default_factory=list)
    vis_media: str | None = None
    vis_activation: float | None = None
    labels: list[tuple[str, float | None]] = field(default_factory=list)  # accentuation effect
    classes: list[DataClass] = field(default_factory=list)  # dataset classes
    causal: list[Causal] = field(default_factory=list)  # causal effect of ablating it
    stats: dict[str, Any] | None = None
    points: list[dict[str, Any]] = field(default_factory=list)  # its manifestation map
    clusters: int | None = None  # diversity: distinct manifestation clusters of its top-N
    spread: float | None = None  # diversity: RMS spread of its accents in the layer map
    index: int = 0  # position in the site's unit order (prev/next)
    accent_note: str = ""  # why it shows no accentuation: pending, not chosen (site_status)
    pending: bool = False  # accentuation pending: the build was running when rendered
    vis_pending: bool = False  # feature visualization pending, likewise
    basis: BasisInfo | None = None  # set when the unit is a feature of a basis
    feature: FeatureInfo | None = None

    @property
    def what(self) -> str:
        """'Unit', or 'Feature' of a basis (its name, for a named direction)."""
        if self.feature is not None and self.feature.name:
            return self.feature.name
        return "Feature" if self.basis is not None else "Unit"

    @property
    def short(self) -> str:
        """How links and lists name it beside its layer: "12", "feature 12" or a direction's
        name."""
        if self.feature is not None and self.feature.name:
            return self.feature.name
        return f"feature {self.unit}" if self.basis is not None else str(self.unit)

    @property
    def key(self) -> str:
        return f"{self.layer}:{self.unit}"

    @property
    def href(self) -> str:
        return f"units/{self.lslug}/{self.unit}.html"

    @property
    def json_href(self) -> str:
        return f"units/{self.lslug}/{self.unit}.json"

    @property
    def report_href(self) -> str:
        return f"reports/{self.lslug}/{self.unit}.html"

    @property
    def anchor(self) -> str:
        return f"u-{self.lslug}-{self.unit}"

    @property
    def top_activation(self) -> float | None:
        if self.top and self.top[0].activation is not None:
            return self.top[0].activation
        return self.stats.get("max") if self.stats else None

    @property
    def threshold(self) -> float | None:
        """What "top" means: activations above the unit's 90th percentile over the data."""
        return self.stats.get("q90") if self.stats else None

    @property
    def strong(self) -> list[Shot]:
        """The top images that clear :attr:`threshold` (all of them when it is unknown)."""
        t = self.threshold
        return [s for s in self.top if t is None or (s.activation is not None and
                                                       s.activation > t)]

    @property
    def weak(self) -> list[Shot]:
        """Kept among the top-k but not above the threshold: never presented as top."""
        strong = {id(s) for s in self.strong}
        return [s for s in self.top if id(s) not in strong]

    @property
    def strongest(self) -> Accent | None:
        """The accentuation that drove the unit highest: the card's face."""
        usable = [a for a in self.accents if a.accent_media]
        return max(usable, key=lambda a: a.final_activation or 0.0, default=None)

    @property
    def face(self) -> str | None:
        """Media for the unit's card: its strongest accentuation, else its top natural image."""
        best = self.strongest
        if best is not None:
            return best.accent_media
        return next((s.pic.media for s in self.top if s.pic.media), None)

    def names(self, model_classes: bool = True) -> dict[str, list[str]]:
        """Label names by kind, de-duplicated in rank order (search and cards); model-class
        kinds only when ``model_classes`` (not for random weights)."""
        out = {"data": list(dict.fromkeys(c.name for c in self.classes))}
        if model_classes:
            out["ablation"] = list(dict.fromkeys(c.name for c in self.causal))
            out["accent"] = list(dict.fromkeys(name for name, _ in self.labels))
        return {k: v for k, v in out.items() if v}


@dataclass
class Atlas:
    """Everything a run directory holds that the site shows."""

    name: str
    manifest: dict[str, Any]
    layers: list[str]
    units: list[Unit]
    pics: dict[str, Pic]
    global_map: dict[str, list[tuple[float, float, int, int]]]  # layer -> (x, y, unit, rank)
    tables: list[str]  # which tables the run has (the About page lists them)
    validated: bool = False  # the site has a Validation page (``atlas validate`` ran): nav link
    random_weights: bool = False  # config model.weights == "none": model-class labels hidden
    run_path: str = ""  # the run directory as given (commands on the pages name it)
    title_rule: str = ""  # how the title was chosen (the About page states it)
    building: bool = False  # rendered while ``atlas build`` was running: pages fill in later
    # connections, class pages and failures: an atlas.site.decisions.Decisions (that module
    # imports this one, so the type is named here in words only)
    decisions: Any = None
    bases: dict[str, BasisInfo] = field(default_factory=dict)  # unit layer -> its basis
    _hrefs: dict[tuple[str, int], str] | None = field(default=None, repr=False)

    def unit_href(self, layer: str, unit: int) -> str | None:
        """The page of ``layer``'s ``unit`` when the site has one (links between features and
        the channels they are made of)."""
        if self._hrefs is None:
            self._hrefs = {(u.layer, u.unit): u.href for u in self.units}
        return self._hrefs.get((layer, int(unit)))
