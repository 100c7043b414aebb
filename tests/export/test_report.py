"""The report's pruning line says what happened in words: nothing removed, or which shortcuts and why."""

from edgesnn.export.report import _pruning_line


def test_pruning_line():
    assert _pruning_line(None) == "pruning not requested"
    nothing = {"label": "none", "removed": [], "kept": ["s.0", "s.1"], "check": None}
    assert _pruning_line(nothing) == "none; kept (alive, OR node): s.0, s.1"
    some = {"label": "shortcut 1,3", "removed": ["s.0", "s.2"], "kept": ["s.1"], "check": {"identical": True}}
    assert _pruning_line(some) == "shortcut 1,3: s.0, s.2 (verified identical); kept (alive, OR node): s.1"


def test_memory_line_uses_the_runtime_of_the_profile():
    """A C profile is sized with the blob and the C arena; a MicroPython profile with the MicroPython heap
    bound and the files on the board, when the plan has them."""
    from edgesnn.devices import load_profile
    from edgesnn.export.report import _memory_line

    mem = {"flash_bytes": 1000, "peak_ram_bytes": 2000}
    c = load_profile("stm32f411-nucleo")
    want_c = f"flash 1000 B of {c.model_flash_bytes} B; peak RAM 2000 B of {c.model_ram_bytes} B ({c.name})"
    assert _memory_line(mem, c) == want_c
    mp = load_profile("rp2040-pico")
    assert _memory_line(mem, mp).startswith("flash 1000 B of")  # no MicroPython figures in the plan
    mem |= {"micropython_heap_bytes": 30000, "micropython_flash_bytes": 90000}
    assert _memory_line(mem, mp) == (
        f"flash (model + runtime files) 90000 B of {mp.model_flash_bytes} B; "
        f"MicroPython heap 30000 B of {mp.model_ram_bytes} B (rp2040-pico)"
    )


def test_report_shows_the_lean_plan_per_layer_and_against_the_plain_plan():
    """Per layer: bytes in the lean and the plain plan and what the lean plan chose; the totals; the
    --ram-budget override recorded."""
    import json

    from edgesnn.devices import load_profile
    from edgesnn.export.emit import to_model
    from edgesnn.export.passes.memory import plan_arena
    from edgesnn.export.pipeline import export_model
    from edgesnn.export.report import to_json, to_markdown
    from tests.export.nets import images, tiny_model

    device = load_profile("host").with_ram_budget(500_000)
    res = export_model(tiny_model(attention="C"), [images(4)], device, 8, prune=False)
    d = json.loads(to_json(res))
    model = to_model(res.graph)
    plain = plan_arena(model, final_state=True, reference=True).total_bytes
    mem = d["memory"]
    assert mem["plain_arena_bytes"] == plain > mem["peak_ram_bytes"] == plan_arena(model).total_bytes
    assert mem["saved_bytes"] == plain - mem["peak_ram_bytes"] and mem["ram_budget_bytes"] == 500_000
    assert d["device"]["model_ram_bytes"] == 500_000
    rows = {r["name"]: r for r in d["layers"]}
    assert (
        rows["stem.conv_bn.conv"]["plan"] == "fused first layer"
        and rows["stem.conv_bn.conv"]["lean_bytes"] == 0
    )
    assert rows["stem.lif"]["plain_bytes"] > 0 and "fused first layer" in rows["stem.lif"]["plan"]
    assert any("state freed after its segment" in r["plan"] for r in d["layers"])  # attention: layer-major
    layers = d["layers"]
    recomputed = [k for k, r in enumerate(layers) if r["plan"].startswith("input recomputed")]
    assert all(layers[k - 1]["plan"].startswith("recomputed by its attention") for k in recomputed)
    assert recomputed  # the tiny SynA-C graph recomputes at least one attention input
    for r in d["layers"]:
        assert r["lean_bytes"] == r["output_bytes"] + (r["state_bytes"] if r["op"] == "lif" else 0)
    md = to_markdown(res)
    assert f"lean plan {mem['peak_ram_bytes']} B vs plain plan {plain} B" in md
    assert "B of 500000 B set by --ram-budget (host)" in md and "| lean B | plain B | lean plan |" in md
    # the instructions paid: each recomputed attention input conv's measured SOPs, summed in the totals
    sops = {r.name: r.acs for r in res.ops.rows}
    for k in recomputed:
        conv = layers[k - 1]
        assert conv["recompute_sops"] == sops[conv["name"]]  # 0 when its input never fired here
    assert mem["recompute_sops"] == sum(r["recompute_sops"] for r in layers)
    assert all(r["recompute_sops"] == 0 for i, r in enumerate(layers) if i + 1 not in recomputed)
    assert ("recomputed attention inputs cost" in md) == (mem["recompute_sops"] > 0)
    # what a C board runs: the budget its RAM for the model leaves, spent on speed (the host board: lean)
    from dataclasses import replace

    from edgesnn.export.passes.memory import board_arena_budget
    from edgesnn.export.report import board_plan

    assert mem["board_plan"] is None
    on_board = replace(res, device=load_profile("stm32f411-nucleo").with_ram_budget(500_000))
    board = board_plan(on_board)
    assert board is not None and board["arena_budget_bytes"] == board_arena_budget(model, 500_000)
    assert board["arena_bytes"] == plan_arena(model, budget=board["arena_budget_bytes"]).total_bytes
    assert board["recomputed_attention_inputs"]["board"] < board["recomputed_attention_inputs"]["lean"]
    assert f"- on a stm32f411-nucleo board: arena {board['arena_budget_bytes']} B" in to_markdown(on_board)
