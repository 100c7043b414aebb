"""Immutable, typed view of an `.esnn` model: header fields, buffers and ops with decoded numpy arrays.

Offsets and sizes are not stored: the loader checks them and the writer recomputes them, so
``load(to_bytes(m)) == m``. Arrays are read-only copies with the dtype the format stores
(int4 weights are held unpacked as int8).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from edgesnn.format.errors import BlobError
from edgesnn.format.layout import (
    VERSION_MAJOR,
    VERSION_MINOR,
    AttnDim,
    AttnKind,
    BufferKind,
    LogicMode,
    Opcode,
)

_WEIGHT_DTYPES = {4: np.int8, 8: np.int8, 16: np.int16}


def frozen_array(
    value: Any, dtype: type, what: str, lo: int | None = None, hi: int | None = None
) -> np.ndarray:
    """A read-only copy of `value` as `dtype`, refusing non-integers and values outside [lo, hi]."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu" and not (arr.size == 0 and arr.dtype.kind == "f"):
        raise BlobError(f"{what}: expected integers, got dtype {arr.dtype}")
    info = np.iinfo(dtype)
    lo = info.min if lo is None else lo
    hi = info.max if hi is None else hi
    if arr.size and (int(arr.min()) < lo or int(arr.max()) > hi):
        raise BlobError(f"{what}: values {int(arr.min())}..{int(arr.max())} outside {lo}..{hi}")
    out: np.ndarray = arr.astype(dtype, copy=True)
    out.setflags(write=False)
    return out


def weight_array(value: Any, bits: int, what: str) -> np.ndarray:
    if bits not in _WEIGHT_DTYPES:
        raise BlobError(f"{what}: weight_bits {bits} is not 4, 8 or 16")
    lim = 1 << (bits - 1)
    return frozen_array(value, _WEIGHT_DTYPES[bits], what, -lim, lim - 1)


class _ArrayEq:
    """Field-wise equality where numpy arrays compare by dtype, shape and values."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            a, b = getattr(self, f.name), getattr(other, f.name)
            if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
                if not (
                    isinstance(a, np.ndarray)
                    and isinstance(b, np.ndarray)
                    and a.dtype == b.dtype
                    and a.shape == b.shape
                    and np.array_equal(a, b)
                ):
                    return False
            elif a != b:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Buffer:
    kind: BufferKind
    channels: int
    height: int
    width: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", BufferKind(self.kind))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.height, self.width)

    @property
    def elements(self) -> int:
        return self.channels * self.height * self.width


@dataclass(frozen=True, eq=False)
class Conv(_ArrayEq):
    """CONV: `weights` [cin][kh][kw][cout] (int8 for 4/8 bits, int16 for 16), `bias` [cout] int32."""

    opcode: ClassVar[Opcode] = Opcode.CONV
    in0: int
    out: int
    weights: np.ndarray
    bias: np.ndarray
    stride: int = 1
    pad: int = 0
    weight_bits: int = 8
    static: bool = False

    def __post_init__(self) -> None:
        w = weight_array(self.weights, self.weight_bits, "CONV weights")
        if w.ndim != 4:
            raise BlobError(f"CONV weights: expected [cin][kh][kw][cout], got shape {w.shape}")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", frozen_array(self.bias, np.int32, "CONV bias"))

    @property
    def cin(self) -> int:
        return int(self.weights.shape[0])

    @property
    def kh(self) -> int:
        return int(self.weights.shape[1])

    @property
    def kw(self) -> int:
        return int(self.weights.shape[2])

    @property
    def cout(self) -> int:
        return int(self.weights.shape[3])


@dataclass(frozen=True, eq=False)
class Lif(_ArrayEq):
    """LIF: `thresholds` [channels] int32 (>= 1); leak_mul Q16 = round(65536 / tau)."""

    opcode: ClassVar[Opcode] = Opcode.LIF
    in0: int
    out: int
    thresholds: np.ndarray
    leak_mul: int = 32768
    state_bits: int = 32

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", frozen_array(self.thresholds, np.int32, "LIF thresholds"))

    @property
    def channels(self) -> int:
        return int(self.thresholds.shape[0])


@dataclass(frozen=True, eq=False)
class Attn(_ArrayEq):
    """ATTN along T, C or S.

    T/C: `w1` [hidden][n] int8, `w2` [n][hidden] int8. S: `w1` [2][k][k] int8 (sum map, max map), `w2` None.
    MA: `table` = K ascending int64 breakpoints, `levels` = K+1 uint16 (Q15).
    IA: `table` = G int64 thresholds, `levels` None.
    """

    opcode: ClassVar[Opcode] = Opcode.ATTN
    in0: int
    out: int
    dim: AttnDim
    kind: AttnKind
    w1: np.ndarray
    table: np.ndarray
    w2: np.ndarray | None = None
    levels: np.ndarray | None = None
    shift: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "dim", AttnDim(self.dim))
        object.__setattr__(self, "kind", AttnKind(self.kind))
        object.__setattr__(self, "w1", frozen_array(self.w1, np.int8, "ATTN w1"))
        object.__setattr__(self, "table", frozen_array(self.table, np.int64, "ATTN table"))
        if self.w2 is not None:
            object.__setattr__(self, "w2", frozen_array(self.w2, np.int8, "ATTN w2"))
        if self.levels is not None:
            object.__setattr__(self, "levels", frozen_array(self.levels, np.uint16, "ATTN levels"))
        if self.w1.ndim != (3 if self.dim == AttnDim.S else 2):
            raise BlobError(f"ATTN w1: shape {self.w1.shape} does not fit dim {self.dim.name}")
        if (self.w2 is None) != (self.dim == AttnDim.S):
            raise BlobError("ATTN w2: required for dim T/C, must be None for dim S")
        if (self.levels is None) != (self.kind == AttnKind.IA):
            raise BlobError("ATTN levels: required for MA, must be None for IA")

    @property
    def n(self) -> int:
        """T or C for dim T/C; the kernel size k for dim S."""
        return int(self.w1.shape[-1])

    @property
    def hidden(self) -> int:
        return 0 if self.dim == AttnDim.S else int(self.w1.shape[0])


@dataclass(frozen=True)
class MaxPool:
    opcode: ClassVar[Opcode] = Opcode.MAXPOOL
    in0: int
    out: int
    kernel: int
    stride: int
    pad: int = 0


@dataclass(frozen=True)
class Logic:
    """LOGIC: OR `a | b`, AND `a & b`, IAND `(~a) & b` with a = in0 (backbone), b = in1 (shortcut)."""

    opcode: ClassVar[Opcode] = Opcode.LOGIC
    in0: int
    in1: int
    out: int
    mode: LogicMode

    def __post_init__(self) -> None:
        object.__setattr__(self, "mode", LogicMode(self.mode))


@dataclass(frozen=True, eq=False)
class Readout(_ArrayEq):
    """READOUT: `weights` [channels][classes], `bias` [classes] int32; the last op, no output buffer."""

    opcode: ClassVar[Opcode] = Opcode.READOUT
    in0: int
    weights: np.ndarray
    bias: np.ndarray
    weight_bits: int = 8

    def __post_init__(self) -> None:
        w = weight_array(self.weights, self.weight_bits, "READOUT weights")
        if w.ndim != 2:
            raise BlobError(f"READOUT weights: expected [channels][classes], got shape {w.shape}")
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", frozen_array(self.bias, np.int32, "READOUT bias"))

    @property
    def channels(self) -> int:
        return int(self.weights.shape[0])

    @property
    def classes(self) -> int:
        return int(self.weights.shape[1])


Op = Conv | Lif | Attn | MaxPool | Logic | Readout


@dataclass(frozen=True)
class Model:
    """A whole `.esnn` model. `buffers[0]` is the INPUT_U8 input; `ops` run in order, READOUT last."""

    T: int
    num_classes: int
    buffers: tuple[Buffer, ...]
    ops: tuple[Op, ...]
    layer_major: bool = False
    static_input: bool = False
    logit_scale: float = 1.0
    input_scale_num: int = 255
    version: tuple[int, int] = field(default=(VERSION_MAJOR, VERSION_MINOR))

    def __post_init__(self) -> None:
        object.__setattr__(self, "buffers", tuple(self.buffers))
        object.__setattr__(self, "ops", tuple(self.ops))

    @property
    def input(self) -> Buffer:
        return self.buffers[0]

    @property
    def lif_ops(self) -> tuple[Lif, ...]:
        return tuple(op for op in self.ops if isinstance(op, Lif))

    def to_bytes(self) -> bytes:
        from edgesnn.format.writer import to_bytes

        return to_bytes(self)
