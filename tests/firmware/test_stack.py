"""Worst-case stack of the C runtime on Cortex-M4 (firmware/tools/stack_usage.py: -fstack-usage, the
-fcallgraph-info call graph, inline-asm sp use), held to a budget: a kernel that puts a table on the stack
instead of in the arena's kernel scratch fails here."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "firmware" / "tools" / "stack_usage.py"

# Bytes below the caller's sp, Cortex-M4 -O2 (arm-none-eabi-gcc 12.2: inference 952 B, load 6,640 B at the
# default ESNN_MAX_BUFFERS=256 and 1,472 B at 32; the loader's tables are about 24 B per buffer, 4 of them
# the per-op scratch sizes that took the kernels' scratch out of the arena's fixed part: load-time stack,
# which inference reuses, for arena bytes that stay).
INFERENCE_BUDGET = 1024
LOAD_BUDGET = 7 * 1024
LOAD_BUDGET_32_BUFFERS = 1536


def _tool():
    spec = importlib.util.spec_from_file_location("stack_usage", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["stack_usage"] = mod
    spec.loader.exec_module(mod)
    return mod


su = _tool()
needs_gcc = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="needs arm-none-eabi-gcc")


@pytest.fixture(scope="module")
def default():
    return su.measure()


@needs_gcc
def test_inference_stack_within_budget(default):
    assert default["inference"] <= INFERENCE_BUDGET, default["roots"]["esnn_run"]["path"]


@needs_gcc
def test_load_stack_within_budget(default):
    worst = max(su.LOAD_ROOTS, key=lambda r: default["roots"][r]["bytes"])
    assert default["load"] <= LOAD_BUDGET, default["roots"][worst]["path"]


@needs_gcc
def test_small_ports_shrink_the_load_stack():
    r = su.measure(["ESNN_MAX_BUFFERS=32"])
    assert r["load"] <= LOAD_BUDGET_32_BUFFERS
    assert r["inference"] <= INFERENCE_BUDGET


@needs_gcc
def test_inline_asm_stack_is_counted(default):
    # esnn_lif inlines the int16-plane LIF that copies up to 64 thresholds onto the stack inside its asm
    assert default["frames"]["esnn_lif"]["asm"] >= 128


def test_sp_instructions():
    assert su.sp_delta("push {r4, r5, r6, r7, r8, r9, r10, r11}") == 32
    assert su.sp_delta("push {r0, r2, r3}") == 12
    assert su.sp_delta("pop {r4-r11, pc}") == -36
    assert su.sp_delta("sub sp, sp, #24") == 24 and su.sp_delta("add sp, sp, #24") == -24
    assert su.sp_delta("stm sp, {r1, r2, r3, r12, lr}") == 0
    assert su.sp_delta("ldrd r4, r5, [sp, #16]") == 0
    assert su.sp_delta("str r0, [sp, #-8]!") == 8
    assert su.sp_delta("mov sp, r3") is None


def test_refuses_recursion_and_unknown_frames():
    f = {
        "a": su.Func("a", "a", frame=8, callees={"b"}),
        "b": su.Func("b", "b", frame=8, callees={"a"}),
    }
    with pytest.raises(su.StackError, match="recursion: a -> b -> a"):
        su.worst(f, "a")
    with pytest.raises(su.StackError, match="no stack size"):
        su.worst({"a": su.Func("a", "a", frame=8, callees={"x"})}, "a")


def test_refuses_an_unlisted_indirect_call():
    f = {"k": su.Func("k", "k", frame=8, indirect=["kernels/x.c:1:1"])}
    with pytest.raises(su.StackError, match="unresolved indirect call in k"):
        su.resolve(f, [], "arm-none-eabi-gcc", ROOT)
