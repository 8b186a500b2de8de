"""Offline-first loading of the book's image datasets.

Every dataset comes back in one shape: float32 images in NHWC layout scaled to ``[0, 1]`` and
integer class labels, wrapped in a :class:`Dataset`.

============== ======================= ==========================================================
name           images                  where it comes from
============== ======================= ==========================================================
digits         1797 x 8 x 8 x 1        scikit-learn (always offline)
fashion_mnist  70000 x 28 x 28 x 1     Keras cache, else Debian's ``dataset-fashion-mnist``
                                       package, else a Keras download
mnist          70000 x 28 x 28 x 1     Keras cache, else a Keras download
cifar10        60000 x 32 x 32 x 3     Keras cache, else a Keras download
============== ======================= ==========================================================

When a dataset is neither on disk nor reachable, :func:`load` raises
:class:`DatasetUnavailable` within seconds, naming every place it looked and how to get the data.

:func:`pipeline` feeds arrays to a model as a ``tf.data`` input pipeline (shuffle, batch, prefetch).
"""

from __future__ import annotations

import functools
import gzip
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from gradbook.validation import check_choice, check_whole

if TYPE_CHECKING:
    import tensorflow as tf

__all__ = ["DATASETS", "Dataset", "DatasetUnavailable", "load", "pipeline"]

#: The names :func:`load` accepts.
DATASETS: tuple[str, ...] = ("digits", "fashion_mnist", "mnist", "cifar10")

_DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
_IDX_FILES = (
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
)
# Where keras.datasets downloads each dataset from (Keras 3).
_KERAS_DATA_HOST = ("storage.googleapis.com", 443)
_CIFAR10_HOST = ("www.cs.toronto.edu", 443)

_CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "digits": tuple(str(i) for i in range(10)),
    "mnist": tuple(str(i) for i in range(10)),
    "fashion_mnist": (
        "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
    ),
    "cifar10": (
        "airplane", "automobile", "bird", "cat", "deer",
        "dog", "frog", "horse", "ship", "truck",
    ),
}

_HOW_TO_GET = {
    "fashion_mnist": (
        "install Debian's package (`sudo apt-get install dataset-fashion-mnist`), or run once with "
        "internet access so that Keras caches it (`keras.datasets.fashion_mnist.load_data()`), or "
        "use the offline dataset 'digits'"
    ),
    "mnist": (
        "run once with internet access so that Keras caches it "
        "(`keras.datasets.mnist.load_data()`), or use 'fashion_mnist' or 'digits', which work offline"
    ),
    "cifar10": (
        "run once with internet access so that Keras caches it "
        "(`keras.datasets.cifar10.load_data()`), or use 'fashion_mnist' or 'digits', which work offline"
    ),
}


class DatasetUnavailable(RuntimeError):
    """The dataset is not on this machine and cannot be downloaded now."""


@dataclass(frozen=True)
class Dataset:
    """A train/test split of images and labels.

    Attributes
    ----------
    name : str
        The name it was loaded by.
    x_train, x_test : numpy.ndarray
        float32 images, shape ``(n, height, width, channels)``, values in ``[0, 1]``.
    y_train, y_test : numpy.ndarray
        int64 class labels, shape ``(n,)``.
    class_names : tuple of str
        Human-readable name of each class label.
    source : str
        Where the data was read from.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    class_names: tuple[str, ...]
    source: str

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """Shape of one image, ``(height, width, channels)``."""
        return tuple(self.x_train.shape[1:])  # type: ignore[return-value]

    @property
    def num_classes(self) -> int:
        """Number of classes."""
        return len(self.class_names)

    def resized(self, size: int) -> "Dataset":
        """The same dataset with every image resized to ``size`` x ``size`` (bilinear).

        For running a network built for larger images on the tiny 8x8 digits, say.

        Raises
        ------
        ValueError
            If ``size`` is not a whole number >= 1.
        """
        import tensorflow as tf

        size = check_whole(size, "size")

        def resize(x: np.ndarray) -> np.ndarray:
            out = tf.image.resize(x, (size, size), method="bilinear").numpy().astype(np.float32)
            return np.clip(out, 0.0, 1.0)

        return Dataset(
            name=self.name, x_train=resize(self.x_train), y_train=self.y_train, x_test=resize(self.x_test),
            y_test=self.y_test, class_names=self.class_names, source=f"{self.source}, resized to {size}x{size}",
        )

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}: {len(self.x_train)} train, {len(self.x_test)} test, "
            f"images {self.image_shape}, {self.num_classes} classes, from {self.source})"
        )


def load(
    name: str,
    *,
    n_train: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
) -> Dataset:
    """Load a dataset as float32 NHWC images in ``[0, 1]`` and integer labels.

    Parameters
    ----------
    name : {"digits", "fashion_mnist", "mnist", "cifar10"}
        Which dataset.
    n_train, n_test : int, optional
        Keep a random subset of this many training / test examples (all when ``None``).
    seed : int, default 0
        Seed of the random subset, so the same call always gives the same examples.

    Returns
    -------
    Dataset

    Raises
    ------
    ValueError
        For an unknown name or a subset size that is not a positive whole number.
    DatasetUnavailable
        When the data is not on disk and cannot be downloaded; the message says where it looked
        and how to get the data.

    Examples
    --------
    >>> ds = load("digits", n_train=500)
    >>> ds.x_train.shape
    (500, 8, 8, 1)
    """
    check_choice(name, "dataset", DATASETS)
    n_train = check_whole(n_train, "n_train", allow_none=True)
    n_test = check_whole(n_test, "n_test", allow_none=True)

    loader = {
        "digits": _load_digits,
        "fashion_mnist": _load_fashion_mnist,
        "mnist": _load_mnist,
        "cifar10": _load_cifar10,
    }[name]
    # The loaders return the stored pixels (uint8 for the image files) and their full scale;
    # only the chosen examples are converted to float32 in [0, 1].
    (x_train, y_train), (x_test, y_test), scale, source = loader()

    rng = np.random.default_rng(seed)
    x_train, y_train = _subset(x_train, y_train, n_train, rng, "n_train", name)
    x_test, y_test = _subset(x_test, y_test, n_test, rng, "n_test", name)
    return Dataset(
        name=name,
        x_train=_images(x_train, scale),
        y_train=_labels(y_train),
        x_test=_images(x_test, scale),
        y_test=_labels(y_test),
        class_names=_CLASS_NAMES[name],
        source=source,
    )


def pipeline(x: np.ndarray, y: np.ndarray, *, batch_size: int = 128, shuffle: bool = True,
             seed: int = 0) -> tf.data.Dataset:
    """A ``tf.data`` input pipeline over in-memory arrays: shuffle, batch, prefetch.

    Parameters
    ----------
    x, y : numpy.ndarray
        Images and labels with the same first dimension.
    batch_size : int, default 128
    shuffle : bool, default True
        Reshuffle every epoch.
    seed : int, default 0
        The shuffle's operation seed. As everywhere in TensorFlow, the order also depends on the
        global seed, so call ``keras.utils.set_random_seed`` before building the pipeline for
        runs that repeat.

    Returns
    -------
    tf.data.Dataset
        Batches of ``(images, labels)``, prefetched so that the next batch is ready while the
        model trains on this one.

    Raises
    ------
    ValueError
        If the arrays disagree in length or ``batch_size`` is not a positive whole number.

    Examples
    --------
    >>> ds = load("digits", n_train=100)
    >>> batches = pipeline(ds.x_train, ds.y_train, batch_size=32, shuffle=False)
    >>> [len(labels) for _, labels in batches]
    [32, 32, 32, 4]
    """
    import tensorflow as tf

    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} examples but y has {len(y)}; they must match.")
    batch_size = check_whole(batch_size, "batch_size")
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def _subset(
    x: np.ndarray, y: np.ndarray, n: int | None, rng: np.random.Generator, label: str, name: str
) -> tuple[np.ndarray, np.ndarray]:
    if n is None:
        return x, y
    if n > len(x):
        raise ValueError(f"{label}={n} is more than the {len(x)} examples {name!r} has.")
    idx = np.sort(rng.choice(len(x), size=n, replace=False))
    return x[idx], y[idx]


def _images(x: np.ndarray, scale: float) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32) / np.float32(scale)
    if x.ndim == 3:
        x = x[..., np.newaxis]
    return x


def _labels(y: np.ndarray) -> np.ndarray:
    return np.asarray(y, dtype=np.int64).reshape(-1)


def _load_digits():
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x, y = bunch.images, bunch.target
    # A fixed 80/20 split, the same on every machine.
    order = np.random.default_rng(0).permutation(len(x))
    n_test = len(x) // 5
    test, train = order[:n_test], order[n_test:]
    return (x[train], y[train]), (x[test], y[test]), 16.0, "scikit-learn"


def _keras_cache_dir() -> Path:
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "datasets"


def _read_idx_gz(path: Path) -> np.ndarray:
    """Read one gzipped IDX file (the format of MNIST and Fashion-MNIST).

    Decompressing Fashion-MNIST takes about half a second, and a chapter loads it several times,
    so the decoded array is kept for the life of the process, keyed by the file's path, size and
    modification time (a replaced file is read again). The array is read-only, so sharing it is safe.
    """
    stat = Path(path).stat()
    return _read_idx_gz_cached(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _read_idx_gz_cached(path: str, size: int, mtime_ns: int) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _load_idx_folder(folder: Path):
    x_train, y_train, x_test, y_test = [_read_idx_gz(folder / f) for f in _IDX_FILES]
    return (x_train, y_train), (x_test, y_test)


def _has_all(folder: Path, files: tuple[str, ...]) -> bool:
    return all((folder / f).is_file() for f in files)


def _load_fashion_mnist():
    looked = []
    for folder, source in (
        (_keras_cache_dir() / "fashion-mnist", "Keras cache"),
        (_DEBIAN_FASHION_MNIST, "Debian package dataset-fashion-mnist"),
    ):
        looked.append(str(folder))
        if _has_all(folder, _IDX_FILES):
            train, test = _load_idx_folder(folder)
            return train, test, 255.0, f"{source} ({folder})"
    train, test = _download("fashion_mnist", looked, host=_KERAS_DATA_HOST)
    return train, test, 255.0, "Keras download"


def _load_mnist():
    path = _keras_cache_dir() / "mnist.npz"
    train, test = _download("mnist", [str(path)], cached=path.is_file(), host=_KERAS_DATA_HOST)
    return train, test, 255.0, "Keras cache" if path.is_file() else "Keras download"


def _load_cifar10():
    # Keras 3 extracts the archive to datasets/cifar-10-batches-py-target/cifar-10-batches-py/.
    folder = _keras_cache_dir() / "cifar-10-batches-py-target" / "cifar-10-batches-py"
    cached = (folder / "data_batch_1").is_file()
    train, test = _download("cifar10", [str(folder)], cached=cached, host=_CIFAR10_HOST)
    return train, test, 255.0, "Keras cache" if cached else "Keras download"


def _reachable(address: tuple[str, int], timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(address, timeout=timeout):
            return True
    except OSError:
        return False


def _download(name: str, looked: list[str], *, host: tuple[str, int], cached: bool = False):
    """Load through ``keras.datasets`` (which downloads unless cached), or fail clearly."""
    if not cached and not _reachable(host):
        raise DatasetUnavailable(
            f"Dataset {name!r} is not on this machine and cannot be downloaded: "
            f"looked in {', '.join(looked)}; the download host {host[0]} is not reachable. "
            f"To get it: {_HOW_TO_GET[name]}."
        )
    from keras import datasets

    module = getattr(datasets, name)
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as err:  # network errors, truncated downloads, bad cache files
        raise DatasetUnavailable(
            f"Dataset {name!r} could not be loaded through keras.datasets ({err}). "
            f"Looked in {', '.join(looked)}. To get it: {_HOW_TO_GET[name]}."
        ) from err
    return (x_train, y_train), (x_test, y_test)
