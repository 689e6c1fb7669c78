"""Layers named by a unique end of their module path (``encoder_layer_6``), and one line when
the end is ambiguous."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from atlas.errors import AtlasError
from atlas.models.hooks import Probe
from atlas.models.reglayer import reg_layer_for
from atlas.models.zoo import from_module


def _encoder() -> nn.Module:
    """Module paths shaped like torchvision's ViT: encoder.layers.encoder_layer_N."""
    torch.manual_seed(0)
    layers = nn.Sequential()
    for i in range(3):
        layers.add_module(f"encoder_layer_{i}", nn.Conv2d(3, 3, 3, padding=1))
    net = nn.Sequential()
    net.add_module("encoder", nn.Module())
    net.encoder.add_module("layers", layers)
    net.encoder.forward = layers.forward
    net.add_module("norm", nn.Conv2d(3, 3, 1))
    return net


def test_unique_suffixes_name_layers():
    model = from_module(_encoder(), 32)
    assert model.full_name("encoder_layer_1") == "encoder.layers.encoder_layer_1"
    assert model.full_name("layers.encoder_layer_1") == "encoder.layers.encoder_layer_1"
    acts = Probe(model, ["encoder_layer_1"])(torch.rand(1, 3, 32, 32))
    assert list(acts) == ["encoder_layer_1"] and acts["encoder_layer_1"].shape == (1, 3, 32, 32)
    assert reg_layer_for(model, "encoder_layer_2", "") == "encoder.layers.encoder_layer_1"
    assert reg_layer_for(model, "encoder_layer_2", "encoder_layer_0") == \
        "encoder.layers.encoder_layer_0"
    with pytest.raises(AtlasError, match="unknown layer of python:Sequential 'coder_layer_1'"):
        model.full_name("coder_layer_1")  # a suffix starts after a dot: not any substring


def test_an_ambiguous_suffix_says_so():
    net = nn.Sequential()
    for part in ("a", "b"):
        net.add_module(part, nn.Sequential())
        getattr(net, part).add_module("conv", nn.Conv2d(3, 3, 1))
    model = from_module(net, 16)
    with pytest.raises(AtlasError, match=r"layer 'conv' of python:Sequential is ambiguous: it "
                                         r"ends 2 layer names \(a.conv, b.conv\); give more"):
        model.full_name("conv")
    assert model.full_name("b.conv") == "b.conv"
