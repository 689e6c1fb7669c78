"""The index page's data: every unit of the site as compact columns, and the layer maps.

A site may hold tens of thousands of units (a dictionary's features beside a layer's channels),
so the index ships data, not markup, and ``static/index.js`` renders the cards on screen. The
data (``data/index.js``, ``window.ATLAS_INDEX``) is shaped to stay small and fast to search:

- *groups*: one per unit layer (a layer's channels, or the features of one basis over it), with
  its base layer, basis and kind; units are contiguous per group in site order, so a unit's
  layer, page and thumbnail path (``thumbs/SLUG/UNIT.webp``, made by
  :meth:`atlas.site.media.SiteMedia.unit_thumbs`) derive from its position;
- *columns* rather than one object per unit (top activation, clusters, spread, a flags string);
- *words*: every label name once (dataset classes, causal and accentuation labels, a direction's
  name); a unit's labels are word ids. Search matches the query against the words once, then
  units by id. Any other kind of entry (model classes, say) can point into the same words and
  be searched by the same match.

The layer maps are one plain script per group (``data/map/SLUG.js``), loaded when the map
shows that group, and their hover images another (``data/tips/SLUG.js``), loaded on first
hover. Every script only assigns data (:func:`atlas.site.safe.js_register`): the pages work
from ``file:`` under a strict CSP, where fetch() is refused.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from atlas.site.content import Atlas, Unit
from atlas.site.env import KINDS, num

FIRST = 120  # cards in the HTML (what the page shows without JavaScript, and at first paint)
PAGE = 60  # cards the script adds at a time: a search redraws at most this many
NAMES_PER_KIND = 3  # label names per kind kept for search and the map's tip
CHANNELS = "channels"  # the basis select's name for a layer's own units

# flag bits, one character per unit in ``flags`` ("0"-"7")
HAS_THUMB, PENDING, NOT_ACCENTED = 1, 2, 4


@dataclass(frozen=True)
class Group:
    """A unit layer as the index shows it: ``layer`` the base layer, ``basis`` the basis name
    (:data:`CHANNELS` for the layer's own units), ``kind`` what a unit is called."""

    name: str  # the unit layer (``_blocks.10`` or ``_blocks.10/sae``)
    layer: str
    basis: str
    kind: str  # "channel", "feature" or "direction"
    slug: str
    start: int  # first unit's site index
    units: list[int]


def groups(atlas: Atlas) -> list[Group]:
    """The site's unit layers in site order, each with its units (contiguous in ``atlas.units``)."""
    out: list[Group] = []
    for u in atlas.units:
        if out and out[-1].name == u.layer:
            out[-1].units.append(u.unit)
            continue
        b = atlas.bases.get(u.layer)
        kind = "channel" if b is None else "direction" if b.kind == "directions" else "feature"
        out.append(Group(u.layer, b.layer if b else u.layer, b.name if b else CHANNELS, kind,
                         u.lslug, u.index, [u.unit]))
    return out


def thumb_path(u: Unit) -> str:
    """Where a unit's card thumbnail is (site-relative): derived, so the index need not say it."""
    return f"thumbs/{u.lslug}/{u.unit}.webp"


def _round(v: float | None) -> float | int | None:
    """A number as the cards show it (3 significant digits, :func:`atlas.site.env.num`), so
    the cards of the HTML and of the script say the same."""
    if v is None:
        return None
    r = float(num(v))
    return int(r) if r == int(r) and abs(r) < 1e15 else r


class _Words:
    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, word: str) -> str:
        if word not in self.ids:
            self.ids[word] = len(self.ids)
        return _b36(self.ids[word])

    @property
    def list(self) -> list[str]:
        return list(self.ids)


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if not n:
            return out


def _labels(u: Unit, model_classes: bool, word: _Words) -> str:
    """A unit's label names as word ids: base-36 ids joined by "," within a kind, kinds in
    :data:`KINDS` order then the direction's name, split by "|" (trailing empty kinds cut)."""
    names = u.names(model_classes)
    parts = [",".join(word(n) for n in names.get(k, [])[:NAMES_PER_KIND]) for k in KINDS]
    parts.append(word(u.feature.name) if u.feature is not None and u.feature.name else "")
    return "|".join(parts).rstrip("|")


def index_data(atlas: Atlas, gs: list[Group], thumbs: set[str]) -> dict[str, Any]:
    """``window.ATLAS_INDEX``: groups ``gs`` (:func:`groups`), words and per-unit columns (see
    the module's doc). ``thumbs``: the thumbnail paths that exist."""
    layers = list(dict.fromkeys(g.layer for g in gs))
    basis_names = [CHANNELS, *dict.fromkeys(g.basis for g in gs if g.basis != CHANNELS)]
    word, texts = _Words(), {"": 0}
    model_classes = not atlas.random_weights
    act, clusters, spread, labels, strength, flags = [], [], [], [], [], []
    for u in atlas.units:
        act.append(_round(u.top_activation))
        clusters.append(u.clusters or 0)
        spread.append(_round(u.spread) or 0)  # none sorts as 0 and is never shown
        labels.append(_labels(u, model_classes, word))
        st = u.strongest.final_standing if u.strongest else None
        strength.append(texts.setdefault(st.text, len(texts)) if st else 0)
        f = (HAS_THUMB if thumb_path(u) in thumbs else 0) | (
            PENDING if u.pending else NOT_ACCENTED if u.accent_note else 0)
        flags.append(str(f))
    out_groups = []
    for g in gs:
        rec: dict[str, Any] = {"name": g.name, "layer": layers.index(g.layer),
                               "basis": basis_names.index(g.basis), "kind": g.kind,
                               "slug": g.slug, "n": len(g.units)}
        if g.units != list(range(len(g.units))):
            rec["units"] = g.units  # else units 0..n-1, said by n alone
        if atlas.global_map.get(g.name):
            rec["map"] = 1
        out_groups.append(rec)
    return {"first": FIRST, "page": PAGE, "layers": layers, "bases": basis_names,
            "groups": out_groups, "kinds": list(KINDS.values()), "words": word.list,
            "texts": list(texts), "act": act, "clusters": clusters, "spread": spread,
            "labels": labels, "strength": strength, "flags": "".join(flags)}


def card(data: dict[str, Any], i: int) -> dict[str, Any]:
    """What the card of unit ``i`` shows, read from the index data as ``index.js`` reads it
    (the HTML's first cards and the script's must be one card; a browser test compares them)."""
    g = next(g for g in reversed(_starts(data)) if g[0] <= i)[1]
    j = i - g["start"]
    unit = g["units"][j] if "units" in g else j
    ids = [[int(x, 36) for x in part.split(",") if x] for part in data["labels"][i].split("|")]
    name = data["words"][ids[3][0]] if len(ids) > 3 and ids[3] else ""
    first = next(((k, part) for k, part in enumerate(ids[:3]) if part), None)
    f = int(data["flags"][i])
    return {
        "href": f"units/{g['slug']}/{unit}.html",
        "thumb": f"thumbs/{g['slug']}/{unit}.webp" if f & HAS_THUMB else None,
        "where": g["name"], "kind": g["kind"], "unit": unit, "name": name,
        "act": num(data["act"][i]), "clusters": data["clusters"][i],
        "strength": data["texts"][data["strength"][i]],
        "labels": f"{data['kinds'][first[0]]}: " + ", ".join(
            data["words"][w] for w in first[1][:2]) if first else "",
        "pending": "accentuation pending" if f & PENDING else
                   "not accentuated" if f & NOT_ACCENTED else "",
    }


def _starts(data: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    out, start = [], 0
    for g in data["groups"]:
        out.append((start, {**g, "start": start}))
        start += g["n"]
    return out


def map_points(atlas: Atlas, g: Group) -> list[int]:
    """The layer map of group ``g`` as flat ``[x, y, j, rank, ...]``: x, y in 0..1000, ``j``
    the unit's position in the group, ``rank`` its accentuation's (-1: the unit's own point)."""
    local = {unit: j for j, unit in enumerate(g.units)}
    flat: list[int] = []
    for x, y, unit, rank in atlas.global_map.get(g.name, []):
        if unit in local:
            flat += [round(x * 1000), round(y * 1000), local[unit], rank]
    return flat


def map_tips(atlas: Atlas, g: Group, place: Any) -> list[Any]:
    """The map's hover images of group ``g``: per unit position ``j``, per accentuation rank
    (-1: the unit's own point, its top image) the site path, as ``[prefix, suffix,
    {j: {rank: middle}}]`` (``prefix + middle + suffix``). ``place``: run media -> site path."""
    paths: dict[tuple[int, int], str] = {}
    for j, u in enumerate(atlas.units[g.start:g.start + len(g.units)]):
        for a in u.accents:
            if p := place(a.accent_media):
                paths[(j, a.rank)] = p
        top = next((s.pic.media for s in u.top[:1] if s.pic.media), None)
        if p := place(top):
            paths[(j, -1)] = p
    values = list(paths.values())
    pre = os.path.commonprefix(values) if values else ""
    rest = [v[len(pre):] for v in values]
    suf = os.path.commonprefix([r[::-1] for r in rest])[::-1] if len(values) > 1 else ""
    mids: dict[str, dict[str, str]] = {}
    for (j, rank), v in paths.items():
        mids.setdefault(str(j), {})[str(rank)] = v[len(pre):len(v) - len(suf)]
    return [pre, suf, mids]
