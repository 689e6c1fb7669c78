"""The ``[connect]`` and ``[classes]`` sections: from units to the model's decisions.

``[connect]``: how the connections between consecutive mined layers are measured
(:mod:`atlas.pipeline.connect`). ``[classes]``: how the data's labels map to the model's classes
and how many class accentuations a build makes (:mod:`atlas.pipeline.decisions`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from atlas.config.fields import num, one_of, text

MATCHES = ("exact", "case", "loose")


@dataclass(frozen=True)
class ConnectConfig:
    """``top_n``: the later unit's top images the drive is averaged over. ``keep``: the
    strongest positive and the strongest negative inputs kept per unit (the residual channel
    is kept besides). ``rows_per_pass``: the most (image, unit) rows in one backward pass."""

    SECTION: ClassVar[str] = "connect"
    top_n: int = num(16, 1, 10_000)
    keep: int = num(8, 1, 10_000)
    rows_per_pass: int = num(256, 1, 1 << 20)

    def result_key(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("rows_per_pass")
        return d


@dataclass(frozen=True)
class ClassesConfig:
    """``match``: how a data label finds its model class: ``exact`` names, ``case``
    (case-insensitive), or ``loose`` (also spacing, underscores, plurals and the classes'
    synonyms; a label that fits two classes stays unmapped). ``label_map``: a CSV file of
    ``label,class`` rows (class name or index; an empty class: leave the label unmapped) that
    overrides the matching. ``accents``: class accentuations at most, one per class, the
    failures' classes first, then the most-predicted. ``failures``: the most confident wrong
    predictions accentuated toward both classes."""

    SECTION: ClassVar[str] = "classes"
    match: str = one_of("loose", MATCHES)
    label_map: str = text("")
    accents: int = num(8, 0, 100_000)
    failures: int = num(3, 0, 100_000)
