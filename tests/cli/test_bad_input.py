"""Bad input on the command line: one ``edgesnn: ...`` line on stderr, a non-zero exit, no traceback, and
no work done before the mistake is found."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from edgesnn.cli.main import main
from edgesnn.zoo import DEMO_MODEL
from tests.conftest import REPO

ESNN = REPO / "export" / "vectors" / "v1" / "attn_ia_c" / "model.esnn"


def fails(capsys: pytest.CaptureFixture, argv: list[str]) -> tuple[int, str]:
    """Run the CLI on bad input: its exit code and its one stderr line."""
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: usage errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code not in (0, None), f"exit 0 on bad input {argv}: {err}"
    assert len(lines) == 1 and lines[0].startswith("edgesnn: "), f"not one edgesnn: line: {err!r}"
    assert "Traceback" not in err and "\x1b" not in err
    return int(code), lines[0]


def no_work(monkeypatch: pytest.MonkeyPatch, module: str, name: str) -> None:
    """Make ``module.name`` (the command's first real work) fail the test if it is reached."""

    def reached(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"{module}.{name} ran before the bad input was reported")

    monkeypatch.setattr(f"{module}.{name}", reached)


@pytest.mark.parametrize(
    ("argv", "option"),
    [
        (["train", "--lr", "-5"], "--lr"),
        (["train", "--epochs", "-1"], "--epochs"),
        (["train", "--epochs", "0"], "--epochs"),
        (["train", "--batch-size", "0"], "--batch-size"),
        (["train", "--calib-samples", "0"], "--calib-samples"),
        (["train", "--lr", "nan"], "--lr"),
        (["train", "--width", "0"], "--width"),
        (["finetune", "x.pt", "--qat", "--out", "o", "--lr", "0"], "--lr"),
        (["demo", "--images", "0", "--streams", "0"], "--images"),
        (["demo", "--streams", "0"], "--streams"),
        (
            [
                "export",
                "x.pt",
                "--calib",
                "fashion-mnist",
                "--device",
                "host",
                "-o",
                "o",
                "--calib-samples",
                "0",
            ],
            "--calib-samples",
        ),
        (["analyze", "x.pt", "--calib", "0"], "--calib"),
        (["verify", "--samples", "0"], "--samples"),
        (["stream", "m.esnn", "--device", "host", "--limit", "0"], "--limit"),
        (["stream", "m.esnn", "--device", "host", "--timeout", "-1"], "--timeout"),
    ],
)
def test_bad_numbers_are_refused_by_name_before_any_work(capsys, monkeypatch, argv, option):
    no_work(monkeypatch, f"edgesnn.cli.{argv[0]}_cmd", "run")
    code, line = fails(capsys, argv)
    assert code == 2
    assert line.startswith(f"edgesnn: {argv[0]}: argument {option}")
    assert f"`edgesnn {argv[0]} --help`" in line


def test_every_numeric_option_of_every_command_is_validated():
    from edgesnn.cli.main import COMMANDS, build_parser

    unchecked = []
    for name in COMMANDS:
        sub = build_parser(name)._subparsers._group_actions[0].choices[name]
        for action in sub._actions:
            if action.type in (int, float) and not action.choices and action.dest != "ia_gate_init":
                unchecked.append(f"{name} {action.option_strings[0]}")
    assert not unchecked, f"numeric options without a range check: {unchecked}"


def test_export_to_an_existing_file_fails_before_the_export(capsys, monkeypatch, tmp_path):
    out = tmp_path / "model.esnn"
    out.write_bytes(b"keep me")
    no_work(monkeypatch, "edgesnn.cli.export_cmd.checkpoint", "load")
    argv = ["export", str(DEMO_MODEL), "--calib", "fashion-mnist", "--device", "host", "-o", str(out)]
    code, line = fails(capsys, argv)
    assert code == 1 and f"-o {out}" in line and "folder" in line
    assert out.read_bytes() == b"keep me"


@pytest.mark.parametrize(
    ("argv", "option", "work"),
    [
        (["train", "--out", "{file}"], "--out", ("edgesnn.cli.train_cmd", "train")),
        (
            ["finetune", str(DEMO_MODEL), "--qat", "--out", "{file}"],
            "--out",
            ("edgesnn.cli.finetune_cmd", "finetune"),
        ),
        (["demo", "--out", "{file}"], "--out", ("edgesnn.cli.demo_cmd.checkpoint", "load")),
        (
            ["analyze", str(DEMO_MODEL), "--plots", "{file}"],
            "--plots",
            ("edgesnn.cli.analyze_cmd.checkpoint", "load"),
        ),
        (
            ["export", str(DEMO_MODEL), "--calib", "fashion-mnist", "--device", "host", "-o", "{below}"],
            "-o",
            ("edgesnn.cli.export_cmd.checkpoint", "load"),
        ),
        (
            ["stream", str(ESNN), "--device", "host", "--dataset", "fashion-mnist", "--json", "{below}"],
            "--json",
            ("edgesnn.cli.stream_cmd", "_open"),
        ),
        (
            ["stream", str(ESNN), "--device", "host", "--dataset", "fashion-mnist", "--plots", "{file}"],
            "--plots",
            ("edgesnn.cli.stream_cmd", "_open"),
        ),
    ],
)
def test_every_output_folder_is_checked_first(capsys, monkeypatch, tmp_path, argv, option, work):
    blocker = tmp_path / "taken"
    blocker.write_text("a file")
    paths = {"{file}": str(blocker), "{below}": str(blocker / "sub")}
    no_work(monkeypatch, *work)
    code, line = fails(capsys, [paths.get(a, a) for a in argv])
    assert code == 1 and line.startswith(f"edgesnn: {option} {blocker}")


def test_empty_checkpoint_says_it_is_empty(capsys, tmp_path):
    empty = tmp_path / "best.pt"
    empty.write_bytes(b"")
    code, line = fails(capsys, ["analyze", str(empty)])
    assert code == 1 and str(empty) in line and "empty (0 bytes)" in line


def test_esnn_given_for_a_checkpoint_is_named_as_that_mistake(capsys):
    argv = ["export", str(ESNN), "--calib", "fashion-mnist", "--device", "host", "-o", "unused"]
    code, line = fails(capsys, argv)
    assert code == 1 and "exported .esnn model, not a checkpoint" in line and "edgesnn inspect" in line


@pytest.mark.parametrize("command", [["inspect"], ["verify"], ["flash", "--device", "host", "--dry-run"]])
def test_checkpoint_given_for_an_esnn_model_is_named_as_that_mistake(capsys, command):
    code, line = fails(capsys, [*command, str(DEMO_MODEL)])
    assert code == 1 and "looks like a PyTorch checkpoint: export it first with `edgesnn export`" in line


class Foreign:  # a class torch's weights-only loader refuses
    pass


def test_checkpoint_with_python_objects_does_not_leak_torch_advice(capsys, tmp_path):
    path = tmp_path / "foreign.pt"
    torch.save({"model": Foreign()}, path)
    code, line = fails(capsys, ["analyze", str(path)])
    assert code == 1 and "never runs code from a checkpoint" in line
    assert "weights_only" not in line and "torch.load" not in line and "edgesnn train" in line


def test_truncated_checkpoint_is_reported_whole_not_cut(capsys, tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(DEMO_MODEL.read_bytes()[:4000])
    code, line = fails(capsys, ["analyze", str(path)])
    assert code == 1 and "damaged or cut short" in line and line.endswith("write it again")


def test_foreign_file_for_a_checkpoint(capsys, tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("hello")
    code, line = fails(capsys, ["analyze", str(path)])
    assert code == 1 and "not a PyTorch file" in line


def test_pickle_of_other_data_is_not_an_edgesnn_checkpoint(capsys, tmp_path):
    path = tmp_path / "list.pt"
    path.write_bytes(pickle.dumps([1, 2], protocol=2))
    code, line = fails(capsys, ["analyze", str(path)])
    assert code == 1 and str(path) in line


def test_missing_dataset_message_never_prints_an_empty_path(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("EDGESNN_DATA", raising=False)
    from edgesnn.data.event_datasets import open_cifar10_dvs, open_dvs_gesture
    from edgesnn.data.images import DataNotFoundError

    for opener in (open_dvs_gesture, open_cifar10_dvs):
        with pytest.raises(DataNotFoundError) as info:
            opener("test", None, cache_dir=tmp_path)
        message = str(info.value)
        assert "in )" not in message and "(no --data-dir given and EDGESNN_DATA is not set)" in message


def test_a_checkpoint_folder_is_not_called_missing(capsys, tmp_path):
    code, line = fails(capsys, ["analyze", str(tmp_path)])
    assert code == 1 and "is a folder" in line and str(Path(tmp_path) / "best.pt") in line
