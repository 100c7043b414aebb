"""``edgesnn`` command line: a thin command table over the library.

Exit codes: 0 success, 1 a reported error (``edgesnn: <message>`` on stderr), 2 bad usage (argparse),
130 interrupted (Ctrl-C), 143 terminated (SIGTERM; 129 SIGHUP).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from types import ModuleType

from edgesnn import __version__
from edgesnn.cli import (
    analyze_cmd,
    demo_cmd,
    export_cmd,
    finetune_cmd,
    flash_cmd,
    inspect_cmd,
    models_cmd,
    stream_cmd,
    train_cmd,
    verify_cmd,
)
from edgesnn.cli.errors import CliError, as_cli_error

COMMANDS: dict[str, ModuleType] = {
    "train": train_cmd,
    "models": models_cmd,
    "demo": demo_cmd,
    "analyze": analyze_cmd,
    "inspect": inspect_cmd,
    "export": export_cmd,
    "finetune": finetune_cmd,
    "verify": verify_cmd,
    "flash": flash_cmd,
    "stream": stream_cmd,
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="edgesnn",
        description="OR-residual spiking ResNets with SynA attention, from PyTorch to microcontrollers.",
    )
    parser.add_argument("--version", action="version", version=f"edgesnn {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, module in COMMANDS.items():
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.__doc__,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
