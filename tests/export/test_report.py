"""The report's pruning line says what happened in words: nothing removed, or which shortcuts and why."""

from edgesnn.export.report import _pruning_line


def test_pruning_line():
    assert _pruning_line(None) == "pruning not requested"
    nothing = {"label": "none", "removed": [], "kept": ["s.0", "s.1"], "check": None}
    assert _pruning_line(nothing) == "none; kept (alive, OR node): s.0, s.1"
    some = {"label": "shortcut 1,3", "removed": ["s.0", "s.2"], "kept": ["s.1"], "check": {"identical": True}}
    assert _pruning_line(some) == "shortcut 1,3: s.0, s.2 (verified identical); kept (alive, OR node): s.1"
