"""Dataset loaders: real digits / Fashion-MNIST, and IDX / CIFAR-10 readers on small fake files incl. corrupt ones."""

import gzip
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from bitscale.errors import UserError
from bitscale.nn import data as nndata


def _idx(arr: np.ndarray) -> bytes:
    return bytes([0, 0, 8, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()


def _write_mnist(d: Path, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }
    for name, a in arrays.items():
        raw = _idx(a)
        (d / (name + ".gz")).write_bytes(gzip.compress(raw)) if gz else (d / name).write_bytes(raw)
    return arrays


@pytest.fixture(autouse=True)
def _no_cache():
    nndata._CACHE.clear()
    yield
    nndata._CACHE.clear()


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip_and_shapes(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    ds = nndata.load_dataset("mnist", tmp_path)
    assert ds.train_x.shape == (12, 28, 28, 1) and ds.train_x.dtype == np.uint8
    assert np.array_equal(ds.train_x[..., 0], arrays["train-images-idx3-ubyte"])
    assert np.array_equal(ds.test_y, arrays["t10k-labels-idx1-ubyte"].astype(np.int64))
    assert ds.test_y.dtype == np.int64
    flat = nndata.load_dataset("mnist", tmp_path, (784,))
    assert flat.train_x.shape == (12, 784)
    padded = nndata.load_dataset("mnist", tmp_path, (32, 32, 1))
    assert padded.test_x.shape == (5, 32, 32, 1)
    assert np.array_equal(padded.test_x[:, 2:30, 2:30], ds.test_x)
    assert padded.test_x[:, :2].max(initial=0) == 0 and padded.test_x[:, 30:].max(initial=0) == 0


@pytest.mark.parametrize(
    "damage,expect",
    [
        ("truncate", "header says"),
        ("magic", "not a 3-d uint8 IDX file"),
        ("gzip", "corrupt data file"),
        ("missing", "missing data file"),
        ("labels", "labels for"),
    ],
)
def test_corrupt_idx_is_named(tmp_path, damage, expect):
    _write_mnist(tmp_path)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    raw = gzip.decompress(p.read_bytes())
    if damage == "truncate":
        p.write_bytes(gzip.compress(raw[:-7]))
    elif damage == "magic":
        p.write_bytes(gzip.compress(b"\0\0\x08\x02" + raw[4:]))
    elif damage == "gzip":
        p.write_bytes(p.read_bytes()[:40])
    elif damage == "missing":
        p.unlink()
    elif damage == "labels":
        lp = tmp_path / "train-labels-idx1-ubyte.gz"
        lp.write_bytes(gzip.compress(_idx(np.zeros(11, np.uint8))))
    with pytest.raises(UserError) as e:
        nndata.load_dataset("mnist", tmp_path)
    assert expect in str(e.value)
    assert "train-" in str(e.value)


def _write_cifar(d: Path, n=4, seed=0):
    rng = np.random.default_rng(seed)
    d.mkdir(parents=True, exist_ok=True)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        x = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        y = [int(v) for v in rng.integers(0, 10, n)]
        # the real format: a python-2-era dict with bytes keys, data (N, 3072) CHW row-major
        doc = {b"batch_label": name.encode(), b"labels": y, b"data": x, b"filenames": [b"a.png"] * n}
        with open(d / name, "wb") as f:
            pickle.dump(doc, f, protocol=2)
        batches[name] = (x, y)
    return batches


def test_cifar_loader_hwc(tmp_path):
    batches = _write_cifar(tmp_path)
    ds = nndata.load_dataset("cifar10", tmp_path)
    assert ds.train_x.shape == (20, 32, 32, 3) and ds.test_x.shape == (4, 32, 32, 3)
    x, y = batches["data_batch_2"]
    img = x[1].reshape(3, 32, 32)
    assert np.array_equal(ds.train_x[5], img.transpose(1, 2, 0))  # HWC: pixel (r, c) = channels
    assert ds.train_x[5, 3, 7, 2] == x[1][2 * 1024 + 3 * 32 + 7]
    assert list(ds.test_y) == batches["test_batch"][1]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


@pytest.mark.parametrize("damage", ["missing", "garbage", "shape", "evil"])
def test_corrupt_cifar_is_named(tmp_path, damage):
    _write_cifar(tmp_path)
    p = tmp_path / "data_batch_3"
    if damage == "missing":
        p.unlink()
    elif damage == "garbage":
        p.write_bytes(b"not a pickle at all")
    elif damage == "shape":
        with open(p, "wb") as f:
            pickle.dump({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, f, protocol=2)
    else:
        with open(p, "wb") as f:
            pickle.dump({b"data": _Evil(), b"labels": [0]}, f, protocol=2)
    with pytest.raises(UserError) as e:
        nndata.load_dataset("cifar10", tmp_path)
    assert "data_batch_3" in str(e.value)


def test_digits_mapping_and_split():
    from sklearn.datasets import load_digits

    ds = nndata.load_dataset("digits")
    assert ds.train_x.shape == (1437, 8, 8, 1) and ds.test_x.shape == (360, 8, 8, 1)
    raw = load_digits().images
    vals = set(np.unique(np.round(raw * 255 / 16)).astype(int))
    assert set(np.unique(ds.train_x)) <= vals and ds.train_x.max() == 255
    assert np.bincount(ds.test_y).min() >= 35  # stratified
    again = nndata.load_dataset("digits", input_shape=(32, 32, 1))
    assert again.test_x.shape == (360, 32, 32, 1)
    assert np.array_equal(again.test_x[:, ::4, ::4], ds.test_x)  # 4x nearest upsampling
    assert np.array_equal(again.test_x[:, 3::4, 1::4], ds.test_x)


@pytest.mark.skipif(not Path(nndata.FASHION_DIR).is_dir(), reason="dataset-fashion-mnist not installed")
def test_real_fashion_mnist():
    ds = nndata.load_dataset("fashion-mnist", input_shape=(784,))
    assert ds.train_x.shape == (60000, 784) and ds.test_x.shape == (10000, 784)
    assert np.bincount(ds.test_y).tolist() == [1000] * 10


def test_unknown_and_missing_dir(tmp_path):
    with pytest.raises(UserError, match="unknown dataset 'nope'"):
        nndata.load_dataset("nope")
    with pytest.raises(UserError, match="needs --data-dir"):
        nndata.load_dataset("mnist")
    with pytest.raises(UserError, match=str(tmp_path / "absent")):
        nndata.load_dataset("cifar10", tmp_path / "absent")
