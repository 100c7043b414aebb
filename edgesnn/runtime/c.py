"""ctypes binding over the host build of the C runtime (`firmware/`, `libesnn.so`).

The shared library is built on demand with `make -C firmware host`; `CRuntimeUnavailable` says what is
missing when `make` or a C compiler is not installed. Results have the same fields as
`edgesnn.reference.Result`, so the two runtimes compare field by field.
"""

from __future__ import annotations

import ctypes
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgesnn import resources
from edgesnn.format import limits, parse
from edgesnn.reference import Result

FIRMWARE = resources.firmware_dir()
BUILD = resources.build_dir()  # firmware/build in a checkout; a cache folder for an installed package
LIBRARY = BUILD / "host" / "libesnn.so"
CLI = BUILD / "host" / "esnn_run"
ASAN_CLI = BUILD / "asan" / "esnn_run"

KERNELS = {"fast": 0, "reference": 1}


class CRuntimeUnavailable(RuntimeError):
    """The C runtime cannot be built here (no `make` / C compiler, or no firmware/ tree)."""


class CRuntimeError(RuntimeError):
    """The C runtime returned an error status; `status` is its name (e.g. ESNN_ERR_CRC)."""

    def __init__(self, status: str, message: str, field: str = "", op: int = -1, buffer: int = -1) -> None:
        parts = (f"op {op}" if op >= 0 else "", f"buffer {buffer}" if buffer >= 0 else "", field)
        where = " ".join(p for p in parts if p)
        super().__init__(f"{status}: {message}" + (f" ({where})" if where else ""))
        self.status, self.field, self.op, self.buffer = status, field, op, buffer


class _Error(ctypes.Structure):
    _fields_ = (
        ("status", ctypes.c_int),
        ("field", ctypes.c_char_p),
        ("op", ctypes.c_int32),
        ("buffer", ctypes.c_int32),
    )


def build(target: str = "host") -> None:
    """`make -C firmware -j1 B=<BUILD> <target>`; CRuntimeUnavailable with the reason when it cannot run."""
    if not (FIRMWARE / "Makefile").is_file():
        raise CRuntimeUnavailable(f"the C runtime sources are not here ({FIRMWARE} has no Makefile)")
    missing = [tool for tool in ("make", "cc") if shutil.which(tool) is None]
    if missing:
        raise CRuntimeUnavailable(
            f"building the C runtime needs {' and '.join(missing)} (e.g. apt-get install build-essential)"
        )
    argv = ["make", "-C", str(FIRMWARE), "-j1", f"B={BUILD}", target]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise CRuntimeUnavailable(f"make {target} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")


@dataclass(frozen=True)
class Validation:
    """What the C loader says about a blob: status name, arena bytes (0 on error) and the error detail."""

    status: str
    arena_bytes: int
    field: str
    op: int
    buffer: int

    @property
    def ok(self) -> bool:
        return self.status == "ESNN_OK"


def _options(final_state: bool, reference: bool, budget: int | None = None) -> int:
    """esnn_init_ex options: ESNN_OPT_FINAL_STATE (1), ESNN_OPT_REFERENCE (2), ESNN_OPT_FAST (4: a budget)."""
    return int(final_state) | 2 * int(reference) | 4 * int(budget is not None)


class CRuntime:
    """The host C runtime: validate blobs and run samples, bit-exact with `edgesnn.reference`."""

    def __init__(self, library: Path | None = None, rebuild: bool = True) -> None:
        path = library or LIBRARY
        if library is None and rebuild:
            build("host")
        if not path.is_file():
            raise CRuntimeUnavailable(f"{path} does not exist (run make -C firmware host)")
        lib = ctypes.CDLL(str(path))
        u8p, sz = ctypes.POINTER(ctypes.c_uint8), ctypes.c_size_t
        lib.esnn_ctx_size.restype = sz
        lib.esnn_version.restype = ctypes.c_char_p
        lib.esnn_status_name.restype = ctypes.c_char_p
        lib.esnn_status_name.argtypes = (ctypes.c_int,)
        lib.esnn_status_str.restype = ctypes.c_char_p
        lib.esnn_status_str.argtypes = (ctypes.c_int,)
        lib.esnn_validate.argtypes = (u8p, sz, ctypes.POINTER(sz), ctypes.POINTER(_Error))
        lib.esnn_init.argtypes = (ctypes.c_void_p, u8p, sz, ctypes.c_void_p, sz)
        lib.esnn_init_ex.argtypes = (ctypes.c_void_p, u8p, sz, ctypes.c_void_p, sz, ctypes.c_uint32)
        lib.esnn_arena_required_ex.argtypes = (u8p, sz, ctypes.c_uint32, ctypes.POINTER(sz))
        lib.esnn_set_kernels.argtypes = (ctypes.c_void_p, ctypes.c_int)
        lib.esnn_reset.argtypes = (ctypes.c_void_p,)
        lib.esnn_run.argtypes = (ctypes.c_void_p, u8p, sz)
        lib.esnn_step.argtypes = (ctypes.c_void_p, u8p, sz)
        lib.esnn_logits.argtypes = (ctypes.c_void_p,)
        lib.esnn_logits.restype = ctypes.POINTER(ctypes.c_int32)
        lib.esnn_predicted.argtypes = (ctypes.c_void_p,)
        lib.esnn_predicted.restype = ctypes.c_int32
        lib.esnn_spike_counts.argtypes = (ctypes.c_void_p,)
        lib.esnn_spike_counts.restype = ctypes.POINTER(ctypes.c_uint32)
        lib.esnn_num_lif.argtypes = (ctypes.c_void_p,)
        lib.esnn_num_lif.restype = ctypes.c_uint16
        lib.esnn_state_size.argtypes = (ctypes.c_void_p, ctypes.c_uint16)
        lib.esnn_state_size.restype = ctypes.c_uint32
        lib.esnn_final_state.argtypes = (ctypes.c_void_p, ctypes.c_uint16, ctypes.POINTER(ctypes.c_int32), sz)
        lib.esnn_frame_size.argtypes = (ctypes.c_void_p,)
        lib.esnn_frame_size.restype = sz
        lib.esnn_input_frames.argtypes = (ctypes.c_void_p,)
        lib.esnn_input_frames.restype = ctypes.c_uint16
        lib.esnn_arena_used.argtypes = (ctypes.c_void_p,)
        lib.esnn_arena_used.restype = sz
        lib.esnn_error.argtypes = (ctypes.c_void_p,)
        lib.esnn_error.restype = ctypes.POINTER(_Error)
        self.lib = lib
        self.version: str = lib.esnn_version().decode()

    def status_name(self, code: int) -> str:
        return self.lib.esnn_status_name(code).decode()

    def _raise(self, code: int, err: _Error | None = None) -> None:
        raise CRuntimeError(
            self.status_name(code),
            self.lib.esnn_status_str(code).decode(),
            (err.field or b"").decode() if err is not None and err.status == code else "",
            err.op if err is not None and err.status == code else -1,
            err.buffer if err is not None and err.status == code else -1,
        )

    def validate(self, blob: bytes) -> Validation:
        """Run the C loader's validation on `blob` (passed at its exact length)."""
        buf = (ctypes.c_uint8 * max(1, len(blob))).from_buffer_copy(blob or b"\0")
        need, err = ctypes.c_size_t(0), _Error()
        code = self.lib.esnn_validate(buf, len(blob), ctypes.byref(need), ctypes.byref(err))
        return Validation(self.status_name(code), need.value, (err.field or b"").decode(), err.op, err.buffer)

    def arena_bytes(
        self, blob: bytes, final_state: bool = False, reference: bool = False, budget: int | None = None
    ) -> int:
        """The arena of esnn_init_ex for this blob: the lean plan, with ESNN_OPT_FINAL_STATE (final states
        kept) and/or ESNN_OPT_REFERENCE (int32 currents, so the reference kernels can run); with a `budget`
        (ESNN_OPT_FAST) the fastest plan within those bytes."""
        buf = (ctypes.c_uint8 * max(1, len(blob))).from_buffer_copy(blob or b"\0")
        need = ctypes.c_size_t(budget or 0)
        options = _options(final_state, reference, budget)
        code = self.lib.esnn_arena_required_ex(buf, len(blob), options, ctypes.byref(need))
        if code != 0:
            self._raise(code)
        return need.value

    def run(
        self,
        blob: bytes,
        input_u8: np.ndarray,
        kernels: str = "fast",
        time_major: bool = False,
        final_state: bool = True,
        budget: int | None = None,
    ) -> Result:
        """One sample: `input_u8` is u8 [frames, C, H, W] (frames = 1 with STATIC_INPUT, else T).
        `time_major` drives `esnn_step` T times instead of `esnn_run` (refused for LAYER_MAJOR graphs).
        `final_state=False` runs the lean plan a board runs (exactly its arena; no final states returned).
        `budget`: an arena of that many bytes with ESNN_OPT_FAST (the fastest plan within it)."""
        blob_buf = (ctypes.c_uint8 * max(1, len(blob))).from_buffer_copy(blob or b"\0")
        v = self.validate(blob)
        if not v.ok:
            raise CRuntimeError(v.status, "invalid blob", v.field, v.op, v.buffer)
        reference = kernels == "reference"
        need = self.arena_bytes(blob, final_state, reference)
        limits.check(parse(blob), max(need, budget or 0), "C arena")  # before allocating it
        ctx = ctypes.create_string_buffer(self.lib.esnn_ctx_size())
        size = need + 8 if budget is None else max(budget, need) + 8  # + 8: room to align the start
        arena = ctypes.create_string_buffer(size)
        lib = self.lib
        offset = -ctypes.addressof(arena) % 8  # an 8-aligned start: the budget is exactly `budget` bytes
        start = ctypes.cast(ctypes.addressof(arena) + offset, ctypes.c_void_p)
        length = size - offset if budget is None else max(budget, need)
        options = _options(final_state, reference, budget)
        code = lib.esnn_init_ex(ctx, blob_buf, len(blob), start, length, options)
        if code == 0:
            code = lib.esnn_set_kernels(ctx, KERNELS[kernels])
        if code != 0:
            self._raise(code, lib.esnn_error(ctx).contents)
        data = np.ascontiguousarray(input_u8, dtype=np.uint8).reshape(-1)
        frame, frames = lib.esnn_frame_size(ctx), lib.esnn_input_frames(ctx)
        if data.size != frame * frames:
            raise ValueError(f"input: {data.size} bytes, expected {frames} frame(s) of {frame} bytes")
        ptr = data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))
        if time_major:
            T = self._T(blob)
            base = ctypes.addressof(ptr.contents)
            for t in range(T):
                step = ctypes.cast(base + (0 if frames == 1 else t * frame), type(ptr))
                code = lib.esnn_step(ctx, step, frame)
                if code != 0:
                    self._raise(code, lib.esnn_error(ctx).contents)
        else:
            code = lib.esnn_run(ctx, ptr, data.size)
            if code != 0:
                self._raise(code, lib.esnn_error(ctx).contents)
        classes = int.from_bytes(blob[22:24], "little")
        logits = np.ctypeslib.as_array(lib.esnn_logits(ctx), shape=(classes,)).copy()
        num_lif = lib.esnn_num_lif(ctx)
        counts = (
            np.ctypeslib.as_array(lib.esnn_spike_counts(ctx), shape=(num_lif,)).astype(np.int64)
            if num_lif
            else np.zeros(0, np.int64)
        )
        states = []
        for i in range(num_lif if final_state else 0):
            n = lib.esnn_state_size(ctx, i)
            out = np.empty(n, dtype=np.int32)
            code = lib.esnn_final_state(ctx, i, out.ctypes.data_as(ctypes.POINTER(ctypes.c_int32)), n)
            if code != 0:
                self._raise(code)
            states.append(out)
        return Result(
            logits=logits,
            predicted=int(lib.esnn_predicted(ctx)),
            spike_counts=counts,
            final_state=tuple(states),
        )

    def load(self, blob: bytes) -> CModel:
        """Validate and initialise once; the returned model runs samples without re-validating (latency)."""
        return CModel(self, blob)

    @staticmethod
    def _T(blob: bytes) -> int:
        return int.from_bytes(blob[20:22], "little")


def run(blob: bytes | str | Path, input_u8: np.ndarray, kernels: str = "fast") -> Result:
    """Convenience: one sample through the host C runtime (builds it if needed). Final states are flat
    [C*H*W] int32 per LIF op (reshape with the model's buffer shapes)."""
    data = Path(blob).read_bytes() if isinstance(blob, str | Path) else bytes(blob)
    return CRuntime().run(data, input_u8, kernels=kernels)


class CModel:
    """A blob initialised once in its own arena (as firmware does); `predict` runs one sample."""

    def __init__(self, rt: CRuntime, blob: bytes) -> None:
        v = rt.validate(blob)
        if not v.ok:
            raise CRuntimeError(v.status, "invalid blob", v.field, v.op, v.buffer)
        limits.check(parse(blob), v.arena_bytes, "C arena")
        self.rt, self.lib = rt, rt.lib
        self._blob = (ctypes.c_uint8 * len(blob)).from_buffer_copy(blob)
        self._ctx = ctypes.create_string_buffer(rt.lib.esnn_ctx_size())
        self._arena = ctypes.create_string_buffer(v.arena_bytes + 8)
        code = self.lib.esnn_init(self._ctx, self._blob, len(blob), self._arena, v.arena_bytes + 8)
        if code != 0:
            rt._raise(code, self.lib.esnn_error(self._ctx).contents)
        self.input_bytes = self.lib.esnn_frame_size(self._ctx) * self.lib.esnn_input_frames(self._ctx)

    def predict(self, input_u8: np.ndarray) -> int:
        """One sample (u8 [frames, C, H, W]): the predicted class."""
        data = np.ascontiguousarray(input_u8, dtype=np.uint8).reshape(-1)
        if data.size != self.input_bytes:
            raise ValueError(f"input: {data.size} bytes, expected {self.input_bytes}")
        code = self.lib.esnn_run(self._ctx, data.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)), data.size)
        if code != 0:
            self.rt._raise(code, self.lib.esnn_error(self._ctx).contents)
        return int(self.lib.esnn_predicted(self._ctx))
