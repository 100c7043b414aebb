"""The export report as JSON and markdown, deterministic (no timestamps, sorted keys).

Memory per layer: the bytes each op owns in the lean arena plan a board runs (its output buffer as planned
+ its LIF state), the same in the plain plan (ESNN_OPT_REFERENCE + ESNN_OPT_FINAL_STATE: int32 currents,
no fusion, every state kept to the end) and what the lean plan chose for it; the totals of both plans."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from edgesnn import __version__
from edgesnn.export import ir, micropython_memory
from edgesnn.export.arena_notes import layer_bytes, layer_choices
from edgesnn.export.emit import to_model
from edgesnn.export.passes.memory import board_arena_budget, plan_arena
from edgesnn.export.pipeline import ExportResult


def _params(op: ir.Op) -> int:
    arrays = [getattr(op, f, None) for f in ("weight", "bias", "w1", "w2")]
    return int(sum(a.size for a in arrays if isinstance(a, np.ndarray)))


def _bits(op: ir.Op) -> str:
    if isinstance(op, ir.QConv | ir.QReadout):
        return f"w{op.bits}"
    if isinstance(op, ir.QLif):
        return f"state{op.state_bits}"
    if isinstance(op, ir.QAttention):
        return "w8/score64"
    return "1"


def _plans(res: ExportResult) -> tuple[list[int], list[int], list[str], int]:
    """(lean bytes per op, plain bytes per op, lean choices per op, plain arena total)."""
    model = to_model(res.graph)
    lean, plain = plan_arena(model), plan_arena(model, final_state=True, reference=True)
    return layer_bytes(model, lean), layer_bytes(model, plain), layer_choices(model, lean), plain.total_bytes


def recompute_sops(res: ExportResult) -> list[float]:
    """Per op, the synaptic operations per inference the lean plan pays again: a conv whose ATTN recomputes
    it runs twice per step (measured SOPs of that conv on the calibration data)."""
    segments = plan_arena(to_model(res.graph)).segments
    sops = {r.name: r.acs for r in res.ops.rows}
    recomputed = segments.recompute if segments else frozenset()
    return [sops.get(n.name, 0.0) if k + 1 in recomputed else 0.0 for k, n in enumerate(res.graph.nodes)]


def layer_rows(res: ExportResult) -> list[dict[str, Any]]:
    mem = {m.name: m for m in res.plan.layers}
    lean, plain, choices, _ = _plans(res)
    paid = recompute_sops(res)
    rows = []
    for k, node in enumerate(res.graph.nodes):
        shape = res.graph.tensors[node.output].shape if node.output else None
        m = mem[node.name]
        rows.append({
            "name": node.name, "op": node.kind.removeprefix("q"), "shape": list(shape) if shape else None,
            "bits": _bits(node.op), "params": _params(node.op), "output_bytes": m.output_bytes,
            "state_bytes": m.state_bytes, "live_bytes": m.live_bytes, "lean_bytes": lean[k],
            "plain_bytes": plain[k], "plan": choices[k], "recompute_sops": paid[k],
        })  # fmt: skip
    return rows


def board_plan(res: ExportResult) -> dict[str, Any] | None:
    """What a C board of the device runs (firmware/ports/common/board_config.c): the arena budget its RAM
    for the model leaves after the protocol's I/O buffers and ESNN_OPT_FAST's plan in it, against the lean
    plan's choices; None for a MicroPython profile or when the budget buys nothing (the lean plan runs)."""
    if res.device.runtime != "c":
        return None
    model = to_model(res.graph)
    budget = board_arena_budget(model, res.device.model_ram_bytes)
    if budget is None:
        return None
    lean, fast = plan_arena(model), plan_arena(model, budget=budget)
    count = {"recomputed_attention_inputs": lambda p: len(p.segments.recompute),
             "streamed_convs": lambda p: len(p.streams.convs),
             "segments": lambda p: len(p.segments.first)}  # fmt: skip
    return {"arena_budget_bytes": budget, "arena_bytes": fast.total_bytes} | {
        k: {"board": f(fast), "lean": f(lean)} for k, f in count.items()
    }


def _memory(res: ExportResult) -> dict[str, Any]:
    plain = _plans(res)[3]
    return res.plan.to_dict() | {
        "plain_arena_bytes": plain,
        "recompute_sops": sum(recompute_sops(res)),
        "saved_bytes": plain - res.plan.peak_ram_bytes,
        "ram_budget_bytes": res.device.ram_budget_bytes,  # --ram-budget, None: the profile's
        "board_plan": board_plan(res),
    }


def to_dict(res: ExportResult, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "edgesnn_version": __version__,
        "format": "esnn 1.0",
        "model": res.model_label,
        "T": res.graph.T,
        "static_input": res.graph.static_input,
        "weight_bits": res.weight_bits,
        "schedule": res.plan.schedule,
        "pruning": res.prune.to_dict() if res.prune else None,
        "passes": list(res.graph.notes),
        "layers": layer_rows(res),
        "params": sum(r["params"] for r in layer_rows(res)),
        "bounds": [b.to_dict() for b in res.bounds],
        "memory": _memory(res),
        "device": res.device.to_dict(),
        "ops": {
            "samples": res.ops.samples,
            "macs": res.ops.macs,
            "sops": res.ops.acs,
            "energy_pj": res.ops.energy_pj,
        },
        "agreement": res.agreement.to_dict(),
        **(extra or {}),
    }


def to_json(res: ExportResult, extra: dict[str, Any] | None = None) -> str:
    return json.dumps(to_dict(res, extra), indent=2, sort_keys=True) + "\n"


def _memory_line(mem: dict[str, Any], dev: Any) -> str:
    """Flash and RAM against the device: the C runtime's blob and arena, or on a MicroPython profile the
    MicroPython runtime's heap bound and files (edgesnn.export.micropython_memory)."""
    if dev.runtime == "micropython" and "micropython_heap_bytes" in mem:
        code = micropython_memory.native_code_bytes(dev.core)
        heap, how = mem["micropython_heap_bytes"], ""
        if code and mem.get("micropython_native_heap_bytes"):  # the C runtime as esnn_native
            heap = mem["micropython_native_heap_bytes"] + code
            arch = micropython_memory.NATIVE_ARCH[dev.core]
            how = f", C runtime as esnn_native {arch} with {code} B of code"
        return (
            f"flash (model + runtime files) {mem['micropython_flash_bytes']} B of {dev.model_flash_bytes} B; "
            f"MicroPython heap {heap} B of {dev.model_ram_bytes} B ({dev.name}{how})"
        )
    budget = " set by --ram-budget" if mem.get("ram_budget_bytes") is not None else ""
    return (
        f"flash {mem['flash_bytes']} B of {dev.model_flash_bytes} B; "
        f"peak RAM {mem['peak_ram_bytes']} B of {dev.model_ram_bytes} B{budget} ({dev.name})"
    )


def _arena_line(mem: dict[str, Any], sops: float) -> str:
    plain, lean, paid = mem["plain_arena_bytes"], mem["peak_ram_bytes"], mem.get("recompute_sops", 0.0)
    cost = (
        f"; recomputed attention inputs cost {paid:.0f} SOPs per sample again ({100 * paid / sops:.0f} % "
        f"of the {sops:.0f})"
        if paid and sops
        else ""
    )
    return (
        f"- C arena: lean plan {lean} B vs plain plan {plain} B (int32 currents, no fusion, every LIF state "
        f"kept): {plain - lean} B saved ({100 * (plain - lean) / max(1, plain):.0f} %){cost}"
    )


def _board_line(mem: dict[str, Any], dev) -> list[str]:
    b = mem.get("board_plan")
    if not b:
        return []
    n = {k: f"{v['board']} (lean {v['lean']})" for k, v in b.items() if isinstance(v, dict)}
    return [
        f"- on a {dev.name} board: arena {b['arena_budget_bytes']} B (its RAM for the model less the "
        f"protocol's I/O buffers), spent on speed (ESNN_OPT_FAST plan, {b['arena_bytes']} B used): "
        f"recomputed attention inputs {n['recomputed_attention_inputs']}, "
        f"streamed convs {n['streamed_convs']}, segments {n['segments']}"
    ]


def to_markdown(res: ExportResult, extra: dict[str, Any] | None = None) -> str:
    d = to_dict(res, extra)
    a, mem, dev = d["agreement"], d["memory"], res.device
    lines = [
        f"# Export report: {d['model']}",
        "",
        f"- format .esnn 1.0, edgesnn {__version__}; T = {d['T']}, "
        f"{'static input (first conv once)' if d['static_input'] else 'frame input'}",
        f"- weights int{d['weight_bits']}; schedule **{d['schedule']}**",
        f"- pruned shortcuts: {_pruning_line(d['pruning'])}",
        f"- params {d['params']}; {_memory_line(mem, dev)}",
        _arena_line(mem, d["ops"]["sops"]),
        *_board_line(mem, dev),
        f"- per sample: {d['ops']['macs']:.0f} MACs, {d['ops']['sops']:.0f} SOPs, "
        f"{d['ops']['energy_pj'] / 1e6:.3f} uJ (Eq. 11, 45 nm)",
        f"- float vs integer on {a['samples']} calibration samples: top-1 agreement "
        f"{100 * a['agreement']:.2f} %, accuracy float {100 * a['float_accuracy']:.2f} % / integer "
        f"{100 * a['int_accuracy']:.2f} % (drop {a['accuracy_drop_pp']:+.2f} pp)",
        "",
        "| layer | op | shape | bits | params | out B | state B | live B | lean B | plain B | lean plan |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in d["layers"]:
        shape = "x".join(map(str, r["shape"])) if r["shape"] else "-"
        lines.append(
            f"| {r['name']} | {r['op']} | {shape} | {r['bits']} | {r['params']} | {r['output_bytes']} | "
            f"{r['state_bytes']} | {r['live_bytes']} | {r['lean_bytes']} | {r['plain_bytes']} | "
            f"{r['plan'] or '-'} |"
        )
    lines += ["", "| bound | kind | worst case | limit |", "|---|---|---:|---:|"]
    lines += [
        f"| {b['name']} | {b['kind']} | {b['bound']} | 2^{b['limit'].bit_length() - 1} |" for b in d["bounds"]
    ]
    return "\n".join(lines) + "\n"


def _pruning_line(p: dict[str, Any] | None) -> str:
    if p is None:
        return "pruning not requested"
    kept = f"; kept (alive, OR node): {', '.join(p['kept'])}" if p["kept"] else ""
    removed = ", ".join(p["removed"]) or "none"
    check = " (verified identical)" if p["check"] and p["check"]["identical"] else ""
    if not p["removed"]:
        return f"none{kept}"
    return f"{p['label']}: {removed}{check}{kept}"
