"""Per-op tables (STYLE.md item 12): every op type has a rule in each table, and a type without one fails
with an error naming the type and the supported set."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from edgesnn.format import Attn, Conv, Lif, Logic, MaxPool, Readout
from edgesnn.format.registry import OpTable, UnsupportedOp
from edgesnn.reference import interpreter, run
from tests.reference.blobs import every_op_model

FORMAT_OPS = {Attn, Conv, Lif, Logic, MaxPool, Readout}


def test_interpreter_has_a_rule_for_every_format_op():
    assert set(interpreter.OPS.rules) == FORMAT_OPS


def test_missing_op_names_the_type_and_the_supported_set():
    class Mystery:
        pass

    table: OpTable[int] = OpTable("demo")
    table.register(Conv, Lif)(1)
    assert table.of(Conv.__new__(Conv)) == 1 and Lif in table and Mystery not in table
    with pytest.raises(UnsupportedOp, match=r"demo: unsupported op type Mystery; supported: Conv, Lif"):
        table.of(Mystery())
    with pytest.raises(ValueError, match="registered twice"):
        table.register(Conv)(2)


def test_interpreter_rejects_an_unknown_op():
    m = every_op_model()

    class Unknown:
        in0 = 0

    bad = dataclasses.replace(m, ops=(Unknown(), *m.ops[1:]))  # bypasses the loader on purpose
    x = np.zeros((1, m.T, *m.input.shape), np.uint8)
    want = r"reference interpreter: unsupported op type Unknown; supported: Attn, Conv"
    with pytest.raises(UnsupportedOp, match=want):
        interpreter._execute(bad, x, trace=False)
    assert run(m, x[0]).logits.shape == (m.ops[-1].classes,)
