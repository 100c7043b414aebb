import subprocess
import sys

from edgesnn.cli.main import main
from edgesnn.models import build_model, preset
from tests.conftest import REPO


def test_describe_mnist_prints_layers_shapes_and_the_exact_parameter_total(capsys):
    assert main(["models", "--describe", "mnist"]) == 0
    out = capsys.readouterr().out
    total = sum(p.numel() for p in build_model(preset("mnist")).parameters())
    assert f"{total:,}" in out.splitlines()[-1]
    assert "stages.0.block.shortcut.conv_bn.conv" in out and "Conv c128k1s2" in out
    assert "OR residual" in out and "512x4x4" in out


def test_describe_with_overrides_changes_the_table(capsys):
    main(["models", "--describe", "fashion-mnist", "--width", "0.125", "--T", "4", "--attention", "C"])
    out = capsys.readouterr().out
    assert "IA-C attention" in out and "MA-C attention" in out and "Conv c16k1s2" in out


def test_console_script_entry_and_usage_errors():
    proc = subprocess.run([sys.executable, "-m", "edgesnn", "models", "--describe", "nope"],
                          capture_output=True, text=True, cwd=REPO)  # fmt: skip
    assert proc.returncode == 2 and "invalid choice" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "edgesnn", "--help"], capture_output=True, text=True, cwd=REPO
    )
    assert proc.returncode == 0 and "train" in proc.stdout and "models" in proc.stdout
