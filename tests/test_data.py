"""Tests for gradbook.data: shapes, subsets, the IDX reader, the offline behaviour, and the tf.data pipeline."""

from __future__ import annotations

import gzip
import socket
import struct
from pathlib import Path

import keras
import numpy as np
import pytest

from gradbook import data

IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)


# -- helpers -------------------------------------------------------------------------------------
def _closed_port() -> int:
    """A local TCP port nobody listens on (bound once to get a free number, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _write_idx_gz(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array in the IDX format (magic 0x0000 08 ndim, big-endian sizes), gzipped."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


def _write_idx_folder(folder: Path, seed: int, n_train: int = 5, n_test: int = 3, hw=(4, 3)):
    """Four tiny Fashion-MNIST-style files; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_train, *hw), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, size=n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, size=(n_test, *hw), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, size=n_test, dtype=np.uint8),
    }
    # Make sure the extremes are present so the scaling is visible.
    arrays["train-images-idx3-ubyte.gz"][0, 0, 0] = 255
    arrays["train-images-idx3-ubyte.gz"][0, 0, 1] = 0
    for name, arr in arrays.items():
        _write_idx_gz(folder / name, arr)
    return arrays


def _row_keys(x: np.ndarray, y: np.ndarray) -> list[bytes]:
    return sorted(xi.tobytes() + int(yi).to_bytes(8, "little") for xi, yi in zip(x, y))


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No Keras cache, no Debian package, and a download host that refuses connections."""
    keras_home = tmp_path / "keras_home"
    keras_home.mkdir()
    missing = tmp_path / "no-such-debian-dir"
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(data, "_DEBIAN_FASHION_MNIST", missing)
    monkeypatch.setattr(data, "_KERAS_DATA_HOST", ("127.0.0.1", _closed_port()))
    monkeypatch.setattr(data, "_CIFAR10_HOST", ("127.0.0.1", _closed_port()))
    return keras_home, missing


# -- digits --------------------------------------------------------------------------------------
def test_digits_shapes_dtypes_and_range():
    ds = data.load("digits")
    assert ds.name == "digits"
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int64 and ds.y_test.dtype == np.int64
    assert ds.x_train.ndim == 4 and ds.x_train.shape[1:] == (8, 8, 1)
    assert ds.x_test.shape[1:] == (8, 8, 1)
    assert ds.y_train.shape == (len(ds.x_train),)
    assert ds.y_test.shape == (len(ds.x_test),)
    for x in (ds.x_train, ds.x_test):
        assert x.min() >= 0.0 and x.max() <= 1.0
    assert ds.x_train.max() == 1.0  # 16/16: the scale is the full [0, 1]
    assert set(np.unique(ds.y_train)) == set(range(10))


def test_digits_is_a_fixed_80_20_partition_of_sklearn_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    n = len(bunch.images)
    ds = data.load("digits")
    assert len(ds.x_test) == n // 5
    assert len(ds.x_train) + len(ds.x_test) == n
    expected = _row_keys((bunch.images / 16.0).astype(np.float32)[..., None], bunch.target)
    got = _row_keys(np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test]))
    assert got == expected
    # The split is the same on every call.
    again = data.load("digits")
    np.testing.assert_array_equal(again.x_test, ds.x_test)
    np.testing.assert_array_equal(again.y_train, ds.y_train)


def test_dataset_properties_and_repr():
    ds = data.load("digits", n_train=50, n_test=20)
    assert ds.image_shape == (8, 8, 1)
    assert ds.num_classes == 10 == len(ds.class_names)
    text = repr(ds)
    assert "'digits'" in text
    assert "50 train" in text and "20 test" in text
    assert "(8, 8, 1)" in text and "10 classes" in text
    assert ds.source in text


def test_subsets_have_requested_size_and_come_from_the_full_set():
    full = data.load("digits")
    sub = data.load("digits", n_train=100, n_test=np.int64(30), seed=3)
    assert sub.x_train.shape == (100, 8, 8, 1) and sub.y_train.shape == (100,)
    assert sub.x_test.shape == (30, 8, 8, 1) and sub.y_test.shape == (30,)
    full_train = set(_row_keys(full.x_train, full.y_train))
    full_test = set(_row_keys(full.x_test, full.y_test))
    assert set(_row_keys(sub.x_train, sub.y_train)) <= full_train
    assert set(_row_keys(sub.x_test, sub.y_test)) <= full_test
    # Only the requested part is subset.
    only_train = data.load("digits", n_train=100)
    np.testing.assert_array_equal(only_train.x_test, full.x_test)


def test_same_seed_same_subset_different_seed_different_subset():
    a = data.load("digits", n_train=200, n_test=50, seed=7)
    b = data.load("digits", n_train=200, n_test=50, seed=7)
    c = data.load("digits", n_train=200, n_test=50, seed=8)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_train, c.x_train)
    assert not np.array_equal(a.x_test, c.x_test)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, False, "10"])
@pytest.mark.parametrize("which", ["n_train", "n_test"])
def test_invalid_subset_size_raises(which, bad):
    with pytest.raises(ValueError, match=which):
        data.load("digits", **{which: bad})


@pytest.mark.parametrize("which", ["n_train", "n_test"])
def test_subset_larger_than_dataset_raises(which):
    full = data.load("digits")
    size = len(full.x_train) if which == "n_train" else len(full.x_test)
    with pytest.raises(ValueError, match=rf"{which}={size + 1}.*{size}"):
        data.load("digits", **{which: size + 1})
    # Exactly the whole set is fine.
    ds = data.load("digits", **{which: size})
    assert len(ds.x_train if which == "n_train" else ds.x_test) == size


def test_unknown_name_lists_all_valid_names():
    with pytest.raises(ValueError) as info:
        data.load("imagenet")
    message = str(info.value)
    assert "imagenet" in message
    for name in data.DATASETS:
        assert name in message


# -- Fashion-MNIST and the IDX reader --------------------------------------------------------------
def test_fashion_mnist_from_debian_package(tmp_path, monkeypatch):
    debian = Path("/usr/share/datasets/fashion-mnist")
    assert data._DEBIAN_FASHION_MNIST == debian
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no Keras cache in the way
    ds = data.load("fashion_mnist")
    assert "Debian" in ds.source and str(debian) in ds.source
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert ds.num_classes == 10 and ds.class_names[0] == "T-shirt/top"
    # Compare with the raw bytes of the Debian files (headers: 8 bytes labels, 16 bytes images).
    with gzip.open(debian / "t10k-labels-idx1-ubyte.gz", "rb") as f:
        raw_labels = np.frombuffer(f.read(), dtype=np.uint8, offset=8)
    np.testing.assert_array_equal(ds.y_test, raw_labels.astype(np.int64))
    with gzip.open(debian / "t10k-images-idx3-ubyte.gz", "rb") as f:
        raw_images = np.frombuffer(f.read(), dtype=np.uint8, offset=16).reshape(10000, 28, 28, 1)
    np.testing.assert_array_equal(ds.x_test, raw_images.astype(np.float32) / np.float32(255))


def test_idx_reader_matches_written_bytes_from_keras_cache(tmp_path, monkeypatch):
    keras_home = tmp_path / "keras"
    cache = keras_home / "datasets" / "fashion-mnist"
    written = _write_idx_folder(cache, seed=1)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(data, "_DEBIAN_FASHION_MNIST", tmp_path / "missing")
    ds = data.load("fashion_mnist")
    assert "Keras cache" in ds.source and str(cache) in ds.source
    x_train = written["train-images-idx3-ubyte.gz"]
    x_test = written["t10k-images-idx3-ubyte.gz"]
    assert ds.x_train.shape == (*x_train.shape, 1) and ds.x_train.dtype == np.float32
    np.testing.assert_array_equal(ds.x_train[..., 0], x_train.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.x_test[..., 0], x_test.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(ds.y_train, written["train-labels-idx1-ubyte.gz"].astype(np.int64))
    np.testing.assert_array_equal(ds.y_test, written["t10k-labels-idx1-ubyte.gz"].astype(np.int64))
    assert ds.y_train.dtype == np.int64
    assert ds.x_train.max() == 1.0 and ds.x_train.min() == 0.0


def test_read_idx_gz_parses_header_independently(tmp_path):
    arr = np.arange(2 * 3 * 5, dtype=np.uint8).reshape(2, 3, 5)
    path = tmp_path / "a.gz"
    _write_idx_gz(path, arr)
    with gzip.open(path, "rb") as f:
        raw = f.read()
    # Independent parse of the header.
    assert raw[:4] == b"\x00\x00\x08\x03"
    dims = struct.unpack(">III", raw[4:16])
    expected = np.frombuffer(raw[16:], dtype=np.uint8).reshape(dims)
    np.testing.assert_array_equal(data._read_idx_gz(path), expected)
    np.testing.assert_array_equal(data._read_idx_gz(path), arr)


def test_an_idx_file_is_decoded_once_and_read_again_when_it_changes(tmp_path):
    path = tmp_path / "a.gz"
    _write_idx_gz(path, np.zeros((2, 3), dtype=np.uint8))
    first = data._read_idx_gz(path)
    assert data._read_idx_gz(path) is first                # unchanged file: the decoded array is reused
    assert not first.flags.writeable                        # so no caller can alter what others get
    _write_idx_gz(path, np.ones((4, 3), dtype=np.uint8))   # replaced (other size): decoded again
    np.testing.assert_array_equal(data._read_idx_gz(path), np.ones((4, 3), dtype=np.uint8))


def test_keras_cache_takes_precedence_over_debian(tmp_path, monkeypatch):
    keras_home = tmp_path / "keras"
    from_keras = _write_idx_folder(keras_home / "datasets" / "fashion-mnist", seed=1)
    debian = tmp_path / "debian"
    _write_idx_folder(debian, seed=2)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(data, "_DEBIAN_FASHION_MNIST", debian)
    ds = data.load("fashion_mnist")
    assert "Keras cache" in ds.source
    np.testing.assert_array_equal(ds.y_train, from_keras["train-labels-idx1-ubyte.gz"])


def test_incomplete_keras_cache_falls_back_to_debian(tmp_path, monkeypatch):
    keras_home = tmp_path / "keras"
    cache = keras_home / "datasets" / "fashion-mnist"
    _write_idx_folder(cache, seed=1)
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    debian = tmp_path / "debian"
    from_debian = _write_idx_folder(debian, seed=2)
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    monkeypatch.setattr(data, "_DEBIAN_FASHION_MNIST", debian)
    ds = data.load("fashion_mnist", n_test=2, seed=0)
    assert "Debian" in ds.source and str(debian) in ds.source
    np.testing.assert_array_equal(ds.y_train, from_debian["train-labels-idx1-ubyte.gz"])
    assert ds.x_test.shape == (2, 4, 3, 1)


# -- offline behaviour ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["fashion_mnist", "mnist", "cifar10"])
def test_unavailable_dataset_fails_fast_with_instructions(offline, name, monkeypatch):
    keras_home, missing_debian = offline
    # Fast by construction: one connection attempt with a short timeout, and no download started.
    attempts = []
    connect = socket.create_connection

    def spy(address, timeout=None, *args, **kwargs):
        attempts.append(timeout)
        return connect(address, timeout, *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", spy)
    monkeypatch.setattr(getattr(keras.datasets, name), "load_data", lambda *a, **k: pytest.fail("a download started"))
    with pytest.raises(data.DatasetUnavailable) as info:
        data.load(name)
    assert len(attempts) == 1 and attempts[0] is not None and 0 < attempts[0] <= 3.0
    message = str(info.value)
    assert name in message
    assert str(keras_home / "datasets") in message  # where it looked
    assert "127.0.0.1" in message  # the host it could not reach
    assert f"keras.datasets.{name}.load_data()" in message  # how to get it
    assert "'digits'" in message  # the offline alternative
    if name == "fashion_mnist":
        assert str(keras_home / "datasets" / "fashion-mnist") in message
        assert str(missing_debian) in message
        assert "apt-get install dataset-fashion-mnist" in message
    else:
        assert "'fashion_mnist'" in message
    assert isinstance(info.value, RuntimeError)


def test_reachable_reports_closed_and_open_ports():
    assert data._reachable(("127.0.0.1", _closed_port()), timeout=2.0) is False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        assert data._reachable(server.getsockname(), timeout=2.0) is True


def _fake_keras_loader(n_train: int, n_test: int, shape: tuple[int, ...], calls: list):
    """Stands in for keras.datasets.<name>.load_data reading its own (valid) cache."""

    def load_data():
        calls.append(1)
        rng = np.random.default_rng(0)
        return (
            (rng.integers(0, 256, (n_train, *shape), dtype=np.uint8), rng.integers(0, 10, (n_train, 1), dtype=np.uint8)),
            (rng.integers(0, 256, (n_test, *shape), dtype=np.uint8), rng.integers(0, 10, (n_test, 1), dtype=np.uint8)),
        )

    return load_data


def test_cached_mnist_loads_offline_through_keras(offline, monkeypatch):
    import keras

    keras_home, _ = offline
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "mnist.npz").write_bytes(b"cached")  # Keras 3: datasets/mnist.npz
    calls: list = []
    monkeypatch.setattr(keras.datasets.mnist, "load_data", _fake_keras_loader(6, 4, (28, 28), calls))
    ds = data.load("mnist")
    assert calls == [1]
    assert ds.source == "Keras cache"
    assert ds.x_train.shape == (6, 28, 28, 1) and ds.x_train.dtype == np.float32
    assert ds.y_train.shape == (6,) and ds.y_train.dtype == np.int64
    assert ds.x_train.max() <= 1.0


def test_cached_cifar10_in_keras3_layout_loads_offline(offline, monkeypatch):
    """Keras 3 caches CIFAR-10 as datasets/cifar-10-batches-py-target/cifar-10-batches-py/...

    (keras/src/datasets/cifar10.py calls get_file(fname="cifar-10-batches-py-target",
    extract=True) and reads the batches from the inner cifar-10-batches-py folder). With that
    cache on disk, loading must work without any network.
    """
    import keras

    keras_home, _ = offline
    datasets = keras_home / "datasets"
    inner = datasets / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    inner.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]:
        (inner / name).write_bytes(b"cached")
    (datasets / "cifar-10-batches-py-target_archive").write_bytes(b"cached archive")
    calls: list = []
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", _fake_keras_loader(5, 3, (32, 32, 3), calls))
    ds = data.load("cifar10")
    assert calls == [1]
    assert ds.x_train.shape == (5, 32, 32, 3)
    assert ds.y_test.shape == (3,)


def test_keras_load_failure_becomes_dataset_unavailable(offline, monkeypatch):
    import keras

    keras_home, _ = offline
    (keras_home / "datasets").mkdir()
    (keras_home / "datasets" / "mnist.npz").write_bytes(b"truncated")

    def broken():
        raise OSError("bad zip file")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", broken)
    with pytest.raises(data.DatasetUnavailable, match="bad zip file") as info:
        data.load("mnist")
    assert str(keras_home / "datasets" / "mnist.npz") in str(info.value)
    assert isinstance(info.value.__cause__, OSError)


# -- pipeline ---------------------------------------------------------------------------------------
def _labels_per_epoch(ds, epochs=2):
    out = []
    for _ in range(epochs):
        batches = [(xb.numpy(), yb.numpy()) for xb, yb in ds]
        out.append(batches)
    return out


def test_pipeline_batches_cover_every_example_once_per_epoch():
    x = np.arange(23, dtype=np.float32).reshape(23, 1) * 10
    y = np.arange(23)
    keras.utils.set_random_seed(0)
    epochs = _labels_per_epoch(data.pipeline(x, y, batch_size=5, seed=1))
    orders = []
    for batches in epochs:
        assert [len(yb) for _, yb in batches] == [5, 5, 5, 5, 3]
        for xb, yb in batches:
            np.testing.assert_array_equal(xb[:, 0], yb * 10)  # images stay with their labels
        order = np.concatenate([yb for _, yb in batches])
        assert sorted(order.tolist()) == list(range(23))
        assert order.tolist() != list(range(23))  # shuffled
        orders.append(order.tolist())
    assert orders[0] != orders[1]  # reshuffled every epoch


def test_pipeline_seeded_order_repeats_and_seed_matters():
    x = np.arange(40, dtype=np.float32)
    y = np.arange(40)

    def orders(seed):
        keras.utils.set_random_seed(0)  # the same global seed each time
        return [np.concatenate([b[1] for b in ep]).tolist() for ep in _labels_per_epoch(data.pipeline(x, y, batch_size=8, seed=seed))]

    assert orders(3) == orders(3)
    assert orders(3) != orders(4)


def test_pipeline_without_shuffle_keeps_the_order():
    x = np.arange(10, dtype=np.float32)
    ds = data.pipeline(x, np.arange(10), batch_size=4, shuffle=False)
    epochs = _labels_per_epoch(ds)
    for batches in epochs:
        assert [yb.tolist() for _, yb in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_pipeline_rejects_bad_input():
    x = np.zeros((10, 2), dtype=np.float32)
    with pytest.raises(ValueError, match="10 examples but y has 9"):
        data.pipeline(x, np.zeros(9))
    for bad in (0, -1, 2.5, True, None):
        with pytest.raises(ValueError, match="batch_size"):
            data.pipeline(x, np.zeros(10), batch_size=bad)
