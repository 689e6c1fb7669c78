"""One dataclass config tree, loaded from TOML and overridden by command-line flags.

Each stage owns the dataclass of its own settings (``MineConfig`` in mine.py, ``AccentConfig``
in accentuate.py, ...); this module composes them and maps files and flags onto them.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from atlas.accent.loop import AccentConfig
from atlas.config.checks import check_choice, check_int
from atlas.errors import AtlasError, unknown
from atlas.pipeline.embed import EmbedConfig
from atlas.pipeline.mine import MineConfig
from atlas.pipeline.select import SelectConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass
class ModelConfig:
    name: str = "efficientnet-lite0"
    weights: str = "default"
    input_size: int = 0  # 0: the model's own


@dataclass
class DataConfig:
    images: str = "bundled"
    limit: int = 0  # 0: every image
    split: str = ""  # Hugging Face sources: the split ("" = the spec's or "train")
    image_column: str = ""  # Hugging Face sources: "" = the first Image feature
    label_column: str = ""  # Hugging Face sources: "" = the first ClassLabel feature


@dataclass
class SiteConfig:
    out: str = "site"
    title: str = ""
    thumb: int = 128
    refresh: int = 60  # during a build, re-render at most every this many seconds (0: only at
    #                    the end); at most ~10% of the build (atlas.pipeline.progressive)


@dataclass
class BuildConfig:
    name: str = "demo"
    out: str = ""  # run directory; default runs/NAME
    seed: int = 0
    device: str = "auto"
    units: str = ""  # units to accentuate: "" = all, "0:32", "1,5,9"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mine: MineConfig = field(default_factory=MineConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    accent: AccentConfig = field(default_factory=AccentConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    site: SiteConfig = field(default_factory=SiteConfig)

    def __post_init__(self) -> None:
        if not self.out:
            self.out = str(Path("runs") / self.name)

    def validate(self) -> None:
        check_int("data.limit", self.data.limit, 0)
        check_int("model.input_size", self.model.input_size, 0, 4096)
        check_int("site.thumb", self.site.thumb, 16, 1024)
        check_int("site.refresh", self.site.refresh, 0, 86_400)
        if not (self.device in ("auto", "cpu") or self.device.startswith(("cuda", "mps"))):
            check_choice("device", self.device, ["auto", "cpu", "cuda", "cuda:N", "mps"])
        parse_units(self.units, None)  # form only; the range is checked once n is known
        for part in (self.mine, self.accent):
            part.validate()  # select and embed validate on construction (frozen)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def parse_units(spec: str, n: int | None) -> list[int]:
    """'' -> all n units; 'a:b' -> range; '1,5,9' -> those; errors name the valid form.

    With ``n=None`` only the form is checked (the layer's size is not known yet).
    """
    spec = str(spec).strip()
    top = n if n is not None else 0
    try:
        if not spec:
            units = list(range(top))
        elif ":" in spec:
            a, b = spec.split(":")
            lo, hi = int(a or 0), int(b) if b else top
            units = list(range(lo, hi if n is None else min(hi, n)))
        else:
            units = [int(u) for u in spec.split(",")]
    except ValueError:
        raise AtlasError(f"units must look like '0:32' or '1,5,9', got {spec!r}") from None
    if n is None:
        return units
    bad = [u for u in units if not 0 <= u < n]
    if bad:
        raise AtlasError(f"units {bad} out of range; this layer has units 0..{n - 1}")
    return units


def _put(tree: dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``a.b.c = value`` in a nested dict of overrides."""
    *heads, last = dotted.split(".")
    for h in heads:
        tree = tree.setdefault(h, {})
        if not isinstance(tree, dict):
            raise AtlasError(f"config key {h!r} is a value, not a section")
    if isinstance(value, dict):
        for k, v in value.items():
            _put(tree.setdefault(last, {}), k, v)
    else:
        tree[last] = value


def _construct(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from defaults updated with ``data`` (nested dicts).

    Unknown keys end with the closest valid names; values are coerced where unambiguous
    (an int for a float field, a string for a list field).
    """
    default = cls()
    names = [f.name for f in dataclasses.fields(cls)]
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in names:
            raise unknown("config key", prefix + key, [prefix + n for n in names])
        current = getattr(default, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise AtlasError(f"config section [{prefix}{key}] must be a table")
            value = _construct(type(current), value, f"{prefix}{key}.")
        elif isinstance(current, float) and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif isinstance(current, list) and isinstance(value, str):
            value = [value]
        kwargs[key] = value
    try:
        return cls(**kwargs)
    except TypeError as e:
        raise AtlasError(f"config [{prefix.rstrip('.') or 'top'}]: {e}") from None


def load_toml(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.exists():
        bundled = resources.files("atlas").joinpath(f"configs/{path}.toml")
        if bundled.is_file():
            return tomllib.loads(bundled.read_text())
        names = [f.name[:-5] for f in resources.files("atlas").joinpath("configs").iterdir()
                 if f.name.endswith(".toml")]
        raise AtlasError(f"config {path!r} is not a file or a bundled config ({', '.join(names)})")
    try:
        return tomllib.loads(p.read_text())
    except tomllib.TOMLDecodeError as e:
        raise AtlasError(f"config {path}: invalid TOML: {e}") from None


def _literal(text: str) -> Any:
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


FLAGS = {"model": "model.name", "weights": "model.weights", "layer": "mine.layers",
         "images": "data.images", "limit": "data.limit", "units": "units", "k": "mine.k",
         "seeds": "select.k", "steps": "accent.steps", "device": "device", "out": "out",
         "lam": "accent.lam", "param": "accent.param"}


def build_config(args: argparse.Namespace | None = None, **overrides: Any) -> BuildConfig:
    """Defaults <- TOML file <- command-line flags <- ``--set`` <- ``overrides``; validated."""
    tree: dict[str, Any] = {}
    if args is not None and getattr(args, "config", None):
        for k, v in load_toml(args.config).items():
            _put(tree, k, v)
    for flag, key in FLAGS.items():
        value = getattr(args, flag, None) if args is not None else None
        if value is not None:
            _put(tree, key, value)
    for item in getattr(args, "set", None) or []:
        key, eq, text = item.partition("=")
        if not eq:
            raise AtlasError(f"--set expects SECTION.FIELD=VALUE, got {item!r}")
        _put(tree, key.strip(), _literal(text.strip()))
    for k, v in overrides.items():
        _put(tree, k.replace("__", "."), v)
    cfg = _construct(BuildConfig, tree)
    cfg.validate()
    return cfg
