"""Ships firmware/, devices/ and export/vectors/ inside the package, under edgesnn/_bundled/, so that a wheel
or ``pip install .`` can verify, flash and stream as a checkout does (edgesnn/resources.py finds them).
The metadata is in pyproject.toml; this file only adds that copy to the build."""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("firmware", "devices", "export/vectors")  # relative to the repository, kept as they are
SKIPPED_DIRS = {"build", "__pycache__"}  # build outputs, never sources


def bundled_files(root: Path) -> list[Path]:
    files = []
    for top in BUNDLED:
        for path in sorted((root / top).rglob("*")):
            rel = path.relative_to(root)
            if path.is_file() and not SKIPPED_DIRS & set(rel.parts[:-1]) and not rel.name.startswith("."):
                files.append(rel)
    return files


class BuildPyWithBundle(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):  # an editable install reads the checkout's own folders
            return
        root = Path(__file__).resolve().parent
        target = Path(self.build_lib) / "edgesnn" / "_bundled"
        files = bundled_files(root)
        if not any(f.parts[0] == "firmware" for f in files):
            raise SystemExit(f"edgesnn: no firmware/ in {root}: build from a checkout or a full sdist")
        for rel in files:
            self.mkpath(str((target / rel).parent))
            self.copy_file(str(root / rel), str(target / rel), preserve_mode=True)


setup(cmdclass={"build_py": BuildPyWithBundle})
