"""Receptive fields: the theoretical size of known conv stacks, and the effective one holding
the stated share of the input gradient."""

from __future__ import annotations

import torch
from torch import nn

from atlas.models.receptive import receptive_field
from tests.helpers.models import tiny_model


def test_receptive_field_of_known_conv_stacks():
    torch.manual_seed(0)
    plain = nn.Sequential(*[nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1) for i in range(3)])
    assert receptive_field(tiny_model(plain), "2").theoretical == 7  # 1 + 3 * (3 - 1)
    strided = nn.Sequential(nn.Conv2d(3, 4, 3, 2, 1), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1),
                            nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    assert receptive_field(tiny_model(strided), "4").theoretical == 11  # 3 + 2 * 2 + 2 * 2
    assert receptive_field(tiny_model(strided), "0").theoretical == 3
    assert receptive_field(tiny_model(strided, 8), "4").theoretical == 8  # larger than the input


def test_effective_field_holds_the_stated_share_of_the_gradient():
    """Three all-ones 3x3 convs: the input gradient is the outer product of [1,3,6,7,6,3,1]/27
    with itself; the centred 5x5 square holds (25/27)^2 = 0.857 of it, the 3x3 one 0.495."""
    ones = nn.Sequential(*[nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1, bias=False)
                           for i in range(3)])
    for conv in ones:
        nn.init.ones_(conv.weight)
    field = receptive_field(tiny_model(ones), "2", share=0.8)
    assert (field.theoretical, field.effective) == (7, 5)
    assert receptive_field(tiny_model(ones), "2", share=0.9).effective == 7
    assert receptive_field(tiny_model(ones), "2", share=0.4).effective == 3
