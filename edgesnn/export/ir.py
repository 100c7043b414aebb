"""A small typed IR of a spiking network: named tensors and nodes in execution order.

Tensors are one time step of ``[C, H, W]`` of a kind: ``input`` (u8 pixels / event counts), ``current``
(conv, BN and attention outputs) or ``spikes`` (binary). Each node reads ``inputs`` and writes ``output``
(``None`` for the readout). Float parameters are numpy arrays in PyTorch's layouts; the quantize pass
attaches integer parameters in FORMAT.md's layouts to a separate ``QGraph``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np

TensorKind = Literal["input", "current", "spikes"]


@dataclass(frozen=True)
class Tensor:
    name: str
    kind: TensorKind
    shape: tuple[int, int, int]  # C, H, W

    @property
    def size(self) -> int:
        c, h, w = self.shape
        return c * h * w


@dataclass(frozen=True)
class Conv:
    weight: np.ndarray  # [cout, cin, kh, kw]
    bias: np.ndarray | None  # [cout]
    stride: int
    pad: int
    static: bool = False  # reads the static input: the output is the same at every step


@dataclass(frozen=True)
class BatchNorm:
    gamma: np.ndarray
    beta: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    eps: float


@dataclass(frozen=True)
class Lif:
    v_threshold: float
    v_reset: float
    tau: float


@dataclass(frozen=True)
class Attention:
    dim: Literal["T", "C", "S"]
    kind: Literal["MA", "IA"]
    w1: np.ndarray  # T/C: fc1 [hidden, n]; S: conv [2, k, k] (mean map, max map)
    w2: np.ndarray | None  # T/C: fc2 [n, hidden]; S: None
    gate_bias: np.ndarray | None  # IA: [n] (T/C) or [1] (S)
    gate: Lif | None  # IA: the gate neuron (one step from rest)


@dataclass(frozen=True)
class MaxPool:
    kernel: int
    stride: int
    pad: int


@dataclass(frozen=True)
class Logic:
    mode: Literal["OR", "AND", "IAND"]  # g(a = backbone, b = shortcut)


@dataclass(frozen=True)
class Readout:
    weight: np.ndarray  # [classes, channels]
    bias: np.ndarray  # [classes]


@dataclass(frozen=True)
class QConv:
    """Integer conv (FORMAT.md CONV): output in units of ``unit[co]`` (real current = acc * unit)."""

    weight: np.ndarray  # int [cin][kh][kw][cout]
    bias: np.ndarray  # int32 [cout]
    bits: int
    stride: int
    pad: int
    static: bool
    unit: np.ndarray  # float [cout]


@dataclass(frozen=True)
class QLif:
    thresholds: np.ndarray  # int32 [C], >= 1
    leak_mul: int  # Q16 of 1/tau
    state_bits: int = 32


@dataclass(frozen=True)
class QAttention:
    """Integer attention (FORMAT.md ATTN); ``score_unit`` is the real value of one score unit."""

    dim: Literal["T", "C", "S"]
    kind: Literal["MA", "IA"]
    w1: np.ndarray  # int8
    w2: np.ndarray | None  # int8
    shift: int
    table: np.ndarray  # int64: MA breakpoints, IA thresholds
    levels: np.ndarray | None  # uint16 Q15 (MA)
    score_unit: float


@dataclass(frozen=True)
class QReadout:
    weight: np.ndarray  # int [channels][classes]
    bias: np.ndarray  # int32 [classes]
    bits: int
    logit_scale: float


Op = Conv | BatchNorm | Lif | Attention | MaxPool | Logic | Readout | QConv | QLif | QAttention | QReadout


@dataclass(frozen=True)
class Node:
    name: str  # module path in the PyTorch model
    op: Op
    inputs: tuple[str, ...]
    output: str | None

    @property
    def kind(self) -> str:
        return type(self.op).__name__.lower()


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    tensors: dict[str, Tensor]
    T: int
    num_classes: int
    static_input: bool  # the input is one frame repeated T times
    input_scale_num: int = 255  # a float input value is u8 / input_scale_num
    notes: tuple[str, ...] = field(default_factory=tuple)  # what earlier passes did, for the report

    @property
    def input(self) -> Tensor:
        return self.tensors["input"]

    def producer(self, tensor: str) -> Node | None:
        return next((n for n in self.nodes if n.output == tensor), None)

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def with_nodes(
        self, nodes: list[Node], tensors: dict[str, Tensor] | None = None, note: str = ""
    ) -> Graph:
        """A copy with new nodes; tensors no node reads or writes any more are dropped."""
        pool = dict(self.tensors if tensors is None else tensors)
        used = {"input"} | {t for n in nodes for t in n.inputs} | {n.output for n in nodes if n.output}
        kept = {k: v for k, v in pool.items() if k in used}
        notes = (*self.notes, note) if note else self.notes
        return replace(self, nodes=tuple(nodes), tensors=kept, notes=notes)
