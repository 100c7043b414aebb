#!/usr/bin/env python3
"""Worst-case stack of the C runtime on Cortex-M4, from the compiler (static analysis, no execution).

    python firmware/tools/stack_usage.py [--json] [-D ESNN_MAX_BUFFERS=64] [--cc arm-none-eabi-gcc]

Builds every runtime source as `make m4` does (-mcpu=cortex-m4 -mthumb -O2 ..., -Os for the load-time code)
with `-fstack-usage
-fcallgraph-info=su` (GCC >= 10) and `-S`, then walks the call graph from each API entry point:

- a function's frame is its `.su` size (all `static`: no VLAs, no alloca; anything else is refused) plus the
  deepest stack its inline assembly takes (the compiler does not see `push` / `sub sp` inside `asm`): each asm
  region of the `.s` (`@ N "file" 1` .. `@ 0 "" 2`) is simulated instruction by instruction; a region that
  does not give back what it takes, or writes sp in a way not understood, is refused;
- edges: the `.ci` graph, plus every direct `bl` / `b` to a symbol in the `.s` (library calls the compiler
  emits, tail calls);
- indirect calls (`.ci` "__indirect_call", or a `blx` / `bx` to a register) are resolved only through
  INDIRECT_TARGETS below, the explicit list of what each such caller can reach; an unlisted one is refused;
- functions outside the runtime (memset, memmove) are measured from the newlib-nano / libgcc code a probe
  link pulls in (their disassembly: every sp decrement added up, which bounds their depth);
- recursion is refused (the cycle is named).

Reported per entry point: the worst-case bytes below the caller's sp (the caller's own frame excluded) and the
path that reaches it. `inference` the larger of esnn_run and esnn_step (both reach run_segments); `load` the
largest of esnn_init / esnn_init_ex / esnn_validate / esnn_arena_required(_ex) / esnn_arena_unplanned.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FIRMWARE = Path(__file__).resolve().parents[1]
STD = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic"]
M4_FLAGS = ["-mcpu=cortex-m4", "-mthumb", "-O2", "-ffunction-sections", "-fdata-sections"]
# the code that runs once per model is built for size, as the Makefile's M4_LOAD_OBJ and board.mk's LOAD_OBJ
LOAD_SRCS = {"esnn.c", "loader.c", "plan.c"}

INFERENCE_ROOTS = ("esnn_run", "esnn_step")
LOAD_ROOTS = (
    "esnn_init",
    "esnn_init_ex",
    "esnn_validate",
    "esnn_arena_required",
    "esnn_arena_required_ex",
    "esnn_arena_unplanned",
)

# Every indirect call of the runtime, by calling function (name without GCC's .isra / .constprop / .part
# suffixes): the functions it can reach (regular expressions over function names, full match). Keep in step
# with the code; a caller missing here, or a pattern that matches nothing, makes the analysis refuse.
INDIRECT_TARGETS: dict[str, tuple[str, ...]] = {
    # schedule.c exec_op_: (ref ? esnn_<op>_ref : esnn_<op>)(...)
    "exec_op_": (
        r"esnn_conv_u8(_ref)?",
        r"esnn_conv_spike(_ref)?",
        r"esnn_lif(_ref)?",
        r"esnn_maxpool(_ref)?",
        r"esnn_logic(_ref)?",
        r"esnn_readout(_ref)?",
    ),
    # schedule.c run_segments (esnn_run, esnn_step): the ATTN kernel of the chosen set
    "run_segments": (r"esnn_attn(_ref)?",),
    # kernels/attn.c apply32: (gate ? gate_pwN : apply_pwN)(...)
    "apply32": (r"(gate|apply)_(pw4|pw8|pw16|pw32|any)",),
    # kernels/conv.c conv_pixels / pixel_taps: k->so, the spike-outer kernel chosen by cout
    "conv_pixels": (r"esnn_so(16|32|64)_m4",),
    # kernels/conv_m4.c esnn_k3_run: k3_kernels[cout][rows][cols]
    "esnn_k3_run": (r"k3_(8|16|32)_[ftb][flr]",),
}


class StackError(Exception):
    """The analysis cannot give a sound number (recursion, unresolved indirect call, unknown sp use)."""


@dataclass
class Func:
    key: str  # .ci title: "file:sym" for a static function, "sym" for a global one
    sym: str
    file: str = ""
    frame: int | None = None  # .su bytes
    asm_extra: int = 0
    callees: set[str] = field(default_factory=set)
    indirect: list[str] = field(default_factory=list)  # where (file:line) an indirect call happens

    @property
    def total(self) -> int:
        return (self.frame or 0) + self.asm_extra


def base_name(sym: str) -> str:
    return re.sub(r"(\.(isra|constprop|part|cold|lto_priv)\.\d+)+$", "", sym)


_REG_RANGE = re.compile(r"r(\d+)\s*-\s*r(\d+)")


def reglist_count(text: str) -> int:
    inner = text[text.index("{") + 1 : text.index("}")]
    n = 0
    for part in inner.split(","):
        part = part.strip()
        m = _REG_RANGE.fullmatch(part)
        n += int(m.group(2)) - int(m.group(1)) + 1 if m else 1
    return n


def sp_delta(ins: str) -> int | None:
    """Bytes an instruction takes from the stack (+) or gives back (-); 0 when it leaves sp alone; None when
    it writes sp in a way this analysis does not model."""
    ins = ins.split("@")[0].strip().lower()
    if not ins:
        return 0
    mnem, _, ops = ins.partition(" ")
    mnem = mnem.split(".")[0]
    ops = ops.replace("\t", " ").strip()
    op0 = ops.split(",")[0].strip()
    if mnem == "push" or (mnem in ("stmdb", "stmfd") and op0 == "sp!"):
        return 4 * reglist_count(ops)
    if mnem == "pop" or (mnem in ("ldm", "ldmia", "ldmfd") and op0 == "sp!"):
        return -4 * reglist_count(ops)
    m = re.fullmatch(r"(sub|add)s?w?\s+sp\s*,\s*(?:sp\s*,\s*)?#(-?\d+)", f"{mnem} {ops}")
    if m:
        n = int(m.group(2))
        return n if m.group(1) == "sub" else -n
    m = re.search(r"\[sp\s*,\s*#(-?\d+)\]!", ops)  # pre-indexed writeback
    if m:
        return -int(m.group(1))
    m = re.search(r"\[sp\]\s*,\s*#(-?\d+)", ops)  # post-indexed
    if m:
        return -int(m.group(1))
    if mnem[:3] in ("ldm", "stm") and op0 == "sp":  # no writeback
        return 0
    if mnem[:3] in ("str", "ldr", "vst", "vld", "cmp") or mnem in ("tst", "teq", "cmn"):
        return 0 if "sp!" not in ops else None
    if op0 in ("sp", "sp!") or "sp!" in ops:
        return None
    return 0


def parse_asm(path: Path, src: str, funcs: dict[str, Func], ci_keys: set[str]) -> None:
    """Function bodies of one .s: inline-asm stack, direct calls, indirect branches."""
    cur: Func | None = None
    in_asm = False
    depth = peak = 0
    region_line = ""

    def key_of(sym: str) -> str:
        return f"{src}:{sym}" if f"{src}:{sym}" in ci_keys else sym

    for raw in path.read_text().splitlines():
        line = raw.strip()
        m = re.match(r"\.type\s+([\w.$]+),\s*%function", line)
        if m:
            k = key_of(m.group(1))
            cur = funcs.setdefault(k, Func(k, m.group(1), src))
            continue
        if cur is None:
            continue
        if line.startswith(".size") and cur.sym in line:
            cur = None
            continue
        m = re.match(r'@ (\d+) "([^"]*)" 1$', line)
        if m:
            in_asm, depth, peak, region_line = True, 0, 0, f"{m.group(2)}:{m.group(1)}"
            continue
        if line == '@ 0 "" 2':
            if depth != 0:
                raise StackError(f"{cur.sym}: inline asm at {region_line} leaves sp moved by {depth} bytes")
            cur.asm_extra = max(cur.asm_extra, peak)
            in_asm = False
            continue
        if not line or line.startswith((".", "@")) or line.endswith(":"):
            continue
        if in_asm:
            for ins in line.split(";"):
                d = sp_delta(ins)
                if d is None:
                    raise StackError(f"{cur.sym}: inline asm at {region_line} writes sp: {ins.strip()!r}")
                depth += d
                peak = max(peak, depth)
            if re.match(r"(bl|blx)\s", line):
                raise StackError(f"{cur.sym}: inline asm at {region_line} calls out: {line!r}")
            continue
        if re.match(r"(blx|bx)\s+(r\d+|ip)$", line):
            cur.indirect.append(f"{src} ({line})")
            continue
        m = re.match(
            r"(bl|b|b\.w|b(?:eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)(?:\.w)?)\s+([A-Za-z_][\w.$]*)$",
            line,
        )
        if m and not m.group(2).startswith(".L") and m.group(2) not in ("lr", "ip", "sp"):
            cur.callees.add(key_of(m.group(2)))


def parse_ci(path: Path, funcs: dict[str, Func], ci_keys: set[str]) -> None:
    text = path.read_text()
    for m in re.finditer(r'node: \{ title: "([^"]+)" label: "([^"]*)"', text):
        key, label = m.group(1), m.group(2)
        sz = re.search(r"\\n(\d+) bytes \((\w+(?:,\w+)*)\)", label)
        if not sz:
            continue  # a declaration only (defined elsewhere)
        if sz.group(2) != "static":
            raise StackError(f"{key}: stack usage '{sz.group(2)}' (not a fixed frame)")
        f = funcs.setdefault(key, Func(key, key.rsplit(":", 1)[-1]))
        f.frame = int(sz.group(1))
        ci_keys.add(key)
    for m in re.finditer(r'edge: \{ sourcename: "([^"]+)" targetname: "([^"]+)" label: "([^"]*)"', text):
        src, dst, where = m.groups()
        f = funcs.setdefault(src, Func(src, src.rsplit(":", 1)[-1]))
        if dst == "__indirect_call":
            f.indirect.append(where)
        else:
            f.callees.add(dst)


def library_frames(
    objs: list[Path], cc: str, work: Path, names: set[str]
) -> dict[str, tuple[int, set[str], str]]:
    """Stack bytes (every sp decrement added up) and calls of library functions, from a probe link."""
    if not names:
        return {}
    elf = work / "probe.elf"
    undef = [f"-Wl,-u,{n}" for n in sorted(names)]
    subprocess.run(
        [cc, *M4_FLAGS[:2], "--specs=nano.specs", "-nostartfiles", "-Wl,-e,esnn_run", "-Wl,--gc-sections",
         *undef, "-o", str(elf), *map(str, objs)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    objdump = cc[: -len("gcc")] + "objdump" if cc.endswith("gcc") else "arm-none-eabi-objdump"
    dis = subprocess.run([objdump, "-d", str(elf)], check=True, capture_output=True, text=True).stdout
    out: dict[str, tuple[int, set[str], str]] = {}  # bytes, calls, why it cannot be measured
    cur = None
    for line in dis.splitlines():
        m = re.match(r"[0-9a-f]+ <([\w.$]+)>:", line)
        if m:
            cur = m.group(1)
            out[cur] = (0, set(), "")
            continue
        parts = line.split("\t")
        if cur is None or len(parts) < 3:
            continue
        ins = " ".join(p.strip() for p in parts[2:])
        d = sp_delta(ins)
        n, calls, err = out[cur]
        if d is None:
            err, d = err or f"writes sp: {ins!r}", 0
        c = re.match(r"(bl|blx)\s+[0-9a-f]+ <([\w.$]+)>", ins)
        if c:
            calls.add(c.group(2))
        elif re.match(r"blx\s+r", ins):
            err = err or f"indirect call {ins!r}"
        out[cur] = (n + max(d, 0), calls, err)
    return out


def compile_runtime(work: Path, cc: str, defines: list[str]) -> tuple[dict[str, Func], list[Path]]:
    funcs: dict[str, Func] = {}
    ci_keys: set[str] = set()
    srcs = [
        *(p.relative_to(FIRMWARE) for p in sorted((FIRMWARE / "runtime").glob("*.c"))),
        *(p.relative_to(FIRMWARE) for p in sorted((FIRMWARE / "runtime/kernels").glob("*.c"))),
    ]
    objs, asms = [], []
    for src in srcs:
        stem = work / src.stem
        level = ["-Os"] if src.name in LOAD_SRCS else []  # after -O2: the last -O wins
        base = [cc, *STD, *M4_FLAGS, *level, *[f"-D{d}" for d in defines]]
        subprocess.run(
            [*base, "-fstack-usage", "-fcallgraph-info=su", "-S", "-o", f"{stem}.s", str(src)],
            check=True,
            cwd=FIRMWARE,
            capture_output=True,
            text=True,
        )
        subprocess.run(
            [*base, "-c", "-o", f"{stem}.o", str(src)], check=True, cwd=FIRMWARE, capture_output=True
        )
        objs.append(stem.with_suffix(".o"))
        asms.append((stem.with_suffix(".s"), str(src)))
        parse_ci(stem.with_suffix(".ci"), funcs, ci_keys)
    for path, src in asms:
        parse_asm(path, src, funcs, ci_keys)
    return funcs, objs


def resolve(funcs: dict[str, Func], objs: list[Path], cc: str, work: Path) -> None:
    by_base: dict[str, list[str]] = {}
    for k, f in funcs.items():
        if f.frame is not None:
            by_base.setdefault(base_name(f.sym), []).append(k)
    used_patterns: set[tuple[str, str]] = set()
    for f in list(funcs.values()):
        if not f.indirect:
            continue
        pats = INDIRECT_TARGETS.get(base_name(f.sym))
        if pats is None:
            raise StackError(f"unresolved indirect call in {f.sym} at {', '.join(sorted(set(f.indirect)))}: "
                             "list its possible targets in INDIRECT_TARGETS")  # fmt: skip
        for p in pats:
            hits = [k for b, ks in by_base.items() if re.fullmatch(p, b) for k in ks]
            if not hits:
                raise StackError(f"INDIRECT_TARGETS[{base_name(f.sym)!r}]: {p!r} matches no function")
            used_patterns.add((base_name(f.sym), p))
            f.callees.update(hits)
    # callees that are only declared here: defined in another unit (by global name) or in the C library
    missing = set()
    for f in funcs.values():
        for c in f.callees:
            if c not in funcs or funcs[c].frame is None:
                missing.add(c)
    lib = library_frames(objs, cc, work, missing)
    pending = list(missing)
    while pending:
        name = pending.pop()
        if name in funcs and funcs[name].frame is not None:
            continue
        if name not in lib:
            raise StackError(f"no stack size for {name} (neither in the runtime nor in the linked libraries)")
        n, calls, err = lib[name]
        if err:
            raise StackError(f"library function {name}: {err}")
        funcs[name] = Func(name, name, "<library>", frame=n, callees=set(calls))
        pending.extend(c for c in calls if c not in funcs)


def worst(funcs: dict[str, Func], root: str) -> tuple[int, list[str]]:
    memo: dict[str, tuple[int, list[str]]] = {}
    stack: list[str] = []

    def go(k: str) -> tuple[int, list[str]]:
        if k in memo:
            return memo[k]
        if k in stack:
            cyc = [*stack[stack.index(k) :], k]
            raise StackError("recursion: " + " -> ".join(funcs[c].sym for c in cyc))
        f = funcs.get(k)
        if f is None or f.frame is None:
            raise StackError(f"no stack size for {k}")
        stack.append(k)
        best, path = 0, []
        for c in sorted(f.callees):
            n, p = go(c)
            if n > best:
                best, path = n, p
        stack.pop()
        memo[k] = (f.total + best, [k, *path])
        return memo[k]

    return go(root)


def _step(f: Func) -> str:
    return f"{f.sym} ({f.frame}{f' + asm {f.asm_extra}' if f.asm_extra else ''})"


def measure(defines: list[str] | None = None, cc: str = "arm-none-eabi-gcc") -> dict:
    """{"inference": bytes, "load": bytes, "roots": {name: {"bytes", "path"}}, ...}; raises StackError."""
    if shutil.which(cc) is None:
        raise FileNotFoundError(cc)
    ver = subprocess.run([cc, "-dumpversion"], check=True, capture_output=True, text=True).stdout.strip()
    if int(ver.split(".")[0]) < 10:
        raise StackError(f"{cc} {ver}: -fcallgraph-info needs GCC 10 or later")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        funcs, objs = compile_runtime(work, cc, defines or [])
        resolve(funcs, objs, cc, work)
    roots = {}
    for r in INFERENCE_ROOTS + LOAD_ROOTS:
        n, path = worst(funcs, r)
        roots[r] = {"bytes": n, "path": [_step(funcs[k]) for k in path]}
    frames = {
        f.sym: {"frame": f.frame, "asm": f.asm_extra}
        for f in sorted(funcs.values(), key=lambda f: -f.total)
        if f.frame is not None and f.file != "<library>"
    }
    return {
        "compiler": f"{cc} {ver}",
        "flags": " ".join(M4_FLAGS + [f"-D{d}" for d in defines or []]),
        "inference": max(roots[r]["bytes"] for r in INFERENCE_ROOTS),
        "load": max(roots[r]["bytes"] for r in LOAD_ROOTS),
        "roots": roots,
        "frames": frames,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "-D", dest="defines", action="append", default=[], help="extra define, e.g. ESNN_MAX_BUFFERS=64"
    )
    ap.add_argument("--cc", default="arm-none-eabi-gcc")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--frames", type=int, default=8, help="largest frames to list (text output)")
    a = ap.parse_args(argv)
    try:
        r = measure(a.defines, a.cc)
    except StackError as e:
        print(f"stack_usage: refused: {e}", file=sys.stderr)
        return 2
    if a.json:
        print(json.dumps(r, indent=1))
        return 0
    print(f"Cortex-M4 worst-case stack ({r['compiler']}; {r['flags']})")
    print(f"  inference (esnn_run, esnn_step): {r['inference']} B")
    print(f"  load (esnn_init & co): {r['load']} B")
    for name, v in r["roots"].items():
        print(f"  {name:24s} {v['bytes']:6d} B  " + " > ".join(v["path"]))
    print("  largest frames (.su + inline asm):")
    for sym, v in list(r["frames"].items())[: a.frames]:
        print(f"    {sym:32s} {v['frame']:6d}" + (f" + {v['asm']}" if v["asm"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
