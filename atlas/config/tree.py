"""One dataclass config tree for every command, loaded from TOML and overridden by flags.

Every setting has one home and one dotted name (``accent.lam``) that a TOML file, a flag and
``--set`` all address (:mod:`atlas.config.load`). Every command takes the same tree and reads the
sections it needs: ``atlas validate`` ``[validate]`` with ``[model]``, ``[data]`` and
``[accent]``; ``atlas render`` and ``atlas report`` ``[site]``. The tree is plain data: it imports
no torch and no stage, and what a command derives from it and the machine is resolved once
(:class:`atlas.config.resolved.Resolved`), never written back.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from atlas.config.accent import AccentConfig
from atlas.config.checks import check_choice
from atlas.config.decisions import ClassesConfig, ConnectConfig
from atlas.config.fields import check, hints, kind, section, text, tree_fields
from atlas.config.load import layered, put
from atlas.config.sections import (
    BasisConfig,
    DataConfig,
    DescribeConfig,
    EmbedConfig,
    MineConfig,
    ModelConfig,
    SelectConfig,
    SiteConfig,
)
from atlas.config.units import check_units
from atlas.config.validate import ValidateConfig
from atlas.errors import AtlasError, unknown

DEVICES = ["auto", "cpu", "cuda", "cuda:N", "mps"]


@dataclass
class BuildConfig:
    SECTION: ClassVar[str] = ""
    name: str = text("demo", empty=False)
    out: str = text("")  # run directory; "" = runs/NAME
    device: str = text("auto", empty=False)
    units: str = text("")  # "" = all, "0:32", "1,5,9" (each layer), or per layer: "L:0:16,M:1,5"
    model: ModelConfig = section(ModelConfig)
    data: DataConfig = section(DataConfig)
    basis: BasisConfig = section(BasisConfig)
    mine: MineConfig = section(MineConfig)
    describe: DescribeConfig = section(DescribeConfig)
    select: SelectConfig = section(SelectConfig)
    accent: AccentConfig = section(AccentConfig)
    embed: EmbedConfig = section(EmbedConfig)
    site: SiteConfig = section(SiteConfig)
    connect: ConnectConfig = section(ConnectConfig)
    classes: ClassesConfig = section(ClassesConfig)
    validate: ValidateConfig = section(ValidateConfig)

    @property
    def basis_layer(self) -> str:
        """The unit layer of the basis (``LAYER/NAME``), or "" when only channels are read."""
        b = self.basis
        if not b.active:
            return ""
        return f"{b.layer or self.mine.layers[0]}/{b.name or b.kind}"

    @property
    def unit_layers(self) -> list[str]:
        """Every layer whose units are mined: the basis's features first (what a build with a
        basis accentuates), then the channels of ``mine.layers``."""
        return [*([self.basis_layer] if self.basis.active else []), *self.mine.layers]

    @property
    def planned_layer(self) -> str:
        """The first unit layer a build visualizes and accentuates: the basis's features when a
        basis is read, else the first mined layer's channels."""
        return self.unit_layers[0]

    @property
    def plain_layers(self) -> list[str]:
        """The unit layers a plain ``units`` spec (``0:32``) plans: the basis's features when a
        basis is read (its layer's channels are mined beside them, for comparison), else every
        mined layer. A per-layer spec (``_blocks.10:0:8``) names any unit layer."""
        return [self.basis_layer] if self.basis.active else list(self.mine.layers)

    @property
    def run_dir(self) -> str:
        """The run directory: ``out``, or ``runs/NAME`` when it is empty."""
        return self.out or str(Path("runs") / self.name)

    def rules(self, dot: str) -> None:
        if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", self.device):
            check_choice("device", self.device, DEVICES)
        # one folder name: runs/NAME must stay a folder of runs/
        if self.name in (".", "..") or any(c in self.name for c in "/\\"):
            raise AtlasError(f"name must be a folder name (no '/' or '\\', not '.' or '..'; "
                             f"`out` takes a path), got {self.name!r}")
        check_units(self.units)  # form only; ranges are checked once the layers are known

    def check(self) -> None:
        """Every key's type and range, one line naming the first bad one."""
        check(self)

    def to_dict(self) -> dict[str, Any]:
        return tree_dict(self)


def tree_dict(obj: Any) -> dict[str, Any]:
    """A dataclass as nested dicts of the tree's keys (what a manifest records)."""
    return {f.name: tree_dict(v) if dataclasses.is_dataclass(v) else copy.deepcopy(v)
            for f in tree_fields(type(obj)) for v in [getattr(obj, f.name)]}


def _construct(cls: type, data: dict[str, Any], prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from defaults updated with ``data`` (nested dicts).

    Unknown keys end with the closest valid names; values are coerced where unambiguous (an
    int for a float field, a string for a list of strings). Types and ranges are checked after,
    by :func:`atlas.config.fields.check`, for the whole tree at once.
    """
    fields = {f.name: kind(hints(cls)[f.name]) for f in tree_fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise unknown("config key", prefix + key, [prefix + n for n in fields])
        k = fields[key]
        if k == "section":
            if not isinstance(value, dict):
                raise AtlasError(f"config section [{prefix}{key}] must be a table, got "
                                 f"{value!r}")
            value = _construct(hints(cls)[key], value, f"{prefix}{key}.")
        elif k == "float" and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        elif k == "list[float]" and isinstance(value, list):
            value = [float(v) if isinstance(v, int) and not isinstance(v, bool) else v
                     for v in value]
        elif k == "list[str]" and isinstance(value, str):
            value = [value]
        kwargs[key] = value
    return cls(**kwargs)


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
