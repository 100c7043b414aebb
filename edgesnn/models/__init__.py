"""The SynA-ResNet model family."""

from edgesnn.models.attention import Attention, AttentionDim, AttentionKind
from edgesnn.models.config import PRESETS, ConfigError, ModelConfig, preset
from edgesnn.models.residual import Connect, connect
from edgesnn.models.resnet import SpikingResNet, build_model

__all__ = [
    "PRESETS",
    "Attention",
    "AttentionDim",
    "AttentionKind",
    "ConfigError",
    "Connect",
    "ModelConfig",
    "SpikingResNet",
    "build_model",
    "connect",
    "preset",
]
