"""The `.esnn` format (export/FORMAT.md): byte layout, typed model, loader and writer.

numpy only; the golden interpreter that runs a model is `edgesnn.reference`, built on this package.
"""

from edgesnn.format.blob import load, parse
from edgesnn.format.errors import BlobError
from edgesnn.format.layout import AttnDim, AttnKind, BufferKind, LogicMode, Opcode
from edgesnn.format.model import Attn, Buffer, Conv, Lif, Logic, MaxPool, Model, Op, Readout
from edgesnn.format.writer import save, to_bytes

__all__ = [
    "Attn",
    "AttnDim",
    "AttnKind",
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
    "load",
    "parse",
    "save",
    "to_bytes",
]
