"""The site's title when nobody chose one: ``model · layer · data``.

A run built from the bundled config is named "demo", which says nothing about its model, layer
or data. The rule (stated on the About page): a title set explicitly (``site.title`` in the
config, or given to the renderer) wins; then the run's own name, unless it is the bundled
config's default "demo", which names nothing; otherwise the run is described by what it is.
"""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

DEFAULT_NAME = "demo"  # atlas.config.tree.BuildConfig.name and the bundled config's name
RULE = ("A title set explicitly (site.title, or atlas render's title) wins; otherwise the run's "
        f"name, unless it is the default \u201c{DEFAULT_NAME}\u201d; otherwise "
        "\u201cmodel \u00b7 layer \u00b7 data\u201d from the run's configuration.")


def _get(tree: Any, *keys: str) -> Any:
    for k in keys:
        tree = tree.get(k) if isinstance(tree, dict) else None
    return tree


def _data_name(spec: str) -> str:
    """A data source spec, short: a folder's last part, a hub set's name as given."""
    kind, sep, rest = spec.partition(":")
    if sep and kind in ("folder", "imagefolder"):
        return PurePosixPath(rest.rstrip("/").replace("\\", "/")).name or spec
    if not sep and ("/" in spec or "\\" in spec):
        return PurePosixPath(spec.rstrip("/").replace("\\", "/")).name or spec
    return spec


def described(manifest: dict[str, Any]) -> str:
    """``model · layer · data`` from the manifest's config ("" when it has no model)."""
    cfg = manifest.get("config")
    model = _get(cfg, "model", "name") or _get(cfg, "model")
    if not isinstance(model, str) or not model:
        return ""
    layers = _get(cfg, "mine", "layers") or _get(cfg, "layers") or []
    layers = [str(x) for x in layers] if isinstance(layers, list) else []
    layer = ", ".join(layers) if len(layers) <= 2 else f"{len(layers)} layers"
    data = _get(cfg, "data", "images")
    parts = [model, layer, _data_name(str(data)) if data else ""]
    return " \u00b7 ".join(p for p in parts if p)


def site_title(manifest: dict[str, Any], folder: str, given: str = "") -> tuple[str, str]:
    """The title and a short note of which rule chose it."""
    explicit = given or _get(manifest.get("config"), "site", "title")
    if isinstance(explicit, str) and explicit.strip():
        return explicit.strip(), "set explicitly"
    name = manifest.get("name")
    if isinstance(name, str) and name.strip() and name.strip() != DEFAULT_NAME:
        return name.strip(), "the run's name"
    auto = described(manifest)
    if auto:
        return auto, "model \u00b7 layer \u00b7 data (the run has no name of its own)"
    return (name.strip() if isinstance(name, str) and name.strip() else folder), "the run's name"
