"""The one slug: safe names kept, others cleaned and told apart, the same on every run."""

import re

from atlas.data.base import image_id
from atlas.names import readable, slug

SAFE = re.compile(r"[A-Za-z0-9._-]+")


def test_plain_names_stay_as_they_are():
    for name in ("_blocks.10", "layer4.0.conv1", "encoder.layers.encoder_layer_11", "img-3f2a"):
        assert slug(name) == name


def test_unsafe_characters_are_removed():
    odd = ["a/b", "../../etc/passwd", "<img src=x onerror=alert(1)>", "a b", "C:\\x", "é",
           ".hidden", "..", "", "x" * 200, "tab\there", 'q"uote']
    for name in odd:
        s = slug(name)
        assert SAFE.fullmatch(s) and not s.startswith("."), (name, s)
        assert not {"/", "\\", "<", ">", '"', " "} & set(s)
        assert len(s) <= 60 + 9


def test_distinct_inputs_give_distinct_slugs():
    names = ["a/b", "a b", "a_b", "a-b", "a?b", "a:b", "A/b", "é", "e", "ё", ".a", "a",
             "x" * 61, "x" * 62, "", ".", ".."]
    slugs = [slug(n) for n in names]
    assert len(set(slugs)) == len(names), dict(zip(names, slugs, strict=True))


def test_known_output_is_stable():
    """Fixed expected values: a changed slug would move every page and chart of old runs."""
    assert slug("a/b") == "a-b-3ec69c85"
    assert slug("<img src=x>") == "img-src-x-f4285014"
    assert readable("Café au lait (2).jpg") == "Cafe-au-lait-2-jpg"
    assert readable("日本", empty="img") == "img"
    assert image_id("Café au lait", "photos/cafe.jpg") == "Cafe-au-lait-63d0bfe5"
