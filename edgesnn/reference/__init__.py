"""Golden integer reference for `.esnn` models (export/FORMAT.md): the interpreter and its kernels.

The format itself (layout, model, loader, writer) lives in `edgesnn.format`; its public names are
re-exported here, and its modules stay importable under their former paths (``edgesnn.reference.layout``,
``.layout_gen``, ``.model``, ``.blob``, ``.writer``, ``.errors``) as aliases of the same module objects.

numpy only; it never imports torch or the exporter.
"""

import sys as _sys

from edgesnn.format import blob, errors, layout, layout_gen, model, writer
from edgesnn.format.blob import load, parse
from edgesnn.format.errors import BlobError
from edgesnn.format.layout import AttnDim, AttnKind, BufferKind, LogicMode, Opcode
from edgesnn.format.model import Attn, Buffer, Conv, Lif, Logic, MaxPool, Model, Op, Readout
from edgesnn.format.writer import save, to_bytes

for _m in (blob, errors, layout, layout_gen, model, writer):
    _sys.modules[f"{__name__}.{_m.__name__.rsplit('.', 1)[1]}"] = _m
del _m

from edgesnn.reference.interpreter import BatchResult, Result, run, run_batch  # noqa: E402

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
