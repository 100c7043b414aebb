"""Golden integer reference for `.esnn` models (export/FORMAT.md): loader, writer and interpreter.

numpy only; it never imports torch or the exporter.
"""

from edgesnn.reference.blob import load, parse
from edgesnn.reference.errors import BlobError
from edgesnn.reference.interpreter import BatchResult, Result, run, run_batch
from edgesnn.reference.layout import AttnDim, AttnKind, BufferKind, LogicMode, Opcode
from edgesnn.reference.model import Attn, Buffer, Conv, Lif, Logic, MaxPool, Model, Op, Readout
from edgesnn.reference.writer import save, to_bytes

__all__ = [
    "Attn",
    "AttnDim",
    "AttnKind",
    "BatchResult",
    "BlobError",
    "Buffer",
    "BufferKind",
    "Conv",
    "Lif",
    "Logic",
    "LogicMode",
    "MaxPool",
    "Model",
    "Op",
    "Opcode",
    "Readout",
    "Result",
    "load",
    "parse",
    "run",
    "run_batch",
    "save",
    "to_bytes",
]
