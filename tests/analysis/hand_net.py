"""A 1-channel network with known weights whose spikes can be followed by hand.

ModelConfig: 4x4 input, T=2, one channel everywhere, no feature convs, one SEW stage:
    stem conv k3 (centre tap 1) - LIF
    block: backbone conv k3 s2 (centre 3) - LIF - conv k3 (centre 3) - LIF;  shortcut conv k1 s2 (w_s) - LIF
    post: conv k3 (centre 3) - LIF, twice;  readout FC 1 -> 2
BN is made an exact identity (eps 0, mean 0, var 1). A centre tap of 3 relays a spike train unchanged
through a LIF (tau 2, V_th 1): input 3 charges 1.5 >= 1 in one step, and 0 leaves it at rest.

The static image (stem LIF sees a constant current I for 2 steps): I = 3 fires at both steps, I = 1.5 only
at step 2 (0.75, then 0.75 + (1.5 - 0.75) / 2 = 1.125), I = 0 never.
"""

from __future__ import annotations

import torch

from edgesnn.models.config import ModelConfig
from edgesnn.models.resnet import SpikingResNet, build_model

IMAGE = torch.tensor(
    [
        [3.0, 0.0, 1.5, 0.0],
        [0.0, 0.0, 0.0, 0.0],
        [1.5, 0.0, 3.0, 0.0],
        [0.0, 0.0, 0.0, 3.0],
    ]
)


def hand_config(**overrides) -> ModelConfig:
    base = dict(
        name="hand",
        in_channels=1,
        input_size=(4, 4),
        num_classes=2,
        T=2,
        width=1.0,
        feature_channels=1,
        num_feature_convs=0,
        stage_channels=(1,),
    )
    base.update(overrides)
    return ModelConfig(**base)


def _centre(conv: torch.nn.Conv2d, value: float) -> None:
    conv.weight.zero_()
    k = conv.kernel_size[0] // 2
    conv.weight[:, :, k, k] = value


@torch.no_grad()
def hand_net(shortcut_weight: float, **overrides) -> SpikingResNet:
    model = build_model(hand_config(**overrides)).eval()
    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eps = 0.0
            m.running_mean.zero_()
            m.running_var.fill_(1.0)
            m.weight.fill_(1.0)
            m.bias.zero_()
        if isinstance(m, torch.nn.Linear):
            m.weight.zero_()
    block = model.stages[0].block
    _centre(model.stem.conv_bn.conv, 1.0)
    _centre(block.backbone[0].conv_bn.conv, 3.0)
    _centre(block.backbone[1].conv_bn.conv, 3.0)
    _centre(block.shortcut.conv_bn.conv, shortcut_weight)
    for unit in model.stages[0].post:
        _centre(unit.conv_bn.conv, 3.0)
    model.head.fc.weight.copy_(torch.tensor([[1.0], [-1.0]]))
    model.head.fc.bias.zero_()
    return model


def images(n: int = 2) -> torch.Tensor:
    """``n`` copies of IMAGE as a static batch [n, 1, 4, 4]."""
    return IMAGE.expand(n, 1, 4, 4).clone()
