"""Why an exported `.esnn` model does not fit a board, and what would make it fit (for `edgesnn flash`).

A blob has no graph node names and no checkpoint to rebuild, so the ops are named "op k (KIND)" and the
one change computed is a smaller T (the same model planned with fewer steps: what a re-export at that T
needs); a smaller width needs the checkpoint (`edgesnn export` computes it). Torch-free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from edgesnn.export.arena_notes import describe_peak, op_names, peak
from edgesnn.format.model import Model


def explain_blob(model: Model, need: Callable[[Model], int], avail: int, c_arena: bool = True) -> str:
    """The tail of a "does not fit" line: what is live at the C arena's peak (`c_arena`), then the
    changes that would fit. `need(model)` is the RAM figure the check compares with `avail`."""
    ram = need(model)
    parts = [describe_peak(peak(model), op_names(model))] if c_arena else []
    fixes = []
    tried = None
    for t in sorted({max(1, model.T // 2**i) for i in (1, 2)} - {model.T}, reverse=True):
        tried = (t, need(replace(model, T=t)))
        if tried[1] <= avail:
            break
    if tried is not None and tried[1] < ram:
        t, r = tried
        still = "" if r <= avail else ", still too large"
        fixes.append(f"re-export with T {t} instead of {model.T} (RAM {r} B, saves {ram - r} B{still})")
    fixes.append("re-export at a smaller width (`edgesnn export` computes the bytes it saves)")
    if ram > avail:
        fixes.append(f"--ram-budget {ram} if the board has that much RAM free for the model")
    return "; ".join([*parts, "to fit: " + "; ".join(fixes)])
