"""The fit check runs first and fast: a model that cannot fit fails before any calibration data are read,
in one line that names what is live at the peak and the changes that would fit, each with computed bytes."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edgesnn import checkpoint
from edgesnn.analysis.pruning import list_shortcuts
from edgesnn.cli.main import main
from edgesnn.devices import load_profile
from edgesnn.export.errors import ExportError
from edgesnn.export.fit import PRUNE_NOTE, Chain, check_exact, plan_net, precheck
from tests.export.nets import tiny_model

PROFILE = (
    '[device]\nname = "tiny32"\ncore = "cortex-m0plus"\nclock_mhz = 48\nruntime = "c"\n'
    "[memory]\nflash_kib = 256\nram_kib = 24\n"
)


class CalibrationLoaded(Exception):
    """Raised by the patched loader: the command got past the fit check."""


@pytest.fixture
def no_calibration(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args, **kwargs):
        raise CalibrationLoaded

    monkeypatch.setattr("edgesnn.cli.export_cmd.calibration_batches", refuse)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return checkpoint.save(tmp_path_factory.mktemp("ck") / "m.pt", tiny_model(), training={})


def _export(tmp_path: Path, ckpt: Path, *extra: str) -> list[str]:
    (tmp_path / "tiny32.toml").write_text(PROFILE)
    return ["export", str(ckpt), "--calib", "fashion-mnist", "--device", str(tmp_path / "tiny32.toml"),
            "-o", str(tmp_path / "out"), *extra]  # fmt: skip


def test_export_fails_before_calibration_in_one_line(tmp_path, ckpt, no_calibration, capsys) -> None:
    code = main(_export(tmp_path, ckpt, "--prune"))
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert code == 1 and not (tmp_path / "out").exists()
    assert re.match(r"^edgesnn: the model does not fit tiny32: RAM \d+ B required, 24576 B available; ", last)
    assert PRUNE_NOTE in last  # --prune was asked for: the lower bound already fails
    # the items live at the peak, by graph node name and kind, and the computed fixes
    kinds = r"current of \d steps? int\d\d|spikes of \d steps?( T-packed)?|int\d\d LIF state|kernel scratch"
    assert re.search(rf"live at the peak \([\w.]+\): ([\w.]+ ({kinds})[\w ]* \d+ B, )+", last), last
    assert re.search(r"[:,] stem\.lif spikes of 2 steps( T-packed)? \d+ B, ", last), last
    assert re.search(r"width 0\.0\d+ instead of 0\.0625 \(RAM \d+ B, saves \d+ B", last), last
    assert re.search(r"T 1 instead of 2 \(RAM \d+ B, saves \d+ B", last), last
    assert "--ram-budget " in last and "Traceback" not in err


def test_the_suggested_ram_budget_is_exact(tmp_path, ckpt, no_calibration, capsys) -> None:
    assert main(_export(tmp_path, ckpt)) == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    need = int(re.search(r"RAM (\d+) B required", last)[1])
    assert f"--ram-budget {need} if" in last
    lower = plan_net(tiny_model(), Chain(), [s.name for s in list_shortcuts(tiny_model())]).plan
    assert f"--prune saves at most {need - lower.peak_ram_bytes} B" in last  # not asked for: offered
    assert main(_export(tmp_path, ckpt, "--ram-budget", str(need - 1))) == 1
    assert f"RAM {need} B required, {need - 1} B available" in capsys.readouterr().err
    with pytest.raises(CalibrationLoaded):  # past the fit check
        main(_export(tmp_path, ckpt, "--ram-budget", str(need)))


def test_prune_lower_bound_lets_a_model_through_that_only_pruning_can_fit() -> None:
    net, host = tiny_model(), load_profile("host")
    upper = plan_net(net, Chain()).plan.peak_ram_bytes
    lower = plan_net(net, Chain(), [s.name for s in list_shortcuts(net)]).plan.peak_ram_bytes
    assert lower < upper
    device = host.with_ram_budget(lower)
    assert precheck(net, device, Chain(), prune=True).plan.peak_ram_bytes == upper
    with pytest.raises(ExportError, match=rf"RAM {upper} B required, {lower} B available; live at the peak"):
        precheck(net, device, Chain(), prune=False)


def test_exact_check_after_pruning_gives_the_same_details() -> None:
    net = tiny_model()
    kept_one = [s.name for s in list_shortcuts(net)][:1]
    planned = plan_net(net, Chain(), kept_one)
    need = planned.plan.peak_ram_bytes
    check_exact(planned, load_profile("host").with_ram_budget(need), net, Chain(), kept_one, True)
    with pytest.raises(ExportError) as exc:
        check_exact(planned, load_profile("host").with_ram_budget(need - 1), net, Chain(), kept_one, True)
    msg = str(exc.value)
    assert msg.startswith(f"the model does not fit host: RAM {need} B required, {need - 1} B available; live")
    assert "\n" not in msg and f"--ram-budget {need} if" in msg and "--prune" not in msg


def test_flash_names_the_peak_and_the_budget(tmp_path) -> None:
    from edgesnn.cli.errors import CliError
    from edgesnn.cli.flash_cmd import check_fit, model_needs
    from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable

    try:
        CRuntime()
    except CRuntimeUnavailable as e:
        pytest.skip(f"C runtime unavailable: {e}")
    from edgesnn.export.emit import to_blob

    blob = to_blob(plan_net(tiny_model(), Chain()).graph)
    (tmp_path / "tiny32.toml").write_text(PROFILE)
    profile = load_profile(tmp_path / "tiny32.toml")
    ram = model_needs(blob, "m.esnn")[0]
    with pytest.raises(CliError) as exc:
        check_fit(profile, blob, "m.esnn")
    msg = str(exc.value)
    assert msg.startswith(f"m.esnn does not fit tiny32: RAM {ram} B required, 24576 B available; live at")
    assert re.search(r"live at the peak \(op \d+ \([A-Z]+\)\): op \d+ \([A-Z]+\) ", msg), msg
    assert re.search(r"[:,] op 1 \(LIF\) spikes of 2 steps( T-packed)? \d+ B, ", msg), msg
    assert re.search(r"re-export with T 1 instead of 2 \(RAM \d+ B, saves \d+ B", msg), msg
    assert f"--ram-budget {ram} if" in msg
    assert check_fit(profile.with_ram_budget(ram), blob, "m.esnn")[0] == ram


def test_a_change_that_saves_nothing_is_not_offered(monkeypatch: pytest.MonkeyPatch) -> None:
    """A smaller T or width is named as a fix only when it lowers the RAM (T = 1 can need more: nothing
    to T-pack), and when none fits, the value that needs the least is named, not the last tried."""
    from types import SimpleNamespace

    from edgesnn.export import fit

    device = SimpleNamespace(runtime="c")
    net = SimpleNamespace(config=SimpleNamespace(T=4))
    ram = {2: 30000, 1: 41000}  # the RAM each T would need; the model needs 40000 B today
    monkeypatch.setattr(fit, "_variant", lambda net, field, value: value)
    monkeypatch.setattr(fit, "list_shortcuts", lambda variant: [])
    monkeypatch.setattr(fit, "plan_net", lambda variant, chain, gone: SimpleNamespace(plan=variant))
    monkeypatch.setattr(fit, "ram_of", lambda plan, device: ram[plan])
    monkeypatch.setattr(fit, "_failure", lambda plan, device: "too big")
    assert fit._shrink(net, None, device, [], 40000, "T", [1]) == []  # type: ignore[arg-type]
    # none fits: the one that needs the least is named, not the last tried
    assert fit._shrink(net, None, device, [], 40000, "T", [2, 1]) == [  # type: ignore[arg-type]
        "T 2 instead of 4 (RAM 30000 B, saves 10000 B, still too large)"
    ]
