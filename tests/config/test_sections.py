"""Each config section checks its own fields: a bad value names the key and what is valid."""

from __future__ import annotations

import pytest

from atlas.config.fields import check
from atlas.config.sections import DescribeConfig, EmbedConfig, SelectConfig, SiteConfig
from atlas.errors import AtlasError


def test_describe_config_names_bad_values():
    with pytest.raises(AtlasError, match=r"describe.top_n must be an integer in \[1, 10000\]"):
        check(DescribeConfig(top_n=0))


def test_embed_config_names_bad_values():
    with pytest.raises(AtlasError, match="cosine"):
        check(EmbedConfig(metric="cosin"))
    with pytest.raises(AtlasError, match="embed.n_neighbors"):
        check(EmbedConfig(n_neighbors=1))


@pytest.mark.parametrize(
    "kwargs, field",
    [({"k": 0}, "select.k"), ({"method": "kmeans"}, "diverse, topk"), ({"max_clusters": 0}, "max")],
)
def test_select_config_names_bad_values(kwargs, field):
    with pytest.raises(AtlasError, match=field):
        check(SelectConfig(**kwargs))


def test_site_config_names_bad_values() -> None:
    with pytest.raises(AtlasError, match="thumb_px"):
        check(SiteConfig(thumb_px=4))
    with pytest.raises(AtlasError, match="reports_max_units"):
        check(SiteConfig(reports_max_units=-5))
