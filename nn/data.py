"""Datasets, read from local files only (never downloaded).

* ``digits``: scikit-learn's bundled 8x8 digits; pixel values 0..16 are mapped to
  uint8 as ``round(v * 255 / 16)``; a fixed stratified 80/20 split (seed 0).
* ``fashion-mnist``: IDX files (``.gz`` or raw) from ``/usr/share/datasets/fashion-mnist/``
  (Debian ``dataset-fashion-mnist``) or ``data_dir``.
* ``mnist``: any directory of MNIST-format IDX files (``data_dir`` required).
* ``cifar10``: the python pickle batches ``data_batch_1..5`` + ``test_batch`` from ``data_dir``.

Guaranteed: ``x`` arrays are uint8 HWC shaped ``(N, *input_shape)``, ``y`` int64; a
missing or corrupt file raises :class:`~bitscale.errors.UserError` naming the file.
Shape conversion: a flat ``input_shape`` flattens HWC; ``(32, 32, C)`` zero-pads a
28x28 image by 2 on each side and upsamples an 8x8 image 4x (nearest).
"""

from __future__ import annotations

import gzip
import io
import math
import pickle
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bitscale.errors import UserError, read_json

# names, shapes and classes: the torch-free catalog (re-exported here)
from bitscale.nn.catalog import DATASETS, NATIVE_SHAPES, NUM_CLASSES, input_shape_for  # noqa: F401
from bitscale.nn.catalog import check_dataset as check_name

FASHION_DIR = "/usr/share/datasets/fashion-mnist/"


@dataclass(frozen=True)
class Dataset:
    name: str
    train_x: np.ndarray
    train_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train_x.shape[1:])


# --- digits -------------------------------------------------------------------------


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data, target = load_digits(return_X_y=True)
    x = np.round(data.reshape(-1, 8, 8).astype(np.float64) * 255.0 / 16.0).astype(np.uint8)[..., None]
    y = target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.2, random_state=0, stratify=y)
    return xtr, ytr, xte, yte


# --- IDX (MNIST format) ----------------------------------------------------------------

_IDX_NAMES = {
    "train_x": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_y": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_x": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_y": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def _find(d: Path, stems) -> Path:
    for s in stems:
        for cand in (d / s, d / (s + ".gz")):
            if cand.is_file():
                return cand
    raise UserError(f"missing data file {d / (stems[0] + '.gz')} (or {stems[0]} without .gz)")


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """Read one uint8 IDX file (gzipped or raw) with ``ndim`` dimensions."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, gzip.BadGzipFile) as e:
        raise UserError(f"corrupt data file {path}: {e}") from None
    if len(raw) < 4 + 4 * ndim:
        raise UserError(f"corrupt data file {path}: too short for an IDX header")
    zero, dtype, nd = raw[0:2], raw[2], raw[3]
    if zero != b"\0\0" or dtype != 0x08 or nd != ndim:
        raise UserError(
            f"corrupt data file {path}: not a {ndim}-d uint8 IDX file "
            f"(magic {raw[:4].hex()}, expected 000008{ndim:02x})"
        )
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    n = math.prod(dims)
    body = raw[4 + 4 * ndim :]
    if len(body) != n:
        raise UserError(f"corrupt data file {path}: header says {n} bytes of data, found {len(body)}")
    return np.frombuffer(body, dtype=np.uint8).reshape(dims).copy()


def _idx_dir(d: Path, name: str):
    if not d.is_dir():
        raise UserError(f"data directory {d} for {name} does not exist")
    out = {}
    for key, stems in _IDX_NAMES.items():
        p = _find(d, stems)
        out[key] = read_idx(p, 3 if key.endswith("x") else 1)
        out[key + "_path"] = p
    for split in ("train", "test"):
        x, y = out[f"{split}_x"], out[f"{split}_y"]
        if len(x) != len(y):
            raise UserError(f"corrupt data file {out[split + '_y_path']}: {len(y)} labels for {len(x)} images")
        if y.size and y.max() >= 10:
            raise UserError(f"corrupt data file {out[split + '_y_path']}: label {int(y.max())} is not 0..9")
    return (
        out["train_x"][..., None],
        out["train_y"].astype(np.int64),
        out["test_x"][..., None],
        out["test_y"].astype(np.int64),
    )


# --- CIFAR-10 python batches -------------------------------------------------------------


class _SafeUnpickler(pickle.Unpickler):
    """Only the numpy pieces a CIFAR batch needs; anything else is refused."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self.ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> (x uint8 (N, 32, 32, 3) HWC, y int64)."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"missing data file {path}")
    try:
        d = _SafeUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
        data = np.asarray(d[b"data"] if b"data" in d else d["data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"] if b"labels" in d else d["labels"], dtype=np.int64)
    except Exception as e:  # noqa: BLE001 - any failure to parse means a corrupt file
        raise UserError(f"corrupt data file {path}: {type(e).__name__}: {e}") from None
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise UserError(
            f"corrupt data file {path}: expected (N, 3072) data and N labels, got {data.shape} and {labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise UserError(f"corrupt data file {path}: labels outside 0..9")
    x = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return x, labels


def _cifar(d: Path):
    if not d.is_dir():
        raise UserError(f"data directory {d} for cifar10 does not exist")
    parts = [read_cifar_batch(d / f"data_batch_{i}") for i in range(1, 6)]
    xte, yte = read_cifar_batch(d / "test_batch")
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]), xte, yte)


# --- shapes ---------------------------------------------------------------------------


def convert(x: np.ndarray, input_shape) -> np.ndarray:
    """Native HWC uint8 images -> ``(N, *input_shape)`` (flatten, pad 28->32, upsample 8->32)."""
    input_shape = tuple(input_shape)
    native = tuple(x.shape[1:])
    if input_shape == native:
        return x
    if len(input_shape) == 1 and input_shape[0] == math.prod(native):
        return x.reshape(len(x), -1)
    if len(input_shape) == 3 and input_shape[2] == native[2]:
        h, w = native[:2]
        th, tw = input_shape[:2]
        if th >= h and tw >= w and th % h == 0 and tw % w == 0 and (th // h) * (tw // w) > 1 and h <= 8:
            return np.repeat(np.repeat(x, th // h, axis=1), tw // w, axis=2)
        if th >= h and tw >= w:
            py, px = (th - h) // 2, (tw - w) // 2
            return np.pad(x, ((0, 0), (py, th - h - py), (px, tw - w - px), (0, 0)))
    raise UserError(f"cannot convert {native} images to the input shape {input_shape}")


_CACHE: dict = {}


def load_dataset(name: str, data_dir=None, input_shape=None) -> Dataset:
    """Load ``name`` from local files; x uint8 ``(N, *input_shape)`` (native HWC if None)."""
    check_name(name)
    key = (name, str(data_dir))
    if key not in _CACHE:
        if name == "digits":
            arrays = _digits()
        elif name == "fashion-mnist":
            arrays = _idx_dir(Path(data_dir or FASHION_DIR), name)
        elif name == "mnist":
            if data_dir is None:
                raise UserError("dataset 'mnist' needs --data-dir (a directory of MNIST IDX files)")
            arrays = _idx_dir(Path(data_dir), name)
        else:
            if data_dir is None:
                raise UserError("dataset 'cifar10' needs --data-dir (the cifar-10-batches-py directory)")
            arrays = _cifar(Path(data_dir))
        _CACHE.clear()  # keep at most one dataset in memory
        _CACHE[key] = arrays
    xtr, ytr, xte, yte = _CACHE[key]
    if input_shape is not None:
        xtr, xte = convert(xtr, input_shape), convert(xte, input_shape)
    return Dataset(name, xtr, ytr, xte, yte, NUM_CLASSES[name])


def test_set(run_dir) -> tuple[np.ndarray, np.ndarray]:
    """The run's test images (uint8, shaped exactly like the network input) and labels."""
    run_dir = Path(run_dir)
    if not (run_dir / "config.json").is_file() and (run_dir / "inputs.npz").is_file():
        # an imported run (bitscale import): the IR input codes of its check images
        with np.load(run_dir / "inputs.npz", allow_pickle=False) as z:
            return z["x"], z["y"]
    cfg = read_json(run_dir / "config.json", f"no config.json in run directory {run_dir}")
    shape = input_shape_for(cfg["model"], cfg["dataset"])
    ds = load_dataset(cfg["dataset"], cfg.get("data_dir"), shape)
    return ds.test_x, ds.test_y
