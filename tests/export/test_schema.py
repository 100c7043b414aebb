"""export/schema.toml is the one source of the `.esnn` byte layout: the files generated from it are current
(C header, Python layout, MicroPython constants, FORMAT.md tables), the generator refuses an inconsistent
schema, and its offsets, record sizes and ranges agree with what the three hand-written loaders do."""

from __future__ import annotations

import copy
import importlib.util
import shutil
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from edgesnn.format import layout_gen as gen_py
from edgesnn.format.layout import FIELDS, Field, Opcode, record_size
from edgesnn.reference import BlobError, load
from edgesnn.runtime.c import CRuntime, CRuntimeUnavailable
from edgesnn.runtime.micropython import RUNTIME_DIR
from tests.reference.blobs import every_op_model
from tests.reference.test_malformed import BLOB, with_crc

ROOT = Path(__file__).resolve().parents[2]
VECTORS = sorted((ROOT / "export" / "vectors" / "v1").glob("*/model.esnn"))
TYPE_FORMATS = {"u8": "B", "u16": "H", "u32": "I"}
TYPE_MAX = {"u8": 0xFF, "u16": 0xFFFF, "u32": 0xFFFFFFFF}


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_format", ROOT / "export" / "gen_format.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_format", module)
    spec.loader.exec_module(module)
    return module


GEN = _generator()


def test_generated_files_are_current():
    """nanopb's generator/runtime guard: a hand edit or a schema edit without regenerating fails here."""
    generated = GEN.generate(ROOT)
    assert set(generated) == {GEN.C_HEADER, GEN.PY_LAYOUT, GEN.MP_LAYOUT, GEN.FORMAT_MD}
    for rel, text in generated.items():
        committed = (ROOT / rel).read_text()
        assert committed == text, f"{rel} is stale: run `{GEN.COMMAND}` and review the diff"


def test_a_stale_file_is_named(tmp_path: Path):
    """Regenerated into a scratch tree: identical files pass; an edited file (or a schema edit) is named."""
    for rel in (*GEN.generate(ROOT), "export/schema.toml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / rel, tmp_path / rel)
    assert GEN.stale(tmp_path) == []
    header = tmp_path / GEN.C_HEADER
    header.write_text(
        header.read_text().replace("#define ESNN_CONV_KH_MAX 15u", "#define ESNN_CONV_KH_MAX 16u")
    )
    assert GEN.stale(tmp_path) == [GEN.C_HEADER]
    schema = tmp_path / "export" / "schema.toml"
    schema.write_text(
        schema.read_text().replace(
            'name = "kh", min = 1, max = 15, rule = "1..15"', 'name = "kh", min = 1, max = 14, rule = "1..14"'
        )
    )
    assert sorted(GEN.stale(tmp_path)) == sorted(
        [GEN.C_HEADER, GEN.PY_LAYOUT, GEN.FORMAT_MD]
    )  # not MicroPython's


def test_generator_refuses_an_inconsistent_schema():
    schema = GEN.load_schema()
    cases = []
    gap = copy.deepcopy(schema)
    gap["records"]["CONV"]["fields"][2]["offset"] += 1  # kh at 17: overlaps kw
    cases.append((gap, "offset"))
    size = copy.deepcopy(schema)
    size["records"]["LIF"]["size"] = 28
    cases.append((size, "fields end at 24"))
    rule = copy.deepcopy(schema)
    rule["records"]["MAXPOOL"]["fields"][0]["max"] = 16  # the rule text still says 1..15
    cases.append((rule, "1..16"))
    enum = copy.deepcopy(schema)
    enum["enums"]["LogicMode"]["members"].append({"name": "XOR", "value": 3})
    cases.append((enum, "3 XOR"))
    opcode = copy.deepcopy(schema)
    opcode["records"]["READOUT"]["opcode"] = 7
    cases.append((opcode, "opcode 7"))
    for bad, message in cases:
        with pytest.raises(GEN.SchemaError, match=message):
            GEN.check_schema(bad)


def test_record_sizes_and_formats_agree_with_the_python_layout():
    schema = GEN.load_schema()
    for name, rec in GEN.op_records(schema):
        op = Opcode[name]
        assert rec["opcode"] == op.value
        assert record_size(op) == rec["size"] == gen_py.RECORD_BYTES[op]
        assert (
            struct.calcsize(gen_py.OP_HEADER_FORMAT) + struct.calcsize(gen_py.PARAM_FORMATS[op])
            == rec["size"]
        )
    assert struct.calcsize(gen_py.HEADER_FORMAT) == schema["records"]["header"]["size"] == 64
    assert struct.calcsize(gen_py.BUFFER_FORMAT) == schema["records"]["buffer"]["size"] == 8


def _read(blob: bytes, pos: int, field: Field) -> int:
    return struct.unpack_from("<" + TYPE_FORMATS[field.type], blob, pos + field.offset)[0]


def _field(record: str, name: str) -> Field:
    return next(f for f in FIELDS[record] if f.name == name)


def _ops(blob: bytes) -> Iterator[tuple[int, int]]:
    """(position, opcode) of every op record, walked with the schema's offsets and the records' sizes."""
    hdr = FIELDS["header"]
    pos = _read(blob, 0, next(f for f in hdr if f.name == "ops_offset"))
    for _ in range(_read(blob, 0, next(f for f in hdr if f.name == "num_ops"))):
        opcode = _read(blob, pos, _field("op", "opcode"))
        yield pos, opcode
        pos += _read(blob, pos, _field("op", "size"))


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.parent.name)
def test_every_vector_reads_the_same_through_the_schema(path: Path):
    """The schema's offsets read what the Python loader decodes, and every record has its schema size."""
    blob = path.read_bytes()
    model = load(blob)
    hdr = {f.name: _read(blob, 0, f) for f in FIELDS["header"] if f.type in TYPE_FORMATS}
    assert (hdr["T"], hdr["num_classes"]) == (model.T, model.num_classes)
    assert (hdr["num_buffers"], hdr["num_ops"]) == (len(model.buffers), len(model.ops))
    assert (hdr["version_major"], hdr["version_minor"]) == (gen_py.VERSION_MAJOR, gen_py.VERSION_MINOR)
    for i, buf in enumerate(model.buffers):
        pos = gen_py.HEADER_SIZE + struct.calcsize(gen_py.BUFFER_FORMAT) * i
        got = [_read(blob, pos, _field("buffer", n)) for n in ("kind", "channels", "height", "width")]
        assert got == [buf.kind, *buf.shape]
    ops = list(_ops(blob))
    assert [opcode for _, opcode in ops] == [op.opcode for op in model.ops]
    for pos, opcode in ops:
        assert _read(blob, pos, _field("op", "size")) == gen_py.RECORD_BYTES[Opcode(opcode)]


# ---- every static range, enum, value set and reserved field of the schema is enforced by every loader ------


def _bad_values(f: Field) -> list[int]:
    """Values the schema forbids for `f` that its type can hold."""
    out: list[int] = []
    if f.lo is not None and f.hi is not None:
        out += [v for v in (f.lo - 1, f.hi + 1) if 0 <= v <= TYPE_MAX[f.type]]
    if f.values:
        out.append(max(f.values) + 1)
    if f.enum:
        out.append(max(m.value for m in getattr(gen_py, f.enum)) + 1)
    if f.zero:
        out.append(1)
    return out


def _cases() -> list[tuple[str, str, int, int, str]]:
    """(id, field name, absolute offset, value, struct code) for every forbidden value of every field."""
    blob = BLOB
    model = every_op_model()
    starts = {"header": 0, "buffer": gen_py.HEADER_SIZE + struct.calcsize(gen_py.BUFFER_FORMAT)}  # buffer 1
    first_op = next(_ops(blob))[0]
    starts["op"] = first_op
    for pos, opcode in _ops(blob):
        starts.setdefault(Opcode(opcode).name, pos)
    assert {op.opcode.name for op in model.ops} == {op.name for op in Opcode}, "every_op_model lost an op"
    cases = []
    for record, fields in FIELDS.items():
        for f in fields:
            code = TYPE_FORMATS.get(f.type, "B")  # u8[N]: its first byte
            for v in _bad_values(f):
                cases.append((f"{record}.{f.name}={v}", f.name, starts[record] + f.offset, v, code))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def c_runtime() -> CRuntime | None:
    try:
        return CRuntime()
    except CRuntimeUnavailable:
        return None


@pytest.fixture(scope="module")
def mp_blob() -> Iterator[ModuleType]:
    """devices/micropython/esnn_blob.py (it runs on CPython too) with its generated esnn_format."""
    sys.path.insert(0, str(RUNTIME_DIR))
    try:
        import esnn_blob  # type: ignore[import-not-found]

        yield esnn_blob
    finally:
        sys.path.remove(str(RUNTIME_DIR))


def test_range_cases_cover_the_schema():
    names = {c[0].split("=")[0] for c in CASES}
    for must in (
        "header.T",
        "buffer.channels",
        "op.opcode",
        "CONV.kh",
        "LIF.leak_mul",
        "ATTN.dim",
        "LOGIC.mode",
    ):
        assert must in names
    assert len(CASES) > 40


@pytest.mark.parametrize(
    ("name", "offset", "value", "code"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_every_loader_rejects_what_the_schema_forbids(name, offset, value, code, c_runtime, mp_blob):
    b = bytearray(BLOB)
    struct.pack_into("<" + code, b, offset, value)
    blob = with_crc(bytes(b))
    assert zlib.crc32(blob[:-4]) & 0xFFFFFFFF == struct.unpack_from("<I", blob, len(blob) - 4)[0]
    with pytest.raises(BlobError, match=name):
        load(blob)
    with pytest.raises(mp_blob.BlobError, match=name):
        mp_blob.parse(blob)
    if c_runtime is not None:
        v = c_runtime.validate(blob)
        assert not v.ok and name in v.field, (v.status, v.field)
