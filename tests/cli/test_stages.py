"""Progress of long steps: stage lines with timings on stderr, bars only on a terminal, and evaluation
(the demo's 10,000-image step) reports every batch."""

from __future__ import annotations

import re

import torch

from edgesnn.cli.stages import Stages, bar


def test_stage_lines_say_what_runs_and_how_long_the_last_took(capsys):
    say = Stages()
    say("capturing the graph")
    say("quantizing")
    say.done()
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == "  .. capturing the graph" and lines[2] == "  .. quantizing"
    assert re.fullmatch(r" +done  \(\d+\.\d s\)", lines[1]) and re.fullmatch(
        r" +done  \(\d+\.\d s\)", lines[3]
    )


def test_bar_is_quiet_off_a_terminal(capsys):
    with bar(10, "evaluating") as b:
        b.update(10)
    assert capsys.readouterr().err == ""  # pytest's stderr is not a TTY: no bar, as the training bars


def test_evaluate_reports_every_batch():
    from edgesnn.train.trainer import evaluate

    class Data:
        def __len__(self) -> int:
            return 10

        def get_batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.zeros(len(idx), 1, 2, 2), torch.zeros(len(idx), dtype=torch.long)

    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3))
    seen: list[int] = []
    evaluate(model, Data(), 4, "ce", on_batch=seen.append)
    assert seen == [4, 4, 2]
