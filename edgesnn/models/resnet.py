"""Spiking ResNet21 (Table IX) built from a ``ModelConfig``.

    [input pool] - stem conv-BN-LIF - [maxpool] - {c64k3 conv-BN-LIF} x 4
      - 3 stages: downsampling block (c, first conv stride 2, shortcut c1x1 s2) - 2 more convs
      - global average pool - FC (every step) - mean over T

SynA attention placement (Table V, positions a-d; MA on the backbone, IA on every shortcut):

    position   block backbone        2 convs after the block   feature convs 2-5 (pairs)
    a          after conv 1          after conv 1              first of each pair
    b          after conv 2          after conv 2              second of each pair
    c          after conv 1          none                      first of each pair
    d          after conv 2          none                      second of each pair
"""

from __future__ import annotations

import torch
from torch import nn

from edgesnn.models.attention import Attention
from edgesnn.models.blocks import MSBlock, SEWBlock, VanillaBlock
from edgesnn.models.config import ModelConfig
from edgesnn.models.layers import ConvUnit, PreActUnit, Readout, SeqMaxPool
from edgesnn.models.residual import Connect
from edgesnn.neurons.lif import LIF


class Stage(nn.Module):
    """A downsampling residual block followed by two plain convs."""

    def __init__(self, block: nn.Module, post: nn.Sequential) -> None:
        super().__init__()
        self.block = block
        self.post = post

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.post(self.block(x))


class SpikingResNet(nn.Module):
    """The whole network; ``forward`` takes ``[T, B, C, H, W]`` frames or a static ``[B, C, H, W]``
    image (repeated over T without recomputing the first conv) and returns ``[B, classes]``."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        b = _Builder(config)
        self.input_pool = nn.AdaptiveAvgPool2d(config.input_pool) if config.input_pool else None
        self.stem = b.stem()
        self.stem_pool = SeqMaxPool() if config.stem_maxpool else None
        self.features = b.features()
        self.stages = nn.ModuleList(b.stages())
        self.head_lif = b.lif() if config.block == "ms" else None
        self.head = Readout(b.last_channels, config.num_classes)

    def forward_steps(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step logits ``[T, B, classes]``."""
        cfg = self.config
        if x.dim() not in (4, 5):
            raise ValueError(f"input must be [T, B, C, H, W] or [B, C, H, W], got {tuple(x.shape)}")
        if x.shape[-3] != cfg.in_channels:
            raise ValueError(f"input has {x.shape[-3]} channels, the model expects {cfg.in_channels}")
        if self.input_pool is not None:
            x = self.input_pool(x) if x.dim() == 4 else _per_step(self.input_pool, x)
        y = self.stem(x, T=cfg.T)
        if self.stem_pool is not None:
            y = self.stem_pool(y)
        y = self.features(y)
        for stage in self.stages:
            y = stage(y)
        if self.head_lif is not None:
            y = self.head_lif(y)
        return self.head(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_steps(x).mean(0)


def _per_step(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    t, b = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.view(t, b, *y.shape[1:])


class _Builder:
    """Creates the layers for one config, tracking the running channel count."""

    def __init__(self, cfg: ModelConfig) -> None:
        self.cfg = cfg
        self.last_channels = cfg.channels(cfg.feature_channels)

    def lif(self) -> LIF:
        return LIF(self.cfg.lif)

    def ma(self, channels: int, wanted: bool) -> Attention | None:
        cfg = self.cfg
        if not (wanted and cfg.has_ma):
            return None
        return self._attention("MA", channels)

    def _attention(self, kind: str, channels: int) -> Attention:
        cfg = self.cfg
        size, reduction = {
            "T": (cfg.T, cfg.time_reduction),
            "C": (channels, cfg.channel_reduction),
            "S": (0, 1),
        }[cfg.attention]
        return Attention(
            cfg.attention,
            kind,
            size=size,
            reduction=reduction,
            kernel=cfg.spatial_kernel,
            lif=cfg.lif,
            gate_init=cfg.ia_gate_init,
        )

    def stem(self) -> ConvUnit:
        cfg = self.cfg
        lif = None if cfg.block == "ms" else self.lif()
        return ConvUnit(cfg.in_channels, self.last_channels, cfg.stem_kernel, cfg.stem_stride, lif=lif)

    def features(self) -> nn.Sequential:
        cfg, c = self.cfg, self.last_channels
        units: list[nn.Module] = []
        first_of_pair = cfg.attention_position in ("a", "c")
        for i in range(cfg.num_feature_convs):
            if cfg.block == "ms":
                units.append(PreActUnit(c, c, 3, 1, self.lif()))
            else:
                at_slot = (i % 2 == 0) == first_of_pair
                units.append(ConvUnit(c, c, 3, attention=self.ma(c, at_slot), lif=self.lif()))
        return nn.Sequential(*units)

    def stages(self) -> list[Stage]:
        cfg = self.cfg
        out = []
        for full in cfg.stage_channels:
            cin, c = self.last_channels, cfg.channels(full)
            if cfg.block == "sew":
                block: nn.Module = self._sew_block(cin, c)
                post = nn.Sequential(
                    ConvUnit(c, c, 3, attention=self.ma(c, cfg.attention_position == "a"), lif=self.lif()),
                    ConvUnit(c, c, 3, attention=self.ma(c, cfg.attention_position == "b"), lif=self.lif()),
                )
            elif cfg.block == "vanilla":
                block = VanillaBlock(cin, c, self.lif)
                post = nn.Sequential(ConvUnit(c, c, 3, lif=self.lif()), ConvUnit(c, c, 3, lif=self.lif()))
            else:
                block = MSBlock(cin, c, self.lif)
                post = nn.Sequential(PreActUnit(c, c, 3, 1, self.lif()), PreActUnit(c, c, 3, 1, self.lif()))
            out.append(Stage(block, post))
            self.last_channels = c
        return out

    def _sew_block(self, cin: int, c: int) -> SEWBlock:
        cfg = self.cfg
        pos = cfg.attention_position
        backbone = nn.Sequential(
            ConvUnit(cin, c, 3, stride=2, attention=self.ma(c, pos in ("a", "c")), lif=self.lif()),
            ConvUnit(c, c, 3, attention=self.ma(c, pos in ("b", "d")), lif=self.lif()),
        )
        ia = self._attention("IA", c) if cfg.has_ia else None
        shortcut = ConvUnit(cin, c, 1, stride=2, attention=ia, lif=self.lif())
        return SEWBlock(backbone, shortcut, Connect(cfg.connect))


def build_model(config: ModelConfig) -> SpikingResNet:
    return SpikingResNet(config)
