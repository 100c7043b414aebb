"""Builds `esnn_native.mpy`, the C runtime as a MicroPython dynamic native module
(devices/micropython/native/), per architecture, into a cache folder keyed by a hash of the sources.

    python -m edgesnn.runtime.micropython_native [ARCH ...]     # default: every arch whose toolchain is here

Needs the MicroPython sources (`py/dynruntime.mk`, `tools/mpy_ld.py`): $EDGESNN_MPY_DIR, else
`../shared/third_party/micropython` beside the checkout; `make`; the arch's gcc (x86_64-linux-gnu-gcc for x64,
arm-none-eabi-gcc for the ARM archs); and the pip packages pyelftools and ar (mpy_ld.py imports them).
xtensawin (xtensa-esp32-elf-gcc) and rv32imc (riscv64-unknown-elf-gcc) build the same way where their
toolchains are installed; they are not listed by default.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgesnn import resources

NATIVE_DIR = resources.micropython_dir() / "native"
ARCHS = ("x64", "armv6m", "armv7m", "armv7emsp")
CROSS = {
    "x64": "x86_64-linux-gnu-",
    "armv6m": "arm-none-eabi-",
    "armv7m": "arm-none-eabi-",
    "armv7emsp": "arm-none-eabi-",
    "xtensawin": "xtensa-esp32-elf-",
    "rv32imc": "riscv64-unknown-elf-",
}
MPY_NAME = "esnn_native.mpy"


class NativeBuildUnavailable(RuntimeError):
    """Something the build needs is missing here; the message names it."""


def mpy_dir() -> Path:
    """The MicroPython source tree the module is built against."""
    env = os.environ.get("EDGESNN_MPY_DIR")
    return Path(env) if env else resources.root().parent / "shared" / "third_party" / "micropython"


def missing(arch: str = "x64") -> str:
    """ "" when `arch` can be built here, else what is missing."""
    if arch not in CROSS:
        return f"unknown architecture {arch!r} (one of {', '.join(CROSS)})"
    src = mpy_dir()
    if not (src / "py" / "dynruntime.mk").is_file():
        return f"no MicroPython sources at {src} (py/dynruntime.mk; set EDGESNN_MPY_DIR)"
    if not (NATIVE_DIR / "Makefile").is_file():
        return f"no native module sources at {NATIVE_DIR}"
    if shutil.which("make") is None:
        return "no 'make' on PATH"
    if shutil.which(CROSS[arch] + "gcc") is None:
        return f"no {CROSS[arch]}gcc on PATH (the {arch} toolchain)"
    for mod in ("elftools", "ar"):
        if importlib.util.find_spec(mod) is None:
            return f"no Python module '{mod}' (pip install pyelftools ar)"
    return ""


def source_key() -> str:
    """Hash of everything the module is built from (glue, Makefile, runtime, the MicroPython build files)."""
    h = hashlib.sha256()
    runtime = resources.firmware_dir() / "runtime"
    files = [*sorted(NATIVE_DIR.glob("*.c")), NATIVE_DIR / "Makefile"]
    files += sorted(p for p in runtime.rglob("*") if p.suffix in (".c", ".h"))
    src = mpy_dir()
    files += [src / "py" / "dynruntime.mk", src / "py" / "dynruntime.h", src / "tools" / "mpy_ld.py"]
    for path in files:
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def build(arch: str = "x64", quiet: bool = True) -> Path:
    """The path of `esnn_native.mpy` for `arch`, built once per source hash (cached under
    $EDGESNN_CACHE/natmod/KEY/ARCH/). NativeBuildUnavailable names what is missing; a failed build raises
    RuntimeError with the compiler's output."""
    why = missing(arch)
    if why:
        raise NativeBuildUnavailable(why)
    out_dir = resources.cache_dir() / "natmod" / source_key() / arch
    out = out_dir / MPY_NAME
    if out.is_file():
        return out
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"esnn-natmod-{arch}-", dir=out_dir.parent) as tmp:
        # make runs in a copy of native/ (mpy_ld.py writes its archive cache into the working folder)
        work = Path(tmp) / "src"
        work.mkdir()
        for path in [*NATIVE_DIR.glob("*.c"), NATIVE_DIR / "Makefile"]:
            shutil.copy2(path, work / path.name)
        build_dir = Path(tmp) / "build"
        target = build_dir / MPY_NAME
        cmd = ["make", "-C", str(work), f"ARCH={arch}", f"BUILD={build_dir}", f"MPY_DIR={mpy_dir()}"]
        cmd += [f"RUNTIME={resources.firmware_dir() / 'runtime'}", f"PYTHON={sys.executable}", str(target)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not target.is_file():
            tail = f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
            raise RuntimeError(f"esnn_native build for {arch} failed:\n{tail}")
        if not quiet:
            print(proc.stdout, end="")
        staged = Path(tmp) / arch
        staged.mkdir()
        shutil.copy2(target, staged / MPY_NAME)
        try:
            staged.rename(out_dir)
        except OSError:  # another process built it meanwhile
            if not out.is_file():
                raise
    return out


def main(argv: list[str] | None = None) -> int:
    archs = list(argv if argv is not None else sys.argv[1:])
    if not archs:
        archs = [a for a in ARCHS if not missing(a)]
        for a in ARCHS:
            if a not in archs:
                print(f"{a}: skipped ({missing(a)})")
    status = 0
    for arch in archs:
        try:
            path = build(arch)
        except (NativeBuildUnavailable, RuntimeError) as exc:
            print(f"{arch}: {exc}")
            status = 1
            continue
        print(f"{arch}: {path} ({path.stat().st_size} bytes)")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
