"""The CLI imports only the command it runs: `edgesnn --help`, the torch-free commands' help, the host
protocol, streaming and the event readers never import torch (seconds of start-up)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from edgesnn.cli.main import COMMANDS, build_parser, chosen_command, main
from tests.conftest import REPO

NO_TORCH = "import sys; assert 'torch' not in sys.modules, 'torch was imported'"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)


@pytest.mark.parametrize(
    "module",
    [
        "edgesnn.host",
        "edgesnn.stream",
        "edgesnn.data.events",
        "edgesnn.data.events.nmnist",
        "edgesnn.cli.main",
    ],
)
def test_import_does_not_import_torch(module):
    proc = run_python(f"import {module}; {NO_TORCH}")
    assert proc.returncode == 0, proc.stderr


HELP_WITHOUT_TORCH = [["--help"], ["--version"]] + [
    [c, "--help"] for c in ("stream", "inspect", "verify", "flash")
]


@pytest.mark.parametrize("argv", HELP_WITHOUT_TORCH)
def test_help_does_not_import_torch(argv):
    code = f"from edgesnn.cli.main import main\ntry:\n    main({argv!r})\nexcept SystemExit as e:\n"
    code += f"    assert e.code == 0, e.code\n{NO_TORCH}"
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr
    assert "edgesnn" in proc.stdout


def test_top_level_help_lists_every_command_with_its_line(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0
    for name, (_, help_line) in COMMANDS.items():
        assert name in out and " ".join(help_line.split()[:4]) in " ".join(out.split())


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_command_help_shows_its_description_and_every_option(capsys, name):
    module = importlib.import_module(COMMANDS[name][0])
    reference = argparse.ArgumentParser(prog=f"edgesnn {name}")
    module.add_arguments(reference)
    with pytest.raises(SystemExit) as info:
        main([name, "--help"])
    out = capsys.readouterr().out
    assert info.value.code == 0 and out.startswith(f"usage: edgesnn {name}")
    assert module.__doc__.strip().splitlines()[0] in out
    for action in reference._actions:
        for option in action.option_strings or [action.metavar or action.dest]:
            assert option in out, f"{option} missing from `edgesnn {name} --help`"


def test_only_the_chosen_command_is_built():
    parser = build_parser("inspect")
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    built = {name for name, p in subparsers.choices.items() if len(p._actions) > 1}  # more than -h
    assert built == {"inspect"}
    assert chosen_command(["--help"]) is None and chosen_command(["train", "--lr", "1"]) == "train"
    assert chosen_command(["nope"]) is None


def test_usage_errors_are_one_line(capsys):
    for argv, expected in [([], "required: COMMAND"), (["nope"], "invalid choice: 'nope'")]:
        with pytest.raises(SystemExit) as info:
            main(argv)
        err = capsys.readouterr().err
        assert (
            info.value.code == 2 and err.count("\n") == 1 and err.startswith("edgesnn: ") and expected in err
        )
