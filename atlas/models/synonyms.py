"""Other names of a model's classes: the WordNet synonyms of the ImageNet-1k classes.

``atlas/data/imagenet_synonyms.txt`` holds, line by line in the order of
``imagenet_classes.txt``, each class's WordNet lemmas ("tabby, tabby cat"). A data set labels
its photos in everyday words ("polar bear", "pig") where ImageNet's first names are others
("ice bear", "hog"); the synonyms let those labels find their class
(:mod:`atlas.pipeline.decisions.labels`).
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from atlas.models.zoo import imagenet_classes


@cache
def _by_name() -> dict[str, tuple[str, ...]]:
    text = resources.files("atlas").joinpath("data/imagenet_synonyms.txt").read_text()
    lines = text.splitlines()
    return {name: tuple(s.strip() for s in line.split(",") if s.strip())
            for name, line in zip(imagenet_classes(), lines, strict=True)}


def class_synonyms(names: list[str]) -> list[tuple[str, ...]]:
    """Per class: its own name first, then the synonyms of the ImageNet class of that name (a
    model's classes that are not ImageNet's get their own name alone)."""
    known = _by_name()
    return [(n, *(s for s in known.get(n, ()) if s != n)) for n in names]
