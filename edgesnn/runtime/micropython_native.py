"""`esnn_native.mpy`, the C runtime as a MicroPython dynamic native module (devices/micropython/native/), per
architecture.

The package ships a prebuilt module per architecture in devices/micropython/native/prebuilt/<arch>/ with a
manifest of the hash of the sources they were built from (the glue, the Makefile, firmware/runtime), so using
the module needs no MicroPython sources. `module(arch)` returns the prebuilt one while it matches the sources;
after a change to the runtime it rebuilds (into the cache) when the MicroPython sources are here, else it
says how to refresh the prebuilt modules:

    EDGESNN_MPY_DIR=/path/to/micropython python -m edgesnn.runtime.micropython_native --update-prebuilt

Building needs the MicroPython sources of the ABI the modules target (`py/dynruntime.mk`, `tools/mpy_ld.py`;
no registry carries them: $EDGESNN_MPY_DIR names a checkout), `make`, the arch's gcc (x86_64-linux-gnu-gcc
for x64, arm-none-eabi-gcc for the ARM archs) and the pip packages pyelftools and ar (mpy_ld.py imports them).
xtensawin (xtensa-esp32-elf-gcc) and rv32imc (riscv64-unknown-elf-gcc) build the same way where their
toolchains are installed; they are not shipped.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
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
PREBUILT = NATIVE_DIR / "prebuilt"


class NativeBuildUnavailable(RuntimeError):
    """Something the build needs is missing here; the message names it."""


def mpy_dir() -> Path | None:
    """The MicroPython source tree the module is built against ($EDGESNN_MPY_DIR), None when not given."""
    env = os.environ.get("EDGESNN_MPY_DIR")
    return Path(env) if env else None


def missing(arch: str = "x64") -> str:
    """ "" when `arch` can be built here, else what is missing."""
    if arch not in CROSS:
        return f"unknown architecture {arch!r} (one of {', '.join(CROSS)})"
    src = mpy_dir()
    if src is None:
        return "EDGESNN_MPY_DIR is not set (a MicroPython source tree with py/dynruntime.mk)"
    if not (src / "py" / "dynruntime.mk").is_file():
        return f"no MicroPython sources at {src} (py/dynruntime.mk; EDGESNN_MPY_DIR)"
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
    """Hash of this project's sources of the module: the glue, the Makefile and the runtime."""
    h = hashlib.sha256()
    runtime = resources.firmware_dir() / "runtime"
    files = [*sorted(NATIVE_DIR.glob("*.c")), NATIVE_DIR / "Makefile"]
    files += sorted(p for p in runtime.rglob("*") if p.suffix in (".c", ".h"))
    for path in files:
        h.update(path.relative_to(path.parents[1]).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def prebuilt_manifest() -> dict:
    """{"source_key": ..., "archs": {arch: size}} of the shipped modules ({} when there are none)."""
    path = PREBUILT / "manifest.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def module(arch: str = "x64") -> Path:
    """The esnn_native.mpy to use for `arch`: the shipped one while it was built from the current sources,
    else a fresh build (NativeBuildUnavailable saying how to refresh the shipped ones when it cannot)."""
    shipped = PREBUILT / arch / MPY_NAME
    if shipped.is_file() and prebuilt_manifest().get("source_key") == source_key():
        return shipped
    why = missing(arch)
    if why:
        state = "is older than the runtime sources" if shipped.is_file() else "is not shipped"
        raise NativeBuildUnavailable(
            f"the prebuilt esnn_native for {arch} {state} and cannot be rebuilt here ({why}); "
            "refresh it with "
            "EDGESNN_MPY_DIR=<micropython> python -m edgesnn.runtime.micropython_native --update-prebuilt"
        )
    return build(arch)


def update_prebuilt(archs: tuple[str, ...] = ARCHS) -> dict:
    """Build every arch of `archs` and store it with the manifest in devices/micropython/native/prebuilt/."""
    sizes = {}
    for arch in archs:
        path = build(arch)
        (PREBUILT / arch).mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, PREBUILT / arch / MPY_NAME)
        sizes[arch] = path.stat().st_size
    manifest = {"source_key": source_key(), "archs": sizes}
    (PREBUILT / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def build(arch: str = "x64", quiet: bool = True) -> Path:
    """The path of `esnn_native.mpy` for `arch`, built once per source hash (cached under
    $EDGESNN_CACHE/natmod/KEY/ARCH/). NativeBuildUnavailable names what is missing; a failed build raises
    RuntimeError with the compiler's output."""
    why = missing(arch)
    if why:
        raise NativeBuildUnavailable(why)
    src = mpy_dir()
    assert src is not None  # missing() said so
    mpy_key = hashlib.sha256(
        b"".join((src / f).read_bytes() for f in ("py/dynruntime.mk", "tools/mpy_ld.py"))
    )
    out_dir = resources.cache_dir() / "natmod" / f"{source_key()}-{mpy_key.hexdigest()[:8]}" / arch
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
    if archs == ["--update-prebuilt"]:
        try:
            print(json.dumps(update_prebuilt(), indent=2))
        except (NativeBuildUnavailable, RuntimeError) as exc:
            print(f"edgesnn: {exc}", file=sys.stderr)
            return 1
        return 0
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
