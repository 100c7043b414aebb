"""List the model presets (Table IX networks) or describe one as a table of layers, shapes and parameters.

edgesnn models
edgesnn models --describe mnist
edgesnn models --describe fashion-mnist --width 0.125 --T 4 --attention C
"""

from __future__ import annotations

import argparse
import json

from edgesnn.cli.options import add_model_options, model_overrides
from edgesnn.models.config import PRESETS, preset
from edgesnn.models.describe import describe, format_table


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--describe", metavar="PRESET", choices=sorted(PRESETS), help="preset to describe")
    p.add_argument("--json", action="store_true", help="print the ModelConfig as JSON instead")
    add_model_options(p)


def run(args: argparse.Namespace) -> int:
    if not args.describe:
        for name, cfg in PRESETS.items():
            print(
                f"{name:<14} in {cfg.in_channels}x{cfg.input_size[0]}x{cfg.input_size[1]}  "
                f"T={cfg.T:<3} classes {cfg.num_classes}"
            )
        return 0
    cfg = preset(args.describe, **model_overrides(args))
    if args.json:
        print(json.dumps(cfg.to_dict(), indent=2, sort_keys=True))
        return 0
    rows, total = describe(cfg)
    print(format_table(cfg, rows, total))
    return 0
