"""``ModelConfig``: the one JSON-serialisable description that fully determines a network."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from edgesnn.neurons.lif import LIFParams

BLOCKS = ("sew", "vanilla", "ms")
CONNECTS = ("ADD", "AND", "IAND", "OR")
ATTENTION_DIMS = ("none", "T", "C", "S")
ATTENTION_PARTS = ("synA", "MA", "IA")
POSITIONS = ("a", "b", "c", "d")


class ConfigError(ValueError):
    """A model configuration that cannot describe a network; the message names the field."""


@dataclass(frozen=True)
class ModelConfig:
    """Architecture of a spiking ResNet21 (Table IX) and its variants.

    ``block``: "sew" (Eq. 6, g(backbone, shortcut) with ``connect``), "vanilla" (Eq. 4) or "ms" (Eq. 5).
    OR-Spiking ResNet is ``block="sew", connect="OR"``; SynA-ResNet adds ``attention`` in {T, C, S}.
    ``attention_parts`` selects both parts (synA) or one of them (the Table VII ablation);
    ``attention_position`` is a-d of Table V.
    """

    name: str = "custom"
    in_channels: int = 1
    input_size: tuple[int, int] = (28, 28)
    num_classes: int = 10
    T: int = 4
    width: float = 1.0
    block: str = "sew"
    connect: str = "OR"
    attention: str = "none"
    attention_parts: str = "synA"
    attention_position: str = "b"
    time_reduction: int = 2
    channel_reduction: int = 4
    spatial_kernel: int = 7
    ia_gate_init: float = 0.0
    input_pool: int | None = None  # adaptive average pool to this size first (CIFAR10-DVS: 48)
    stem_kernel: int = 3
    stem_stride: int = 1
    stem_maxpool: bool = False  # MaxPool k3 s2 p1 after the stem (event-camera nets)
    feature_channels: int = 64
    num_feature_convs: int = 4
    stage_channels: tuple[int, ...] = (128, 256, 512)
    # the input's integer grid on a device: a float input value is u8 / input_scale_num (images: pixel / 255;
    # event frames from the dataset registry: raw counts, 1)
    input_scale_num: int = 255
    lif: LIFParams = field(default_factory=LIFParams)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_size", tuple(int(v) for v in self.input_size))
        object.__setattr__(self, "stage_channels", tuple(int(v) for v in self.stage_channels))
        if isinstance(self.lif, dict):
            object.__setattr__(self, "lif", LIFParams(**self.lif))
        self.validate()

    def validate(self) -> None:
        def need(ok: bool, field_name: str, msg: str) -> None:
            if not ok:
                raise ConfigError(f"ModelConfig.{field_name}: {msg}")

        need(self.block in BLOCKS, "block", f"{self.block!r} is not one of {BLOCKS}")
        need(self.connect in CONNECTS, "connect", f"{self.connect!r} is not one of {CONNECTS}")
        need(self.attention in ATTENTION_DIMS, "attention", f"{self.attention!r} not in {ATTENTION_DIMS}")
        need(self.attention_parts in ATTENTION_PARTS, "attention_parts", f"not in {ATTENTION_PARTS}")
        need(self.attention_position in POSITIONS, "attention_position", f"not in {POSITIONS}")
        need(
            self.attention == "none" or self.block == "sew",
            "attention",
            "SynA attention is defined for SEW-style blocks (block='sew') only",
        )
        need(self.T >= 1, "T", f"must be >= 1, got {self.T}")
        need(0 < self.width <= 4, "width", f"must be in (0, 4], got {self.width}")
        need(self.in_channels >= 1, "in_channels", f"must be >= 1, got {self.in_channels}")
        need(self.num_classes >= 2, "num_classes", f"must be >= 2, got {self.num_classes}")
        need(
            len(self.input_size) == 2 and min(self.input_size) >= 1,
            "input_size",
            f"must be (H, W) >= 1, got {self.input_size}",
        )
        need(len(self.stage_channels) >= 1, "stage_channels", "needs at least one stage")
        scale = self.input_scale_num
        need(1 <= scale <= 255, "input_scale_num", f"must be in 1..255, got {scale}")
        need(self.time_reduction >= 1, "time_reduction", "must be >= 1")
        need(self.channel_reduction >= 1, "channel_reduction", "must be >= 1")
        need(self.spatial_kernel % 2 == 1, "spatial_kernel", "must be odd")
        need(self.stem_kernel % 2 == 1, "stem_kernel", "must be odd")

    # --- derived sizes -------------------------------------------------------------------------
    def channels(self, c: int) -> int:
        """Channel count of a full-width layer with ``c`` channels, scaled by ``width``."""
        return max(1, round(c * self.width))

    @property
    def has_ma(self) -> bool:
        return self.attention != "none" and self.attention_parts in ("synA", "MA")

    @property
    def has_ia(self) -> bool:
        return self.attention != "none" and self.attention_parts in ("synA", "IA")

    @property
    def label(self) -> str:
        if self.block == "vanilla":
            return "Vanilla Spiking ResNet21"
        if self.block == "ms":
            return "MS-ResNet21"
        if self.connect == "OR":
            if self.attention == "none":
                return "OR-Spiking ResNet21"
            parts = {"synA": "SynA", "MA": "MA", "IA": "IA"}[self.attention_parts]
            return f"OR-Spiking ResNet21 + {parts}-{self.attention} ({self.attention_position})"
        return f"{self.connect}-SEW-ResNet21"

    # --- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["input_size"] = list(self.input_size)
        d["stage_channels"] = list(self.stage_channels)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ConfigError(f"ModelConfig: unknown field(s) {unknown} (written by a newer edgesnn?)")
        return cls(**d)

    def with_(self, **changes: Any) -> ModelConfig:
        return replace(self, **changes)


def _image_preset(name: str) -> ModelConfig:
    return ModelConfig(name=name, in_channels=1, input_size=(28, 28), num_classes=10, T=16)


PRESETS: dict[str, ModelConfig] = {
    "mnist": _image_preset("mnist"),
    "fashion-mnist": _image_preset("fashion-mnist"),
    # EMULATED event streams of Fashion-MNIST (edgesnn.data.emulator): 2 polarity channels, 34x34 canvas
    "emulated-fashion-mnist": ModelConfig(
        name="emulated-fashion-mnist",
        in_channels=2,
        input_size=(34, 34),
        num_classes=10,
        T=16,
        input_scale_num=1,
    ),
    "dvs-gesture": ModelConfig(
        name="dvs-gesture",
        in_channels=2,
        input_size=(128, 128),
        num_classes=11,
        T=32,
        stem_kernel=7,
        stem_stride=2,
        stem_maxpool=True,
        input_scale_num=1,
    ),
    "cifar10-dvs": ModelConfig(
        name="cifar10-dvs",
        in_channels=2,
        input_size=(128, 128),
        num_classes=10,
        T=16,
        input_pool=48,
        stem_kernel=3,
        stem_stride=2,
        stem_maxpool=True,
    ),
}


def preset(name: str, **overrides: Any) -> ModelConfig:
    """A Table IX network (mnist, fashion-mnist, dvs-gesture, cifar10-dvs) with fields overridden."""
    try:
        base = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}") from None
    return base.with_(**overrides) if overrides else base
