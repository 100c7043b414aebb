"""What the report and the fit message say about the lean plan's choices (edgesnn/export/arena_notes.py)."""

from __future__ import annotations

from pathlib import Path

from edgesnn.export.arena_notes import layer_choices, peak
from edgesnn.export.passes.memory import plan_arena
from edgesnn.format.blob import parse

VECTOR = Path(__file__).resolve().parents[2] / "export" / "vectors" / "v1" / "t_packed_spikes" / "model.esnn"


def test_t_packed_spikes_named_per_layer_and_at_the_peak():
    """The vector made for T-packed spikes (T = 5, 8 and 5 channels: two words per pixel): the LIFs writing
    them say so, and the peak names a T-packed buffer with its T steps and a LIF's staged step."""
    model = parse(VECTOR.read_bytes())
    arena = plan_arena(model)
    assert arena.packed == {2, 4}
    notes = layer_choices(model, arena)
    lifs = [k for k, op in enumerate(model.ops) if getattr(op, "out", None) in arena.packed]
    assert lifs == [1, 3]
    for k in lifs:
        assert "spikes T-packed: 5 steps in 2 words per pixel" in notes[k]
    assert not any("T-packed" in n for k, n in enumerate(notes) if k not in lifs)
    whats = {it.what for it in peak(model, arena).items}
    assert "spikes of 5 steps T-packed" in whats, whats
    assert any(w.endswith("LIF state and a staged step of spikes") for w in whats), whats
