"""Schedule and memory plan of a quantized graph, checked against a device profile.

Schedule: time-major (every op per step; buffers hold one step) unless an ATTN op needs the whole
sequence, then LAYER_MAJOR (every step of one op, then the next; spike buffers hold all T steps
bit-packed, ATTN's input and output currents all T steps).

RAM: buffers live from the op that writes them to the last op that reads them and are reused after
that; the input frame (one frame when static, else one per step in time-major / T in layer-major);
spikes bit-packed, currents int32 (ATTN outputs are bounded by their inputs); LIF membranes
int16/int32 per neuron — live for the whole sample under time-major (they carry across steps),
only during their own op under LAYER_MAJOR; readout accumulators int32. A static first conv's
output is computed once and kept. Peak RAM = max over ops of the bytes live while that op runs.
Flash = the blob size.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesnn.devices import DeviceProfile
from edgesnn.export import ir
from edgesnn.export.emit import layer_major
from edgesnn.export.errors import ExportError


@dataclass(frozen=True)
class LayerMemory:
    name: str
    kind: str
    output_bytes: int  # the buffer this op writes
    state_bytes: int  # LIF membranes / readout accumulators
    live_bytes: int  # everything live while this op runs

    def to_dict(self) -> dict:
        return {"name": self.name, "kind": self.kind, "output_bytes": self.output_bytes,
                "state_bytes": self.state_bytes, "live_bytes": self.live_bytes}  # fmt: skip


@dataclass(frozen=True)
class MemoryPlan:
    schedule: str  # "time-major" or "layer-major"
    layers: tuple[LayerMemory, ...]
    peak_ram_bytes: int
    flash_bytes: int

    def to_dict(self) -> dict:
        return {"schedule": self.schedule, "peak_ram_bytes": self.peak_ram_bytes,
                "flash_bytes": self.flash_bytes, "layers": [r.to_dict() for r in self.layers]}  # fmt: skip


def _buffer_bytes(graph: ir.Graph, tensor: str, steps: int) -> int:
    t = graph.tensors[tensor]
    if t.kind == "spikes":
        return steps * ((t.size + 7) // 8)
    if t.kind == "input":
        return steps * t.size
    return steps * t.size * 4  # int32 (ATTN outputs are bounded by their inputs)


def _state_bytes(graph: ir.Graph, node: ir.Node) -> int:
    if isinstance(node.op, ir.QLif):
        return graph.tensors[node.inputs[0]].size * node.op.state_bits // 8
    if isinstance(node.op, ir.QReadout):
        return 4 * graph.num_classes
    return 0


def plan_memory(graph: ir.Graph, blob_size: int) -> MemoryPlan:
    lm = layer_major(graph)
    T = graph.T
    attn_io = {t for n in graph.nodes if isinstance(n.op, ir.QAttention) for t in (*n.inputs, n.output)}
    static = {n.output for n in graph.nodes if isinstance(n.op, ir.QConv) and n.op.static}
    last_use = {"input": 0}
    for k, node in enumerate(graph.nodes):
        for t in node.inputs:
            last_use[t] = k
    end = len(graph.nodes) - 1
    sizes: dict[str, int] = {}
    first = {"input": 0}
    in_steps = 1 if graph.static_input else (T if lm else 1)
    sizes["input"] = _buffer_bytes(graph, "input", in_steps)
    for k, node in enumerate(graph.nodes):
        if node.output is None:
            continue
        kind = graph.tensors[node.output].kind
        steps = T if (lm and (kind == "spikes" or node.output in attn_io)) else 1
        sizes[node.output] = _buffer_bytes(graph, node.output, steps)
        first[node.output] = k
        if node.output in static and not lm:  # computed once, read at every step
            last_use[node.output] = end
    if not lm:  # every step reruns every op: the input frame is needed until the last op
        last_use["input"] = end
    states = [_state_bytes(graph, n) for n in graph.nodes]
    rows = []
    for k, node in enumerate(graph.nodes):
        live = sum(s for t, s in sizes.items() if first[t] <= k <= last_use.get(t, first[t]))
        live += sum(states) if not lm else states[k] + (states[-1] if k != end else 0)
        out = sizes.get(node.output or "", 0)
        rows.append(LayerMemory(node.name, node.kind, out, states[k], live))
    peak = max(r.live_bytes for r in rows)
    return MemoryPlan("layer-major" if lm else "time-major", tuple(rows), peak, blob_size)


def check_fit(plan: MemoryPlan, device: DeviceProfile) -> None:
    """Fail with required vs available bytes when the model does not fit the device."""
    problems = []
    if plan.peak_ram_bytes > device.model_ram_bytes:
        problems.append(f"RAM {plan.peak_ram_bytes} B required, {device.model_ram_bytes} B available")
    if plan.flash_bytes > device.model_flash_bytes:
        problems.append(f"flash {plan.flash_bytes} B required, {device.model_flash_bytes} B available")
    if problems:
        raise ExportError(f"the model does not fit {device.name}: " + "; ".join(problems))
