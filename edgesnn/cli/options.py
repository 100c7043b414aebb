"""Model options shared by commands that build a network (``train``, ``models --describe``)."""

from __future__ import annotations

import argparse
from typing import Any

from edgesnn.cli.argtypes import positive_float, positive_int
from edgesnn.models.config import ATTENTION_DIMS, ATTENTION_PARTS, BLOCKS, CONNECTS, POSITIONS


def add_model_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model (overrides on the dataset's Table IX preset)")
    g.add_argument("--T", type=positive_int, help="time steps")
    g.add_argument("--width", type=positive_float, help="width multiplier (1 = paper; MCUs need ~0.125)")
    g.add_argument("--block", choices=BLOCKS, help="sew (Eq. 6), vanilla (Eq. 4) or ms (Eq. 5)")
    g.add_argument("--connect", choices=CONNECTS, help="residual function g for sew blocks (OR by default)")
    g.add_argument("--attention", choices=ATTENTION_DIMS, help="SynA dimension (none = OR-Spiking ResNet)")
    g.add_argument(
        "--parts",
        dest="attention_parts",
        choices=ATTENTION_PARTS,
        help="synA = MA + IA; MA or IA alone for ablations",
    )
    g.add_argument("--position", dest="attention_position", choices=POSITIONS, help="Table V position")
    g.add_argument("--time-reduction", type=positive_int, help="r of T-attention")
    g.add_argument("--channel-reduction", type=positive_int, help="k of C-attention")
    g.add_argument(
        "--ia-gate-init",
        type=float,
        help="initial IA gate bias; the gate opens at score+bias >= 2 (tau 2); default 0",
    )


MODEL_FIELDS = (
    "T",
    "width",
    "block",
    "connect",
    "attention",
    "attention_parts",
    "attention_position",
    "time_reduction",
    "channel_reduction",
    "ia_gate_init",
)


def model_overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {f: getattr(args, f) for f in MODEL_FIELDS if getattr(args, f, None) is not None}
