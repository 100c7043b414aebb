"""The wheel carries what edgesnn.resources needs, and resources finds it there once installed.

The wheel is built from a copy of the working tree (what git tracks or would track), so stale build/ folders
in the checkout cannot hide a file the tree lacks. .ci/wheel_smoke.sh runs the installed commands.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from edgesnn import resources
from tests.conftest import REPO

BUNDLED_TREES = ("firmware", "devices", "export/vectors")


def _tree_files() -> list[str]:
    out = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return [f for f in out.split("\0") if f and (REPO / f).is_file()]


def _expected_bundle(files: list[str]) -> set[str]:
    """The repository files the bundle must hold: the three trees, less build outputs and dot files."""
    return {
        f
        for f in files
        if f.startswith(tuple(t + "/" for t in BUNDLED_TREES))
        and "build" not in Path(f).parts[:-1]
        and not Path(f).name.startswith(".")
    }


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("git") is None:
        pytest.fail("this test copies the tree with git ls-files: install git")
    src, dist = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    for rel in _tree_files():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, src / rel)
    cmd = [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(src)]
    proc = subprocess.run([*cmd, "-w", str(dist)], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    (path,) = dist.glob("edgesnn-*.whl")
    return path


def test_wheel_bundles_firmware_devices_and_vectors(wheel: Path):
    names = set(zipfile.ZipFile(wheel).namelist())
    bundled = {n.removeprefix("edgesnn/_bundled/") for n in names if n.startswith("edgesnn/_bundled/")}
    want = _expected_bundle(_tree_files())
    assert "firmware/Makefile" in want and "devices/host.toml" in want  # the expectation itself is not empty
    assert not want - bundled, f"missing from the wheel: {sorted(want - bundled)[:10]}"
    assert not bundled - want, f"not sources, yet in the wheel: {sorted(bundled - want)[:10]}"
    assert "edgesnn/zoo/fashion_mnist_synac_w8_t4_qat.pt" in names


def test_installed_resources_point_into_the_package(wheel: Path, tmp_path: Path):
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    calls = "r.root(), r.firmware_dir(), r.devices_dir(), r.micropython_dir(), r.vectors_dir(), r.build_dir()"
    code = f"from edgesnn import resources as r\nprint({calls}, sep='\\n')"
    env = {**os.environ, "PYTHONPATH": str(site), "EDGESNN_CACHE": str(tmp_path / "cache")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    root, firmware, devices, micropython, vectors, build = map(Path, out)
    assert root == site / "edgesnn" / "_bundled"
    assert (firmware / "Makefile").is_file() and (firmware / "ports" / "host" / "Makefile").is_file()
    assert (devices / "qemu-mps2-an386.toml").is_file() and (micropython / "esnn_cli.py").is_file()
    assert len(list(vectors.glob("*/model.esnn"))) == len(list(resources.vectors_dir().glob("*/model.esnn")))
    assert build.is_relative_to(tmp_path / "cache" / "build")  # never inside the installed package


def test_checkout_resources_are_the_repository_folders():
    assert resources.root() == REPO and resources.is_checkout()
    assert resources.firmware_dir() == REPO / "firmware"
    assert resources.build_dir() == REPO / "firmware" / "build"


def test_require_names_what_is_missing(tmp_path: Path):
    want = r"^the widget \(x/\) not found: .*nope does not exist; this checkout is incomplete"
    with pytest.raises(resources.ResourceMissing, match=want):
        resources.require(tmp_path / "nope", "the widget (x/)")
    assert resources.require(tmp_path, "a folder") == tmp_path
