"""When did each shortcut go silent? Read from the per-epoch firing log written by ``edgesnn train``.

A shortcut that is silent in every entry, including the one before the first step, was never on:
"dead from the start" (its IA gate never opened — pre-pruning). One that fired and then stayed at zero
"died at epoch k" (natural pruning as the paper describes it).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgesnn.analysis.monitor import layer_role


@dataclass(frozen=True)
class ShortcutHistory:
    name: str
    rates: tuple[float, ...]  # one per log entry
    epochs: tuple[int, ...]

    @property
    def status(self) -> str:
        if not self.rates or self.rates[-1] > 0:
            return "alive"
        k = len(self.rates)
        while k > 0 and self.rates[k - 1] == 0:
            k -= 1
        return "dead from the start" if k == 0 else f"died at epoch {self.epochs[k]}"


def shortcut_histories(
    firing_log: list[dict], roles: tuple[str, ...] = ("shortcut",)
) -> list[ShortcutHistory]:
    """Histories of every layer with one of ``roles`` (shortcut LIFs by default; add "gate" for IA gates)."""
    if not firing_log:
        return []
    names = [n for n in firing_log[0]["rates"] if layer_role(n) in roles]
    epochs = tuple(int(e["epoch"]) for e in firing_log)
    return [
        ShortcutHistory(n, tuple(float(e["rates"].get(n, 0.0)) for e in firing_log), epochs) for n in names
    ]
