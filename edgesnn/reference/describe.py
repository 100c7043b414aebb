"""Human-readable summary of a `Model`: header, buffers, per-op shapes, bit widths, params and flash."""

from __future__ import annotations

from edgesnn.format.layout import AttnDim, align4, record_size, weight_bytes
from edgesnn.format.model import Attn, Conv, Lif, Logic, MaxPool, Model, Op, Readout


def op_arrays(op: Op) -> list[tuple[int, int]]:
    """(element count, bytes without padding) of each data array the op references."""
    if isinstance(op, Conv | Readout):
        return [
            (op.weights.size, weight_bytes(op.weights.size, op.weight_bits)),
            (op.bias.size, 4 * op.bias.size),
        ]
    if isinstance(op, Lif):
        return [(op.channels, 4 * op.channels)]
    if isinstance(op, Attn):
        arrays = [(op.w1.size, op.w1.size)]
        if op.w2 is not None:
            arrays.append((op.w2.size, op.w2.size))
        levels = 0 if op.levels is None else op.levels.size
        arrays.append((op.table.size + levels, 8 * op.table.size + 2 * levels))
        return arrays
    return []


def params(op: Op) -> int:
    return sum(count for count, _ in op_arrays(op))


def flash_bytes(op: Op) -> int:
    """Bytes the op takes in the blob: its record plus its 4-aligned arrays."""
    return record_size(op.opcode) + sum(align4(nbytes) for _, nbytes in op_arrays(op))


def detail(op: Op) -> str:
    if isinstance(op, Conv):
        static = " static" if op.static else ""
        return f"k{op.kh}x{op.kw} s{op.stride} p{op.pad} w{op.weight_bits}{static}"
    if isinstance(op, Lif):
        thr = f"{int(op.thresholds.min())}..{int(op.thresholds.max())}"
        return f"leak_mul {op.leak_mul} state{op.state_bits} thr {thr}"
    if isinstance(op, Attn):
        shape = f"k{op.n}" if op.dim == AttnDim.S else f"n{op.n} h{op.hidden} >>{op.shift}"
        table = f"{op.table.size} breakpoints" if op.levels is not None else f"{op.table.size} thresholds"
        return f"{op.kind.name}-{op.dim.name} {shape} w8, {table}"
    if isinstance(op, MaxPool):
        return f"k{op.kernel} s{op.stride} p{op.pad} (OR)"
    if isinstance(op, Logic):
        return op.mode.name
    return f"w{op.weight_bits}, {op.classes} classes"


def describe(model: Model, file_size: int | None = None, crc: int | None = None) -> str:
    flags = [
        name for name, on in (("LAYER_MAJOR", model.layer_major), ("STATIC_INPUT", model.static_input)) if on
    ]
    lines = [
        f".esnn v{model.version[0]}.{model.version[1]}  T={model.T}  classes={model.num_classes}  "
        f"flags={'|'.join(flags) or '-'}  logit_scale={model.logit_scale:g}  "
        f"input_scale_num={model.input_scale_num}",
    ]
    if file_size is not None:
        lines.append(f"file {file_size} bytes" + ("" if crc is None else f", CRC32 0x{crc:08x} ok"))
    lines += ["", "buffers", f"{'id':>4}  {'kind':<9} {'C x H x W':<16} {'elements':>9}"]
    for i, b in enumerate(model.buffers):
        lines.append(f"{i:>4}  {b.kind.name:<9} {'x'.join(map(str, b.shape)):<16} {b.elements:>9}")
    header = (
        f"{'#':>4}  {'op':<8} {'in':<8} {'out':<5} {'out shape':<14} {'params':>8} {'flash B':>8}  details"
    )
    lines += ["", "ops", header]
    for k, op in enumerate(model.ops):
        ins = f"{op.in0},{op.in1}" if isinstance(op, Logic) else str(op.in0)
        out = "-" if isinstance(op, Readout) else str(op.out)
        shape = (
            f"{model.num_classes}"
            if isinstance(op, Readout)
            else "x".join(map(str, model.buffers[op.out].shape))
        )
        sizes = f"{params(op):>8} {flash_bytes(op):>8}"
        lines.append(f"{k:>4}  {op.opcode.name:<8} {ins:<8} {out:<5} {shape:<14} {sizes}  {detail(op)}")
    total_p = sum(params(op) for op in model.ops)
    total_f = sum(flash_bytes(op) for op in model.ops)
    lines.append(f"{'':>4}  {'total':<8} {'':<8} {'':<5} {'':<14} {total_p:>8} {total_f:>8}")
    return "\n".join(lines)
