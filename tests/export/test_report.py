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
