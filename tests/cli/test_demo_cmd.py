"""``edgesnn demo`` on the shipped model: its accuracy, natural pruning, export and the C runtime check."""

import re

from edgesnn.cli.main import main
from edgesnn.zoo import DEMO_MODEL


def test_demo_on_the_shipped_model(fashion_dir, capsys):
    assert DEMO_MODEL.is_file(), "the shipped demo model is part of the package"
    code = main(["demo", "--skip-train", "--eval", "500", "--calib", "128", "--check", "12"])
    out = capsys.readouterr().out
    assert code == 0
    acc = float(re.search(r"held-out accuracy: ([\d.]+)% on 500", out).group(1))
    assert acc > 80.0  # the shipped model is ~88 % accurate on the full test set
    # natural pruning: shortcuts 1 and 3 died during training, shortcut 2 is alive and kept as an OR
    assert "stages.0.block.shortcut.lif      died at epoch 1" in out
    assert "pruned shortcuts: stages.0.block.shortcut, stages.2.block.shortcut;" in out
    assert "C runtime on 12 other held-out images: 12/12 bit-exact with the reference" in out
