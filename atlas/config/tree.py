"""One dataclass config tree for every command, loaded from TOML and overridden by flags.

Each stage owns the dataclass of its own settings (``MineConfig`` in atlas.pipeline.mine,
``AccentConfig`` in atlas.accent.loop, ...); the tree composes them, so every setting has one
home and one dotted name (``accent.lam``) that a TOML file, a flag and ``--set`` all address.
Every command takes the same tree (a TOML file, its flags, ``--set``; see atlas.config.load)
and reads the sections it needs: ``atlas validate`` ``[validate]`` with ``[model]``, ``[data]``
and ``[accent]``; ``atlas render`` and ``atlas report`` ``[site]``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atlas.accent.loop import AccentConfig
from atlas.config.checks import check_choice
from atlas.config.load import layered, put
from atlas.config.sections import DataConfig, ModelConfig, SiteConfig
from atlas.config.units import parse_units
from atlas.errors import AtlasError, unknown
from atlas.evaluation.settings import ValidateConfig
from atlas.pipeline.describe import DescribeConfig
from atlas.pipeline.embed import EmbedConfig
from atlas.pipeline.mine import MineConfig
from atlas.pipeline.select import SelectConfig


@dataclass
class BuildConfig:
    name: str = "demo"
    out: str = ""  # run directory; default runs/NAME
    device: str = "auto"
    units: str = ""  # units to accentuate: "" = all, "0:32", "1,5,9"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    mine: MineConfig = field(default_factory=MineConfig)
    describe: DescribeConfig = field(default_factory=DescribeConfig)
    select: SelectConfig = field(default_factory=SelectConfig)
    accent: AccentConfig = field(default_factory=AccentConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    site: SiteConfig = field(default_factory=SiteConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)

    def __post_init__(self) -> None:
        if not self.out:
            self.out = str(Path("runs") / self.name)

    def check(self) -> None:
        """Every field's form and range (site, select and embed check on construction)."""
        if not (self.device in ("auto", "cpu") or self.device.startswith(("cuda", "mps"))):
            check_choice("device", self.device, ["auto", "cpu", "cuda", "cuda:N", "mps"])
        parse_units(self.units)  # form only; the range is checked once the layer is known
        for part in (self.model, self.data, self.mine, self.accent, self.validate):
            part.validate()

    def to_dict(self) -> dict[str, Any]:
        return tree_dict(self)


def _in_tree(f: dataclasses.Field) -> bool:
    """Fields marked ``metadata={"tree": False}`` are filled from another section by the code
    (``validate.accent`` is the tree's ``[accent]``): no second home for a setting."""
    return f.metadata.get("tree", True)


def tree_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as nested dicts of the tree's keys (what a manifest records)."""
    return {f.name: tree_dict(v) if dataclasses.is_dataclass(v) else copy.deepcopy(v)
            for f in dataclasses.fields(obj) if _in_tree(f) for v in [getattr(obj, f.name)]}


def _construct(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from defaults updated with ``data`` (nested dicts).

    Unknown keys end with the closest valid names; values are coerced where unambiguous
    (an int for a float field, a string for a list field).
    """
    default = cls()
    names = [f.name for f in dataclasses.fields(cls) if _in_tree(f)]
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


def build_config(args: argparse.Namespace | None = None, **overrides: Any) -> BuildConfig:
    """Defaults <- TOML file <- command-line flags <- ``--set`` <- ``overrides``; checked.

    ``overrides`` name keys with ``__`` for dots (``accent__lam=2``), for library callers.
    """
    tree = layered(args)
    for k, v in overrides.items():
        put(tree, k.replace("__", "."), v)
    cfg = _construct(BuildConfig, tree)
    cfg.check()
    return cfg
