"""Unit specs, parsed in one place for every command.

Two forms: the units of one layer (``units = "0:32"``, ``"1,5,9"``, ``""`` for all), and units
named with their layer (``--units _blocks.10:3,_blocks.10:7`` for a report, ``--unit
_blocks.10:5`` for one photo). A spec is never cut to fit: a unit the layer lacks is an error
naming the layer's size, so a typo cannot silently shrink a build.
"""

from __future__ import annotations

from collections.abc import Sequence

from atlas.errors import AtlasError

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


def check_units(spec: str) -> None:
    """The form of a unit spec, before the layer's size is known (the range is checked by
    :func:`parse_units` once it is)."""
    _parse(spec, None, "")


def parse_units(spec: str, n: int, layer: str = "") -> list[int]:
    """Units of a layer with ``n`` units: ``''`` all, ``'A:B'`` A..B-1, ``'1,5,9'`` those."""
    return list(_parse(spec, n, layer))


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
