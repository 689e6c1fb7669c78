"""The Validation page's content as plain dataclasses (read by ``templates/validation.html``).

Kept apart from the loader (:mod:`atlas.site.validation`) like :mod:`atlas.site.content` is from
:mod:`atlas.site.load`: the template sees only these objects, never the JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from atlas.site.safe import finite


def as_dict(x: object) -> dict[str, Any]:
    """``x`` if it is a JSON object, else an empty one (the JSON is run data, not trusted)."""
    return x if isinstance(x, dict) else {}


def as_list(x: object) -> list[Any]:
    return x if isinstance(x, list) else []


@dataclass
class Interval:
    """A mean over units with its 95% bootstrap interval."""

    mean: float | None
    lo: float | None
    hi: float | None
    n: int | None

    @classmethod
    def of(cls, x: object) -> Interval:
        d = as_dict(x)
        n = finite(d.get("n"))
        return cls(finite(d.get("mean")), finite(d.get("lo")), finite(d.get("hi")),
                   None if n is None else int(n))

    def text(self, signed: bool = False) -> str:
        """``mean [lo, hi]`` with three decimals (signed for differences)."""
        ci = self.interval(signed)
        return self.value(signed) + (f" {ci}" if ci else "")

    def value(self, signed: bool = False) -> str:
        return _fix(self.mean, signed)

    def interval(self, signed: bool = False) -> str:
        if self.lo is None and self.hi is None:
            return ""
        return f"[{_fix(self.lo, signed)}, {_fix(self.hi, signed)}]"


def _fix(v: float | None, signed: bool) -> str:
    return "–" if v is None else f"{v:+.3f}" if signed else f"{v:.3f}"


@dataclass
class Summary:
    """A distribution over units (or photo pairs): the numbers behind one table row."""

    label: str
    median: float | None = None
    mean: float | None = None
    lo: float | None = None  # min
    hi: float | None = None  # max
    n: int | None = None

    @classmethod
    def of(cls, label: str, x: object) -> Summary:
        d = as_dict(x)
        n = finite(d.get("n"))
        return cls(label, finite(d.get("median")), finite(d.get("mean")), finite(d.get("min")),
                   finite(d.get("max")), None if n is None else int(n))

    @classmethod
    def values(cls, label: str, xs: list[Any]) -> Summary | None:
        v = sorted(f for f in (finite(x) for x in xs) if f is not None)
        if not v:
            return None
        mid = len(v) // 2
        med = v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2
        return cls(label, med, sum(v) / len(v), v[0], v[-1], len(v))


@dataclass
class Verdict:
    """One claim of the paper on one layer: what ``atlas validate`` found, and how firmly."""

    claim: str
    holds: bool | None  # None: not evaluated
    diff: Interval
    threshold: float | None
    firm: bool | None  # does the whole 95% interval agree with the verdict?


@dataclass
class PathwayRow:
    group: str  # an attribution layer, "all" (their average), or either + the variant's name
    cells: list[Interval]
    minus_natural: Interval
    minus_vis: Interval
    ok_natural: bool | None  # the claims' thresholds applied to this row's means
    ok_vis: bool | None


@dataclass
class Chart:
    path: str | None  # run-relative, only when the file passed the checks
    alt: str
    problem: str = ""


@dataclass
class LayerView:
    name: str
    anchor: str
    units: list[str]
    pathway: list[PathwayRow]
    verdicts: list[Verdict]
    closeness: list[Summary]
    reg_layer: str
    photo: Summary | None  # photo-to-photo distance, when measured at reg_layer
    ratio: float | None  # median accentuation distance / median photo distance
    charts: list[Chart] = field(default_factory=list)


@dataclass
class SweepRow:
    lam: float | None
    gain: float | None  # mean over the swept units
    distance: float | None
    per_unit: list[tuple[float | None, float | None]]  # (gain, distance) per swept unit
    in_region: bool  # inside the sensitive region
    steepest: bool  # an end of the steepest interval


@dataclass
class SweepView:
    layer: str
    units: list[str]
    rows: list[SweepRow]
    region: tuple[float, float] | None
    steepest: tuple[float, float] | None
    mid: float | None
    recommended: float | None
    rule: str
    unit_mid: list[tuple[str, float | None]]
    charts: list[Chart] = field(default_factory=list)


@dataclass
class ValidationView:
    model: str
    source: str
    seconds: float | None
    config: dict[str, Any]
    photo_layer: str
    photo: Summary | None
    layers: list[LayerView]
    sweep: SweepView | None
    other_charts: list[Chart]
