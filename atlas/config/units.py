"""Unit specs, parsed in one place for every command.

Three forms: the units of one layer (``units = "0:32"``, ``"1,5,9"``, ``""`` for all), which a
build applies to each mined layer; a build's units per layer (``_blocks.10:0:16,_blocks.8:0:8``,
``_blocks.10:1,5,9``: :func:`parse_plan`); and single units named with their layer (``--units
_blocks.10:3,_blocks.10:7`` for a report, ``--unit _blocks.10:5`` for one photo). Layer names
are opaque (``_blocks.10/sae`` names a feature set): the units are read from the right. A spec
is never cut to fit: a unit the layer lacks is an error naming the layer's size, so a typo
cannot silently shrink a build.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from atlas.errors import AtlasError, unknown

LayerUnit = tuple[str, int]


def _spec(text: str, n: int | None) -> range | list[int]:
    """The units ``text`` names, as a range where it is one: ``"0:100000000"`` is checked
    against the layer without being spelled out. An open end is ``n`` (the start alone while
    ``n`` is unknown)."""
    if not text:
        return range(n or 0)
    if ":" in text:
        a, b = text.split(":")
        lo = int(a) if a.strip() else 0
        if not b.strip():
            return range(lo, lo + 1) if n is None else range(lo, n)
        return range(lo, int(b))
    return list(dict.fromkeys(int(u) for u in text.split(",")))


def _parse(spec: str, n: int | None, layer: str) -> range | list[int]:
    text = str(spec).strip()
    try:
        units = _spec(text, n)
    except ValueError:
        raise AtlasError(f"units must look like '0:32' or '1,5,9' (or '' for all), "
                         f"got {text!r}") from None
    if isinstance(units, range):  # never spelled out before it is known to fit
        asked = max(0, units.stop - units.start)
        first, bad = units.start, range(max(units.start, n if n is not None else units.stop),
                                        units.stop)
    else:
        asked, first = len(units), min(units, default=0)
        bad = [u for u in units if n is not None and u >= n]
    if text and not asked:
        raise AtlasError(f"units {text!r} select no unit; give A:B with A < B")
    if first < 0:
        raise AtlasError(f"units {text!r}: unit numbers start at 0")
    if n is not None and bad:
        where = f"layer {layer!r}" if layer else "the layer"
        count = bad.stop - bad.start if isinstance(bad, range) else len(bad)
        more = f"; {count} of those asked for are not, from {bad[0]}" if asked > 1 else ""
        raise AtlasError(f"units {text!r} out of range: {where} has {n} units "
                         f"(0..{n - 1}){more}")
    return units


def parse_units(spec: str, n: int, layer: str = "") -> list[int]:
    """Units of a layer with ``n`` units: ``''`` all, ``'A:B'`` A..B-1, ``'1,5,9'`` those."""
    return list(_parse(spec, n, layer))


PLAIN = re.compile(r"\s*(\d*\s*:\s*\d*|\d+(\s*,\s*\d+)*)?\s*")
LAYER = re.compile(r"\w[\w.\-/]*")  # a module path, or a feature set's LAYER/NAME
PER_LAYER = "NAME:A:B or NAME:A,B,C per layer, e.g. _blocks.10:0:16,_blocks.8:0:8"


def is_plain(spec: str) -> bool:
    """Whether ``spec`` names units without layers (``0:32``, ``1,5,9``, ``''``)."""
    return PLAIN.fullmatch(str(spec)) is not None


def _groups(spec: str) -> list[tuple[str, str]]:
    """``NAME:A:B,NAME:A,B,C,NAME`` as (name, units text) pairs, units read from the right."""
    out: list[tuple[str, str]] = []
    for token in (t.strip() for t in spec.split(",")):
        if token.isdigit() and out:  # more units of the previous layer: NAME:1,5,9
            name, text = out[-1]
            if ":" in text.strip(":"):
                raise AtlasError(f"units {spec!r}: unit {token} follows a range of {name!r}; "
                                 f"give {PER_LAYER}")
            out[-1] = (name, f"{text},{token}" if text else token)
            continue
        parts = token.rsplit(":", 2)
        if len(parts) == 3 and re.fullmatch(r"\d*", parts[1].strip()) and \
                re.fullmatch(r"\d*", parts[2].strip()):
            name, text = parts[0], f"{parts[1].strip()}:{parts[2].strip()}"
        else:
            name, _, text = token.rpartition(":") if ":" in token else (token, "", "")
        if not LAYER.fullmatch(name.strip()) or \
                (text and not re.fullmatch(r"\d+|\d*:\d*", text.strip())):
            raise AtlasError(f"units must look like '0:32' or '1,5,9' (or '' for all), or "
                             f"{PER_LAYER}; cannot read {token!r} of {spec!r}")
        out.append((name.strip(), text.strip()))
    return out


def check_units(spec: str) -> None:
    """The form of a build's units setting (plain or per layer), before the layers' sizes are
    known (the ranges are checked by :func:`parse_plan` once they are)."""
    if is_plain(spec):
        _parse(spec, None, "")
        return
    for name, text in _groups(str(spec)):
        _parse(text, None, name)


def parse_plan(spec: str, counts: Mapping[str, int],
               plain: Sequence[str] | None = None) -> dict[str, list[int]]:
    """The units a build accentuates, per unit layer (``counts``: {layer: units}, in order).

    A plain spec applies to the layers ``plain`` (default every layer of ``counts``); a per-layer
    spec to the layers it names, and no unit of the others. Each layer's units are checked
    against its size."""
    if is_plain(spec):
        return {layer: parse_units(spec, n, layer) for layer, n in counts.items()
                if plain is None or layer in plain}
    plan: dict[str, list[int]] = {}
    for name, text in _groups(str(spec)):
        if name not in counts:
            raise unknown("layer in units", name, counts)
        plan[name] = list(dict.fromkeys([*plan.get(name, []),
                                          *parse_units(text, counts[name], name)]))
    return {layer: plan[layer] for layer in counts if plan.get(layer)}


def parse_layer_units(spec: str | Sequence[str | LayerUnit] | None,
                      flag: str = "--units") -> list[LayerUnit]:
    """``"_blocks.10:3,_blocks.10:7"`` (or a list of such strings / pairs) as (layer, unit)."""
    if spec is None:
        spec = ""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[LayerUnit] = []
    for item in items:
        if isinstance(item, tuple):
            out.append((str(item[0]), int(item[1])))
            continue
        layer, sep, unit = str(item).strip().rpartition(":")
        if not sep or not layer or not unit.strip().isdigit():
            raise AtlasError(f"{flag} {str(item).strip()!r}: expected LAYER:UNIT, e.g. "
                             f"_blocks.10:3 (several separated by commas)")
        out.append((layer, int(unit)))
    if not out:
        raise AtlasError(f"{flag}: no units given; expected LAYER:UNIT, e.g. _blocks.10:3")
    return out


def parse_layer_unit(spec: str | None, flag: str = "--unit") -> LayerUnit:
    """Exactly one ``LAYER:UNIT``."""
    pairs = parse_layer_units(spec, flag)
    if len(pairs) != 1:
        raise AtlasError(f"{flag} takes one LAYER:UNIT, got {len(pairs)}: {spec!r}")
    return pairs[0]
