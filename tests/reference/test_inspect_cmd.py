"""`edgesnn inspect`: the graph and sizes of a valid blob; one-line errors naming the field, exit 1."""

from __future__ import annotations

from edgesnn.cli.main import main
from edgesnn.reference import save
from tests.reference.blobs import every_op_model


def test_inspect_prints_ops_buffers_and_flash(tmp_path, capsys):
    path = tmp_path / "m.esnn"
    blob = save(every_op_model(), path)
    assert main(["inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "T=4  classes=3  flags=LAYER_MAJOR|STATIC_INPUT" in out
    assert f"file {len(blob)} bytes" in out and "ok" in out
    assert "k3x3 s2 p1 w4 static" in out and "MA-C n4 h2 >>2" in out and "IAND" in out
    total = out.splitlines()[-1].split()
    assert total[0] == "total" and int(total[2]) + 64 + 8 * 8 + 4 == len(blob)


def test_inspect_reports_a_malformed_blob_in_one_line(tmp_path, capsys):
    path = tmp_path / "bad.esnn"
    blob = save(every_op_model(), path)
    path.write_bytes(blob[:-1])
    assert main(["inspect", str(path)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgesnn: ") and "file_size" in err[0]
    assert main(["inspect", str(tmp_path / "missing.esnn")]) == 1
    assert "cannot read" in capsys.readouterr().err
