"""``edgesnn`` command line: a thin command table over the library.

Commands are registered lazily: the table below names each command's module and one-line help, and only
the chosen command's module is imported (most import torch, which takes seconds), so ``edgesnn --help``
and commands that do not need torch start fast.

Exit codes: 0 success, 1 a reported error (``edgesnn: <message>`` on stderr), 2 bad usage (argparse, also
one ``edgesnn: ...`` line), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM; 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from edgesnn import __version__
from edgesnn.cli.errors import CliError, as_cli_error
from edgesnn.cli.parser import Parser

# name -> (module with add_arguments(parser) and run(args), one-line help for `edgesnn --help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "train": ("edgesnn.cli.train_cmd", "train a model (checkpoint + firing-rate log)"),
    "models": ("edgesnn.cli.models_cmd", "list model presets or describe one (layers, shapes, parameters)"),
    "demo": (
        "edgesnn.cli.demo_cmd",
        "run the end-to-end demo: shipped models -> export --prune -> emulated board -> streamed and checked",
    ),
    "analyze": (
        "edgesnn.cli.analyze_cmd",
        "firing rates, dead shortcuts, operations and energy of a checkpoint (table, --json, --plots)",
    ),
    "inspect": (
        "edgesnn.cli.inspect_cmd",
        "print the graph, shapes, bit widths, params and flash bytes of an .esnn model",
    ),
    "export": (
        "edgesnn.cli.export_cmd",
        "export a checkpoint to an integer .esnn model, C arrays and a report for a device profile",
    ),
    "finetune": (
        "edgesnn.cli.finetune_cmd",
        "quantization-aware fine-tuning (--qat) so the exported integer model equals the PyTorch one",
    ),
    "verify": (
        "edgesnn.cli.verify_cmd",
        "run the conformance vectors (or a model on random input) through a runtime and compare bit-exactly",
    ),
    "flash": (
        "edgesnn.cli.flash_cmd",
        "check a model against a device profile, build the firmware and start/flash the board",
    ),
    "stream": (
        "edgesnn.cli.stream_cmd",
        "stream samples to a board and check every result against the reference and the float model",
    ),
}


def chosen_command(argv: Sequence[str]) -> str | None:
    """The command named on the line: the top-level parser has only options without values (-h,
    --version), so the first word that is not an option is the command."""
    word = next((a for a in argv if not a.startswith("-")), None)
    return word if word in COMMANDS else None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every command listed; only ``command`` (if any) gets its module and arguments."""
    parser = Parser(
        prog="edgesnn",
        description="OR-residual spiking ResNets with SynA attention, from PyTorch to microcontrollers.",
    )
    parser.add_argument("--version", action="version", version=f"edgesnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_path, help_line) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, formatter_class=argparse.RawDescriptionHelpFormatter)
        if name == command:
            module = importlib.import_module(module_path)
            p.description = module.__doc__
            module.add_arguments(p)
            p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(chosen_command(argv)).parse_args(argv)
    run: Callable[[argparse.Namespace], int | None] = args.run
    from edgesnn.cli.signals import exit_code, termination_raises

    try:
        with termination_raises():  # SIGTERM/SIGHUP unwind like Ctrl-C: children and temp files go too
            return int(run(args) or 0)
    except KeyboardInterrupt as exc:
        code = exit_code(exc)
        print(f"edgesnn: {'interrupted' if code == 130 else 'terminated'}", file=sys.stderr)
        return code
    except Exception as exc:
        err = exc if isinstance(exc, CliError) else as_cli_error(exc)
        if err is None:
            raise
        print(f"edgesnn: {err}", file=sys.stderr)
        return err.exit_code


if __name__ == "__main__":
    sys.exit(main())
