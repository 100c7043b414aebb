"""Per-op tables: one rule per op type in a dict, instead of an `isinstance` chain (STYLE.md item 12).

Each consumer of ops (the reference interpreter, the ONNX step builder, the exporter's passes) keeps an
`OpTable` from op type to its rule; a type with no rule raises `UnsupportedOp` naming the type and the
supported set, so adding an op shows every table that still lacks it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

R = TypeVar("R")
F = TypeVar("F")


class UnsupportedOp(TypeError):
    """An op type has no rule in a table; the message names the table, the type and the supported types."""


class OpTable(Generic[R]):
    """`dict[type, rule]` with a lookup that names what is missing. Subclasses find their base's rule."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.rules: dict[type, R] = {}

    def register(self, *types: type) -> Callable[[F], F]:
        """Decorator: the function is the rule for each of `types` (a type registered twice is an error)."""

        def add(rule: F) -> F:
            for t in types:
                if t in self.rules:
                    raise ValueError(f"{self.what}: {t.__name__} registered twice")
                self.rules[t] = rule  # type: ignore[assignment]
            return rule

        return add

    def supported(self) -> list[str]:
        return sorted(t.__name__ for t in self.rules)

    def __contains__(self, op_type: object) -> bool:
        return isinstance(op_type, type) and self.get(op_type) is not None

    def get(self, op_type: type) -> R | None:
        """The rule for `op_type` (or a base of it), None when it has none."""
        for t in op_type.__mro__:
            rule = self.rules.get(t)
            if rule is not None:
                return rule
        return None

    def of(self, op: object) -> R:
        """The rule for `op` (an instance) or raise `UnsupportedOp`."""
        return self.for_type(type(op))

    def for_type(self, op_type: type) -> R:
        rule = self.get(op_type)
        if rule is not None:
            return rule
        raise UnsupportedOp(
            f"{self.what}: unsupported op type {op_type.__name__}; supported: {', '.join(self.supported())}"
        )
