"""``edgesnn stream`` bad inputs and what it leaves behind: an empty recording is an error naming the file,
files that are not event files are listed (an error unless --skip-unknown), replay folders are written only
for samples that have an input, never into the working folder and never over another run's; each --help
example parses, and the example on the shipped event model names the fix when --checkpoint is missing."""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import shlex
import shutil
from pathlib import Path

import pytest

from edgesnn.cli import stream_cmd
from edgesnn.reference import load, to_bytes
from edgesnn.stream import fresh_folder
from tests.cli.test_stream_cmd import FRAMES, recordings, stream
from tests.host.test_stream import FlipLogit


@pytest.fixture
def model(tmp_path: Path) -> Path:
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.skip("the host board needs cc and make")
    from edgesnn.host import build_host_board

    build_host_board()
    path = tmp_path / "events.esnn"
    path.write_bytes(to_bytes(dataclasses.replace(load(FRAMES.read_bytes()), input_scale_num=1)))
    return path


def test_empty_nmnist_file_is_an_error_naming_it(capsys, tmp_path: Path, model: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    inp = recordings(tmp_path / "rec", 2)
    empty = inp / "0" / "empty.bin"
    empty.write_bytes(b"")
    code, out, err = stream(capsys, "--device", "host", str(model), "--input", str(inp))
    assert code == 1
    assert f"{empty}: no events in this file (0 B)" in err and "2/3" in out
    assert not (tmp_path / "stream-mismatches").exists()  # a read error has nothing to replay


def test_junk_files_are_listed_and_fail_unless_skipped(capsys, tmp_path: Path, model: Path):
    inp = recordings(tmp_path / "rec", 2)
    (inp / "notes.txt").write_text("not events")
    (inp / ".DS_Store").write_bytes(b"\0\1")  # hidden: never looked at
    code, _, err = stream(capsys, "--device", "host", str(model), "--input", str(inp))
    assert code == 1 and err.count("\n") == 1
    assert "1 of its files are not event files" in err and "notes.txt" in err and "--skip-unknown" in err
    assert ".DS_Store" not in err
    log = tmp_path / "log.json"
    argv = ["--device", "host", str(model), "--input", str(inp), "--skip-unknown", "--json", str(log)]
    code, out, err = stream(capsys, *argv)
    assert code == 0 and "left out 1 files" in err and "notes.txt" in err and "2/2" in out
    assert json.loads(log.read_text())["skipped_files"] == [str(inp / "notes.txt")]


def test_mismatches_go_next_to_the_log_and_never_overwrite(capsys, tmp_path: Path, model: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    real_open = stream_cmd._open
    monkeypatch.setattr(stream_cmd, "_open", lambda args, faults: FlipLogit(real_open(args, faults), 1))
    inp = recordings(tmp_path / "rec", 3)
    code, out, _ = stream(capsys, "--device", "host", str(model), "--input", str(inp))
    assert code == 1 and "pass --json LOG or --save-mismatches DIR" in out
    assert list(tmp_path.glob("*mismatches*")) == []  # nothing in the working folder
    log = tmp_path / "runs" / "log.json"
    for expect in ("log-mismatches", "log-mismatches-2"):
        code, out, _ = stream(capsys, "--device", "host", str(model), "--input", str(inp), "--json", str(log))
        assert code == 1 and f"in {log.parent / expect}/" in out
        assert json.loads((log.parent / expect / "000001" / "meta.json").read_text())["status"] == "mismatch"
    mine = tmp_path / "mine"
    code, out, _ = stream(
        capsys, "--device", "host", str(model), "--input", str(inp), "--mismatch-dir", str(mine)
    )
    assert code == 1 and sorted(p.name for p in mine.iterdir()) == ["000001", "model.esnn"]


def test_fresh_folder_numbers_used_ones(tmp_path: Path):
    assert fresh_folder(tmp_path / "m") == tmp_path / "m"
    (tmp_path / "m").mkdir()
    assert fresh_folder(tmp_path / "m") == tmp_path / "m"  # empty: reused
    (tmp_path / "m" / "x").write_text("")
    (tmp_path / "m-2").write_text("a file")
    assert fresh_folder(tmp_path / "m") == tmp_path / "m-3"


def test_resume_command_sets_start_and_a_new_log():
    argv = ["stream", "--device", "host", "m.esnn", "--start", "5", "--json", "runs/a.json", "--limit", "9"]
    got = stream_cmd._resume_command(argv, 12)
    assert got == "edgesnn stream --device host m.esnn --json runs/a-from12.json --limit 9 --start 12"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--start", "-1"], "argument --start: must be 0 or more"),
        (["--limit", "0"], "argument --limit: must be 1 or more"),
    ],
)
def test_bad_counts(capsys, tmp_path: Path, model: Path, argv, message):
    with pytest.raises(SystemExit) as info:  # usage errors, found when the line is parsed
        stream(capsys, "--device", "host", str(model), "--input", str(tmp_path), *argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def help_examples(doc: str) -> list[list[str]]:
    """The `edgesnn ...` command lines of a docstring (backslash continuations joined)."""
    text = doc.replace("\\\n", " ")
    return [shlex.split(line)[1:] for line in text.splitlines() if line.startswith("edgesnn ")]


@pytest.mark.parametrize("command", ["stream", "train"])
def test_every_help_example_parses(command: str):
    examples = help_examples(importlib.import_module(f"edgesnn.cli.{command}_cmd").__doc__ or "")
    streams = [e for e in examples if e[0] == "stream"]
    assert len([e for e in examples if e[0] == command]) >= 3
    for argv in examples:  # each parses with its command's own options
        parser = argparse.ArgumentParser(prog=f"edgesnn {argv[0]}", exit_on_error=False)
        importlib.import_module(f"edgesnn.cli.{argv[0]}_cmd").add_arguments(parser)
        parser.parse_args(argv[1:])
    for argv in streams:  # the examples on the shipped event model carry its checkpoint
        if "out/ev/model.esnn" in argv:
            assert "edgesnn/zoo/emulated_fashion_mnist_or_w8_t8.pt" in argv
