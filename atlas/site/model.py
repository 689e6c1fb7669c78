"""What the site shows, as plain dataclasses: one ``Unit`` per (layer, unit), one ``Pic`` per image.

Templates and the report read only these objects, never the tables, so the table contract can
evolve in one place (:mod:`atlas.site.data`). Media fields are paths relative to the run
directory (or absolute paths for photos found outside it); the page renderer decides whether they
become copied files or data: URIs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atlas.site.scale import Standing


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


@dataclass
class Shot:
    """A natural image in a unit's top or bottom list."""

    rank: int
    activation: float | None
    pic: Pic


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
    final_standing: Standing | None = None  # activations (atlas.site.scale), never a ratio


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
    labels: list[tuple[str, float | None]] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    points: list[dict[str, Any]] = field(default_factory=list)  # its manifestation map
    clusters: int | None = None  # diversity: distinct manifestation clusters of its top-N
    spread: float | None = None  # diversity: RMS spread of its accents in the layer map
    index: int = 0  # position in the site's unit order (prev/next)
    accent_note: str = ""  # why it shows no accentuation: pending, not chosen (site_status)
    pending: bool = False  # accentuation pending: the build was running when rendered
    vis_pending: bool = False  # feature visualization pending, likewise

    @property
    def key(self) -> str:
        return f"{self.layer}:{self.unit}"

    @property
    def href(self) -> str:
        return f"units/{self.lslug}/{self.unit}.html"

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

    def label_hint(self, n: int = 2) -> str:
        return ", ".join(name for name, _ in self.labels[:n])


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
    building: bool = False  # rendered while ``atlas build`` was running: pages fill in later
