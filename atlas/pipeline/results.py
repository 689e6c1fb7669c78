"""The validation result (``validation/validation.json``) as typed dataclasses.

``atlas validate`` (:mod:`atlas.evaluation`) builds these objects and writes them; the site's
Validation page reads them back through the same classes, the way :mod:`atlas.pipeline.schema`
serves the tables. The file is run data like any other: it may be truncated, hand-edited or
written by another version. :meth:`ValidationResult.from_json` therefore checks every field
against its type and a few shapes the readers index by, and turns any mismatch into one
:class:`ResultError` line naming the field, never a traceback. Numbers may be NaN or infinite
(a gain over a seed that does not fire): they are kept as they are (Python's JSON writes and
reads ``NaN`` and ``Infinity``), and readers show them as missing.

    validation/
      validation.json           ValidationResult
      pathway-<layer>.svg       charts, one set per target layer (chart_path), and the sweep's
      closeness-<layer>.svg
      gain-<layer>.svg
      lambda-distance.svg
      lambda-gain.svg
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from functools import cache
from pathlib import Path
from types import NoneType, UnionType
from typing import Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from atlas.errors import AtlasError
from atlas.names import slug

FORMAT = 1  # bump when the layout changes incompatibly; a field with a None default may be absent
FOLDER = "validation"
FILE = f"{FOLDER}/validation.json"  # relative to the run directory


class ResultError(AtlasError):
    """A validation result that cannot be read (one line, naming the file and the field);
    ``detail`` says what is wrong, the message also what to do."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(f"{detail}: re-run `atlas validate` (it replaces the file)")


def chart_path(kind: str, layer: str | None = None) -> str:
    """Run-relative path of a chart: per target layer ("pathway", "closeness", "gain") or of
    the sweep ("lambda-distance", "lambda-gain", ``layer`` None). Forward slashes."""
    return f"{FOLDER}/{kind}.svg" if layer is None else f"{FOLDER}/{kind}-{slug(layer)}.svg"


@dataclass
class Interval:
    """A mean over units with its 95% percentile-bootstrap interval."""

    mean: float
    lo: float
    hi: float
    n: int


@dataclass
class Distribution:
    """A set of values (one per unit, pair or seed) with its summary numbers."""

    mean: float
    median: float
    min: float
    max: float
    n: int
    values: list[float]

    @classmethod
    def of(cls, values: Iterable[float]) -> Distribution:
        v = np.asarray(list(values), dtype=float)
        return cls(mean=float(v.mean()), median=float(np.median(v)), min=float(v.min()),
                   max=float(v.max()), n=int(v.size), values=[float(x) for x in v])


@dataclass
class Correlations:
    """One unit's mean Pearson r of attribution vectors, per pair of image kinds
    (:func:`atlas.evaluation.pathway.unit_correlations`)."""

    accent_natural: float
    natural_natural: float
    vis_natural: float
    random_natural: float
    accent_own_seed: float


@dataclass
class PathwayStats:
    """:class:`Correlations` across units, each with its interval, plus the paired
    differences the claims are about."""

    accent_natural: Interval
    natural_natural: Interval
    vis_natural: Interval
    random_natural: Interval
    accent_own_seed: Interval
    accent_minus_natural: Interval
    accent_minus_vis: Interval


# attribution layer, or "all" (the average over the attribution layers) -> statistics
Pathway = dict[str, PathwayStats]


@dataclass
class Claims:
    """The paper's pathway claims on a layer-averaged row, with the thresholds applied."""

    accent_ge_natural: bool  # accent<->natural >= natural<->natural - margin
    accent_beats_vis: bool  # accent<->natural - vis<->natural >= gap
    margin: float
    gap: float


@dataclass
class Closeness:
    """Gain and closeness of one target layer's accentuations and visualizations."""

    seed_activation: Distribution
    accent_activation: Distribution
    vis_activation: Distribution
    accent_gain: Distribution  # final / seed activation
    vis_gain: Distribution
    accent_distance: Distribution  # relative latent distance to the seed at reg_layer
    vis_distance: Distribution
    accent_pixel_rmse: Distribution
    reg_layer: str


@dataclass
class KindShares:
    """The own channel's share of |attribution|, per image kind (mean over units, CI)."""

    natural: Interval
    accent: Interval
    vis: Interval
    random: Interval


@dataclass
class KindTops:
    """How often the own channel is the largest one, per image kind."""

    natural: float
    accent: float
    vis: float
    random: float


@dataclass
class OwnChannel:
    """How much the target's own channel weighs at one attribution layer on its stream."""

    chance: float  # 1 / channels
    channels: int
    share: KindShares
    top: KindTops


@dataclass
class Shortcut:
    """The shortcut-removed variant of one target layer (:mod:`atlas.evaluation.shortcut`).
    ``layers`` empty: no attribution layer on the target's residual stream, so no variant."""

    rule: str
    layers: list[str]
    pathway: Pathway | None  # the stream layers and "all"
    own_channel: dict[str, OwnChannel]
    claims: Claims | None

    def problem(self) -> str:
        if not self.layers:
            return "" if self.pathway is None and self.claims is None else (
                "pathway and claims must be null when layers is empty")
        if self.pathway is None or self.claims is None:
            return "pathway and claims must be given when layers is not empty"
        return _groups(self.pathway, self.layers, "pathway")


@dataclass
class UnitRow:
    """One unit's own numbers."""

    unit: int
    correlations: dict[str, Correlations]  # attribution layer or "all"
    gain: float  # mean over its seeds
    latent_distance: float
    correlations_no_shortcut: dict[str, Correlations] | None = None  # with a Shortcut variant


@dataclass
class LayerResult:
    """Everything ``atlas validate`` measured for one target layer."""

    units: list[int]
    attr_layers: list[str]
    closeness: Closeness
    pathway: Pathway  # every attribution layer and "all"
    per_unit: list[UnitRow]
    claims: Claims
    shortcut: Shortcut | None = None  # absent in results written before the variant existed

    def problem(self) -> str:
        return _groups(self.pathway, self.attr_layers, "pathway")


@dataclass
class NaturalPairs:
    """Relative latent distances between random pairs of different photos: the scale an
    accentuation's distance to its seed is read against."""

    layer: str
    distance: list[float]

    def problem(self) -> str:
        return "" if self.distance else "distance is empty"


@dataclass
class Region:
    """Where a distance-vs-λ curve turns (:func:`atlas.evaluation.sweep.sensitive_region`)."""

    steepest: tuple[float, float]
    max_slope_per_decade: float
    distance_smallest_lambda: float
    distance_largest_lambda: float
    mid: float | None  # None: the curve never crosses halfway
    region: tuple[float, float] | None


@dataclass
class Sweep:
    """The λ sweep: per unit (rows) and λ (columns) gain, distance and activation."""

    layer: str
    units: list[int]
    lambdas: list[float]
    gain: list[list[float]]
    distance: list[list[float]]
    final_activation: list[list[float]]
    seed_activation: list[float]  # per unit
    mean_gain: list[float]  # per λ
    mean_distance: list[float]
    region: Region
    unit_mid: list[float | None]  # per unit: its own halfway λ
    recommended_lambda: float | None
    rule: str

    def problem(self) -> str:
        n, m = len(self.units), len(self.lambdas)
        for name in ("gain", "distance", "final_activation"):
            rows = getattr(self, name)
            if len(rows) != n or any(len(r) != m for r in rows):
                return f"{name} must hold {n} rows of {m} numbers (units x lambdas)"
        for name, want in (("seed_activation", n), ("unit_mid", n), ("mean_gain", m),
                           ("mean_distance", m)):
            if len(getattr(self, name)) != want:
                return f"{name} must hold {want} numbers"
        return ""


@dataclass
class ValidationResult:
    """The whole result of ``atlas validate``: ``validation/validation.json``."""

    key: str  # hash of model, images, settings and what is measured: a cache key
    model: str
    source: str
    config: dict[str, Any]  # the settings as run (ValidateConfig, accent with its reg layer)
    natural_pairs: NaturalPairs
    layers: dict[str, LayerResult]  # per target layer
    sweep: Sweep | None  # None: no sweep asked for
    seconds: dict[str, float]  # per target layer, "sweep" and "total"
    charts: list[str] = field(default_factory=list)  # run-relative SVG paths (chart_path)
    format: int = FORMAT

    def to_dict(self) -> dict[str, Any]:
        """The JSON layout, checked against the schema on the way out: the writer cannot
        write what the reader would refuse (a mismatch here is a bug, hence TypeError)."""
        data = _encode(self)
        try:
            _decode(ValidationResult, data, "")
        except _Bad as e:
            raise TypeError(f"validation result does not match its schema: {e}") from None
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: object, where: str = "validation result") -> ValidationResult:
        """Check ``data`` (parsed JSON) and build the result; ``where`` names it in errors."""
        if not isinstance(data, dict):
            raise ResultError(f"{where} is not a validation result (a JSON {_json_type(data)})")
        fmt = data.get("format")
        if type(fmt) is not int or fmt != FORMAT:
            raise ResultError(f"{where} has format {fmt!r}; this atlas reads format {FORMAT}")
        try:
            return _decode(cls, data, "")
        except _Bad as e:
            raise ResultError(f"{where}: {e}") from None

    @classmethod
    def from_json(cls, text: str | bytes, where: str = "validation result") -> ValidationResult:
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            raise ResultError(f"{where} is not readable JSON ({_short(e)})") from None
        return cls.from_dict(data, where)


def read_result(path: str | Path, name: str | None = None) -> ValidationResult:
    """Read and check a result file; :class:`ResultError` when it cannot be used. Errors call
    the file ``name`` (default: its path), e.g. run-relative on a page that is shared."""
    where = repr(str(path) if name is None else name)
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ResultError(f"{where} cannot be read ({e.strerror or e})") from None
    return ValidationResult.from_json(data, where)


def _groups(pathway: Pathway, layers: list[str], name: str) -> str:
    missing = [g for g in [*layers, "all"] if g not in pathway]
    return f"{name} lacks {', '.join(map(repr, missing))}" if missing else ""


class _Bad(Exception):
    """A field that does not match its type (message: path and what is wrong)."""


def _json_type(x: object) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean",
            type(None): "null"}.get(type(x), "number")


def _short(x: object) -> str:
    text = str(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _show(x: object) -> str:
    """A value as it would read in the file (shortened), or its type when not JSON."""
    try:
        return _short(json.dumps(x))
    except (TypeError, ValueError):
        return f"a {type(x).__name__}"


def _at(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


@cache
def _hints(cls: type) -> dict[str, Any]:
    return get_type_hints(cls)


def _encode(obj: Any) -> Any:
    """Dataclasses to JSON-ready dicts; a field whose default is None is left out when None."""
    if is_dataclass(obj):
        return {f.name: _encode(v) for f in fields(obj)
                if not ((v := getattr(obj, f.name)) is None and f.default is None)}
    if isinstance(obj, dict):
        return {k: _encode(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v) for v in obj]
    return obj


def _decode(tp: Any, x: Any, where: str) -> Any:
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return x
    if origin in (Union, UnionType):
        if x is None and NoneType in args:
            return None
        (inner,) = [a for a in args if a is not NoneType]
        return _decode(inner, x, where)
    if is_dataclass(tp):
        return _object(tp, x, where)
    if origin is list:
        return [_decode(args[0], v, f"{where}[{i}]") for i, v in enumerate(_is(x, list, where))]
    if origin is tuple:
        items = _is(x, list, where)
        if len(items) != len(args):
            raise _Bad(f"{where}: expected {len(args)} items, got {len(items)}")
        return tuple(_decode(a, v, f"{where}[{i}]")
                     for i, (a, v) in enumerate(zip(args, items, strict=True)))
    if origin is dict:
        return {k: _decode(args[1], v, f"{where}[{k!r}]") for k, v in _is(x, dict, where).items()}
    return _leaf(tp, x, where)


def _is(x: Any, kind: type, where: str) -> Any:
    if not isinstance(x, kind):
        raise _Bad(f"{where or 'the file'}: expected a JSON {_json_type(kind())}, got "
                   f"{_show(x)}")
    return x


def _leaf(tp: type, x: Any, where: str) -> Any:
    if tp is float and isinstance(x, int | float) and not isinstance(x, bool):
        try:
            return float(x)
        except OverflowError:
            pass
    elif (tp is int and isinstance(x, int) and not isinstance(x, bool)) or (
            tp in (bool, str) and isinstance(x, tp)):
        return x
    what = {float: "a number", int: "a whole number", bool: "true or false", str: "a string"}
    raise _Bad(f"{where}: expected {what[tp]}, got {_show(x)}")


def _object(cls: type, x: Any, where: str) -> Any:
    data, hints, kwargs = _is(x, dict, where), _hints(cls), {}
    for f in fields(cls):
        if f.name in data:
            kwargs[f.name] = _decode(hints[f.name], data[f.name], _at(where, f.name))
        elif f.default is MISSING and f.default_factory is MISSING:
            raise _Bad(f"{_at(where, f.name)} is missing")
    obj = cls(**kwargs)
    problem = obj.problem() if hasattr(obj, "problem") else ""
    if problem:
        raise _Bad(f"{where or 'the file'}: {problem}")
    return obj
