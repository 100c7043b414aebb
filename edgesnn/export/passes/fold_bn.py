"""Fold every BatchNorm into the conv that feeds it: w' = w * g, b' = (b - mean) * g + beta with
g = gamma / sqrt(var + eps). Exact in real arithmetic; in float64 up to rounding."""

from __future__ import annotations

import numpy as np

from edgesnn.export import ir
from edgesnn.export.errors import ExportError


def fold_batchnorm(graph: ir.Graph) -> ir.Graph:
    nodes = list(graph.nodes)
    out: list[ir.Node] = []
    folded = 0
    for node in nodes:
        if not isinstance(node.op, ir.BatchNorm):
            out.append(node)
            continue
        prev = out[-1] if out else None
        if prev is None or not isinstance(prev.op, ir.Conv) or prev.output != node.inputs[0]:
            raise ExportError(f"{node.name}: BatchNorm not directly after a conv cannot be folded")
        if len(graph.consumers(prev.output)) != 1:
            raise ExportError(f"{prev.name}: its output feeds more than the BatchNorm; cannot fold")
        bn, conv = node.op, prev.op
        g = bn.gamma / np.sqrt(bn.var + bn.eps)
        bias = conv.bias if conv.bias is not None else np.zeros_like(g)
        weight = conv.weight * g[:, None, None, None]
        new = ir.Conv(weight, (bias - bn.mean) * g + bn.beta, conv.stride, conv.pad, conv.static)
        out[-1] = ir.Node(prev.name, new, prev.inputs, node.output)
        folded += 1
    return graph.with_nodes(out, note=f"folded {folded} BatchNorm layers into their convs")
