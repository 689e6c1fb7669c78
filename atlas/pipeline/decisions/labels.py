"""Which model class each data label stands for, so a wrong prediction can be called wrong.

Three levels, tried in order, the first that finds anything decides (``classes.match`` says how
far to go): the label is a class's name (``exact``); the same ignoring case (``case``); the
same after normalizing both sides (``loose``): case, runs of spaces, underscores and hyphens,
the words written together ("screw driver" = "screwdriver"), an English plural ("meerkats" =
"meerkat"), and every synonym of the class ("polar bear" finds "ice bear"). A label that fits
two classes at its level is *ambiguous* and stays unmapped: a wrong truth would invent
failures. A mapping file (``classes.label_map``: CSV rows ``label,class``) overrides all of it,
and an empty class there leaves a label unmapped on purpose.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from atlas.accent.decision import resolve_class
from atlas.config.decisions import MATCHES
from atlas.errors import AtlasError

UNMAPPED = -1
_SEP = re.compile(r"[\s_\-]+")


@dataclass(frozen=True)
class LabelMatch:
    """A label's class (``UNMAPPED`` when none) and how it was found: ``exact``, ``case``,
    ``loose``, ``file``, or why not: ``ambiguous`` (``candidates`` name the classes),
    ``unmapped`` (the mapping file says so), ``none``."""

    label: str
    class_index: int
    how: str
    candidates: tuple[int, ...] = ()


def normal(text: str) -> str:
    """Lower case, one space between words, no underscores or hyphens."""
    return _SEP.sub(" ", text.strip().lower()).strip()


def singular(word: str) -> str:
    """A plural English noun's singular by the regular rules ("ies" -> "y", "ches" -> "ch",
    "s" -> ""); words that only end like plurals ("glass", "octopus", "iris") stay."""
    if len(word) > 4 and word.endswith("ies"):
        return word[:-3] + "y"
    if word.endswith(("ches", "shes", "sses", "xes", "zes")):
        return word[:-2]
    if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is")):
        return word[:-1]
    return word


def loose_keys(text: str) -> set[str]:
    """The forms a name is compared in at the ``loose`` level."""
    n = normal(text)
    if not n:
        return set()
    words = n.split(" ")
    one = " ".join([*words[:-1], singular(words[-1])])
    return {n, n.replace(" ", ""), one, one.replace(" ", "")}


def _index(names: Sequence[str], synonyms: Sequence[Sequence[str]]
           ) -> tuple[dict[str, set[int]], dict[str, set[int]], dict[str, set[int]]]:
    exact: dict[str, set[int]] = {}
    case: dict[str, set[int]] = {}
    loose: dict[str, set[int]] = {}
    for i, name in enumerate(names):
        exact.setdefault(name, set()).add(i)
        case.setdefault(name.lower(), set()).add(i)
        for s in (name, *synonyms[i]):
            for k in loose_keys(s):
                loose.setdefault(k, set()).add(i)
    return exact, case, loose


def match_labels(labels: Iterable[str], names: Sequence[str],
                 synonyms: Sequence[Sequence[str]] | None = None, mode: str = "loose",
                 mapping: dict[str, int] | None = None) -> dict[str, LabelMatch]:
    """Every distinct non-empty label's :class:`LabelMatch` against the model's class
    ``names`` (``synonyms[i]``: other names of class i), at most up to level ``mode``;
    ``mapping`` (from :func:`read_label_map`) decides first."""
    if mode not in MATCHES:
        raise AtlasError(f"classes.match {mode!r} unknown; valid: {', '.join(MATCHES)}")
    syn = synonyms if synonyms is not None else [()] * len(names)
    exact, case, loose = _index(names, syn)
    levels = MATCHES[:MATCHES.index(mode) + 1]
    out: dict[str, LabelMatch] = {}
    for label in dict.fromkeys(x for x in labels if x):
        if mapping is not None and label in mapping:
            cls = mapping[label]
            out[label] = LabelMatch(label, cls, "file" if cls != UNMAPPED else "unmapped")
            continue
        out[label] = LabelMatch(label, UNMAPPED, "none")
        for level in levels:
            if level == "exact":
                hits = exact.get(label, set())
            elif level == "case":
                hits = case.get(label.lower(), set())
            else:
                hits = set().union(*[loose.get(k, set()) for k in loose_keys(label)])
            if len(hits) == 1:
                out[label] = LabelMatch(label, next(iter(hits)), level)
                break
            if hits:
                out[label] = LabelMatch(label, UNMAPPED, "ambiguous", tuple(sorted(hits)))
                break
    return out


def read_label_map(path: str, names: Sequence[str]) -> dict[str, int]:
    """A mapping file's ``{label: class index}`` (``UNMAPPED`` for an empty class): CSV with a
    header ``label,class``; a class is a name (exact, then case-insensitive) or an index.
    Every fault is one line naming the file and the row."""
    p = Path(path)
    if not p.is_file():
        raise AtlasError(f"classes.label_map {path!r} is not a file")
    try:
        rows = list(csv.reader(p.read_text(encoding="utf-8-sig").splitlines()))
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise AtlasError(f"classes.label_map {path}: cannot read: {e}") from None
    if not rows or [c.strip().lower() for c in rows[0][:2]] != ["label", "class"]:
        raise AtlasError(f"classes.label_map {path}: the first row must be the header "
                         "'label,class'")
    out: dict[str, int] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(c.strip() for c in row):
            continue
        if len(row) != 2 or not row[0].strip():
            raise AtlasError(f"classes.label_map {path} row {n}: expected 'label,class', "
                             f"got {','.join(row)!r}")
        label, cls = row[0].strip(), row[1].strip()
        try:
            out[label] = resolve_class(list(names), cls) if cls else UNMAPPED
        except AtlasError as e:
            raise AtlasError(f"classes.label_map {path} row {n}: {e}") from None
    return out
