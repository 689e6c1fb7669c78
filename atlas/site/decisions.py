"""What the site shows of the model's decisions, as plain dataclasses: the connections between
units of consecutive layers, one page per predicted class, and the explained failures.

Read from the ``connections``, ``predictions``, ``label_map``, ``class_accents`` and ``causal``
tables by :mod:`atlas.site.load_decisions`; templates read only these objects.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from atlas.site.content import Pic

Key = tuple[str, int]


@dataclass
class Link:
    """A connection seen from one end: the unit at the other end and its drive."""

    layer: str
    unit: int
    lslug: str
    drive: float | None  # mean over the later unit's top images of sum(act x grad)
    share: float | None  # its share of the later unit's total |drive|
    shortcut: bool  # the same channel, carried by a residual shortcut
    images: int
    face: str | None = None  # the other unit's card picture

    @property
    def href(self) -> str:
        return f"units/{self.lslug}/{self.unit}.html"


@dataclass
class ClassAccent:
    """An accentuation toward a class's logit, with the decision before and after."""

    kind: str  # "class", "predicted", "true"
    class_index: int
    class_name: str
    pic: Pic
    logit_before: float | None
    logit_after: float | None
    prob_before: float | None
    prob_after: float | None
    top_after: str
    top_after_prob: float | None
    latent_distance: float | None
    pixel_rmse: float | None
    steps: int | None
    lam: float | None
    reg_layer: str
    seed_media: str | None
    accent_media: str | None
    mask_media: str | None
    overlay_media: str | None
    change_media: str | None
    change_gain: float | None


@dataclass
class Predicted:
    """An image the model predicts as a class, how sure it is, and the truth when known."""

    pic: Pic
    prob: float | None
    true_name: str  # the label's model class ("" = unmapped)
    correct: int  # 1 right, 0 wrong, -1 unknown


@dataclass
class Driver:
    """A unit whose ablation lowers a class's probability (the causal table)."""

    layer: str
    unit: int
    lslug: str
    drop: float | None  # mean probability drop over the unit's top images
    images: int
    face: str | None = None  # the unit's card picture

    @property
    def href(self) -> str:
        return f"units/{self.lslug}/{self.unit}.html"

    @property
    def points(self) -> str:
        if self.drop is None:
            return "–"
        return "<0.1" if self.drop < 0.0005 else f"{100 * self.drop:.1f}"


@dataclass
class ClassPage:
    index: int
    name: str
    images: list[Predicted] = field(default_factory=list)  # most confident first
    accent: ClassAccent | None = None
    accent_note: str = ""  # why it has no accentuation
    drivers: dict[str, list[Driver]] = field(default_factory=dict)  # layer -> strongest first
    failures: list[int] = field(default_factory=list)  # ranks of failures it takes part in

    @property
    def href(self) -> str:
        return f"classes/{self.index}.html"

    @property
    def json_href(self) -> str:
        return f"classes/{self.index}.json"

    @property
    def report_href(self) -> str:
        return f"reports/classes/{self.index}.html"

    @property
    def anchor(self) -> str:
        return f"c-{self.index}"

    @property
    def best(self) -> Predicted | None:
        return self.images[0] if self.images else None


@dataclass
class Failure:
    """A confidently wrong prediction and, when planned, its pair of accentuations."""

    rank: int  # 0 = most confident
    pic: Pic
    label: str
    pred_index: int
    pred_name: str
    prob: float | None
    true_index: int
    true_name: str
    true_prob: float | None
    predicted: ClassAccent | None = None
    true: ClassAccent | None = None

    @property
    def anchor(self) -> str:
        return f"f-{self.rank}"


@dataclass
class LabelRow:
    """A data label and the class it maps to (or why not)."""

    label: str
    images: int
    class_index: int
    class_name: str
    how: str
    candidates: list[str]


@dataclass
class Decisions:
    """Everything of the decisions the site shows; empty for a run without those tables."""

    classes: list[ClassPage] = field(default_factory=list)  # most predicted first
    failures: list[Failure] = field(default_factory=list)
    labels: list[LabelRow] = field(default_factory=list)
    inputs: dict[Key, list[Link]] = field(default_factory=dict)  # later unit -> its inputs
    feeds: dict[Key, list[Link]] = field(default_factory=dict)  # earlier unit -> units it drives
    drives: dict[Key, list[ClassPage]] = field(default_factory=dict)  # unit -> classes (causal)
    images: int = 0  # images predicted
    labelled: int = 0  # of those, with a label
    mapped: int = 0  # of those, with a label mapped to a class
    planned_classes: int = 0  # the build's classes.accents
    planned_failures: int = 0  # the build's classes.failures
    reason: str = ""  # why there are no predictions
    pairs: dict[str, str] = field(default_factory=dict)  # later layer -> earlier layer

    def links(self, table: dict[Key, list[Link]], key: Key) -> tuple[list[Link], list[Link]]:
        """A unit's links in ``table`` (``inputs`` or ``feeds``): those that raise it, strongest
        first, and those that lower it, most negative first."""
        rows = table.get(key, [])
        up = [k for k in rows if k.drive is not None and k.drive > 0]
        down = [k for k in rows if k.drive is not None and k.drive < 0]
        return up, sorted(down, key=lambda k: k.drive or 0.0)

    @property
    def by_index(self) -> dict[int, ClassPage]:
        return {c.index: c for c in self.classes}

    @property
    def mapped_labels(self) -> int:
        return sum(1 for r in self.labels if r.class_index >= 0)

    @property
    def accented_failures(self) -> list[Failure]:
        return [f for f in self.failures if f.predicted or f.true]
