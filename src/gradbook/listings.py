"""The convolutional networks of the source documents, rebuilt as written and corrected.

Four documents give a Keras CNN. :data:`LISTINGS` holds one :class:`Listing` per document, with
what the listing loads, how it compiles, and what is wrong with it; :meth:`Listing.build`
rebuilds the network and its compile step either as the document wrote it or corrected, so
that chapter 6 can train both side by side on the same data and seed.

The code here is the book's own: the layer stacks and compile settings follow the documents,
the rest does not.

>>> from gradbook.listings import LISTINGS
>>> sorted(LISTINGS)
['000', '001', '002', '004']
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from gradbook.validation import check_input_shape, check_whole

__all__ = ["LISTINGS", "Listing", "loss_floor"]


def loss_floor(num_classes: int = 10) -> float:
    """The smallest value a cross-entropy told ``from_logits=True`` can reach on probabilities.

    Fed probabilities ``p`` instead of logits, the loss applies softmax a second time. Even a
    perfect prediction (``p`` one-hot) then scores ``-log(e / (e + k - 1)) = log(e + k - 1) - 1``
    for ``k`` classes, and that is the minimum over all probability vectors: 1.4612 for 10
    classes, not 0.

    Raises
    ------
    ValueError
        If ``num_classes`` is not a whole number >= 2.

    Examples
    --------
    >>> round(loss_floor(10), 4)
    1.4612
    """
    num_classes = check_whole(num_classes, "num_classes", minimum=2)
    return float(np.log(np.e + num_classes - 1) - 1.0)


@dataclass(frozen=True)
class Listing:
    """One document's CNN listing.

    Attributes
    ----------
    key : str
        The document's number, ``"000"`` to ``"004"``.
    document : str
        The source document's file name.
    section : str
        The section holding the listing.
    architecture : str
        The layer stack, in words.
    dataset : str or None
        What the listing loads (a ``keras.datasets`` name), or ``None`` when it trains on
        arrays it never defines.
    undefined_names : tuple of str
        Names the listing uses without defining them (a ``NameError`` when run).
    optimizer : str
        The optimizer as written (Keras name; all at their default learning rate, 0.001).
    loss : str
        The loss as written.
    epochs, batch_size : int
        The ``fit`` arguments as written (Keras's default batch is 32).
    validates_on_test : bool
        Whether it passes the test set as ``validation_data``.
    problems : tuple of str
        What is wrong, one sentence each; empty for a correct listing.
    """

    key: str
    document: str
    section: str
    architecture: str
    dataset: str | None
    undefined_names: tuple[str, ...]
    optimizer: str
    loss: str
    epochs: int
    batch_size: int
    validates_on_test: bool
    problems: tuple[str, ...]

    @property
    def softmax_with_from_logits(self) -> bool:
        """True when a softmax output meets a loss told ``from_logits=True``."""
        return "from_logits=True" in self.loss

    @property
    def one_hot_labels(self) -> bool:
        """True when the loss as written expects one-hot labels."""
        return self.loss == "categorical_crossentropy"

    def build(
        self,
        input_shape: Sequence[int],
        num_classes: int = 10,
        *,
        corrected: bool = False,
        pooling: bool = True,
        dtype_policy: str | None = None,
        seed: int = 0,
    ):
        """The listing's network, compiled, for images of ``input_shape``.

        Parameters
        ----------
        input_shape : (height, width, channels)
            The data's image shape (the listing's own shape is replaced so the network runs on
            the book's offline data).
        num_classes : int, default 10
        corrected : bool, default False
            ``False``: as written (softmax output, the loss as written). ``True``: the last layer
            outputs logits and the loss is told so (``from_logits=True``), the numerically stable
            form; labels are integers. Everything else stays as written.
        pooling : bool, default True
            ``False`` leaves out the listing's two pooling layers (the subclassed listing 001 gets
            identity layers in their place), to measure what pooling saves.
        dtype_policy : str, optional
            A Keras mixed-precision policy, for example ``"mixed_bfloat16"``. As written, every
            layer gets it (what setting a global policy and nothing else does); corrected, the
            output layer computes in float32, as Keras's mixed-precision guide requires.
        seed : int, default 0
            Seeds ``keras.utils.set_random_seed`` before the layers are made.

        Returns
        -------
        keras.Model, compiled with ``accuracy`` as its metric.

        Raises
        ------
        ValueError
            For an input shape that is not (height, width, channels) or too small for the
            listing's convolutions and pools.

        Examples
        --------
        >>> model = LISTINGS["004"].build((28, 28, 1), corrected=True)
        >>> [layer.name for layer in model.layers]
        ['conv_1', 'pool_1', 'conv_2', 'pool_2', 'flatten', 'dense', 'output']
        >>> model.count_params(), LISTINGS["004"].build((28, 28, 1), pooling=False).count_params()
        (121930, 2378826)
        """
        import keras

        shape = check_input_shape(input_shape)
        if len(shape) != 3:
            raise ValueError(f"input_shape must be (height, width, channels), got {input_shape!r}.")
        if not isinstance(pooling, bool):
            raise ValueError(f"pooling must be True or False, got {pooling!r}.")
        convs = 3 if self.key in ("000", "002") else 2
        # 3x3 valid convolutions (and 2x2 pools) must leave >= 1 pixel
        smallest = {3: 18, 2: 10}[convs] if pooling else 2 * convs + 1
        if min(shape[:2]) < smallest:
            raise ValueError(
                f"Listing {self.key} needs images of at least {smallest}x{smallest} pixels for its "
                f"{convs} valid 3x3 convolutions{' and pools' if pooling else ''}; got {shape[0]}x{shape[1]}. "
                f"Use fashion_mnist, mnist or cifar10 (digits is 8x8)."
            )
        keras.utils.set_random_seed(seed)
        head = None if corrected else "softmax"
        output_dtype = "float32" if corrected and dtype_policy else dtype_policy
        name = f"listing_{self.key}{'_corrected' if corrected else ''}{'' if pooling else '_without_pooling'}"
        if self.key == "001":
            model = _subclassed_cnn_class()(num_classes, head=head, pooling=pooling, dtype_policy=dtype_policy,
                                            output_dtype=output_dtype, name=name)
            model(np.zeros((1, *shape), dtype="float32"))  # a subclassed model builds on its first call
        else:
            model = _sequential_cnn(shape, num_classes, convs=convs, head=head, pooling=pooling,
                                    dtype_policy=dtype_policy, output_dtype=output_dtype, name=name)
        if corrected:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        elif self.softmax_with_from_logits:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        else:
            loss = self.loss
        from gradbook.hardware import with_loss_scaling

        optimizer = with_loss_scaling(keras.optimizers.get(self.optimizer), dtype_policy)
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        return model

    def targets(self, y: np.ndarray, num_classes: int = 10, *, corrected: bool = False) -> np.ndarray:
        """Labels in the form the compiled loss expects: one-hot for a listing that says
        ``categorical_crossentropy`` (as written), integers otherwise."""
        y = np.asarray(y)
        if self.one_hot_labels and not corrected:
            return np.eye(num_classes, dtype="float32")[y]
        return y


def _sequential_cnn(shape, num_classes, *, convs: int, head: str | None, pooling: bool, dtype_policy, output_dtype,
                    name: str):
    import keras

    L = keras.layers
    dt = dtype_policy
    layers = [keras.Input(shape)]
    for i, filters in enumerate((32, 64, 64)[:convs]):
        layers.append(L.Conv2D(filters, 3, activation="relu", dtype=dt, name=f"conv_{i + 1}"))
        if i < 2 and pooling:
            layers.append(L.MaxPooling2D(2, dtype=dt, name=f"pool_{i + 1}"))
    layers += [
        L.Flatten(dtype=dt, name="flatten"),
        L.Dense(64, activation="relu", dtype=dt, name="dense"),
        L.Dense(num_classes, activation=head, dtype=output_dtype, name="output"),
    ]
    return keras.Sequential(layers, name=name)


@functools.cache
def _subclassed_cnn_class():
    """The subclassed model of document 001 (made on first use, so importing this module does
    not import Keras)."""
    import keras

    class SubclassedCNN(keras.Model):
        """Conv 32 -> pool -> Conv 64 -> pool -> Dense 128 -> Dense classes, as a subclass."""

        def __init__(self, num_classes: int = 10, *, head: str | None = "softmax", pooling: bool = True,
                     dtype_policy=None, output_dtype=None, **kwargs):
            super().__init__(**kwargs)
            L = keras.layers
            dt = dtype_policy
            pool = L.MaxPooling2D if pooling else (lambda _, **kw: L.Identity(**kw))
            self.conv1 = L.Conv2D(32, 3, activation="relu", dtype=dt)
            self.pool1 = pool(2, dtype=dt)
            self.conv2 = L.Conv2D(64, 3, activation="relu", dtype=dt)
            self.pool2 = pool(2, dtype=dt)
            self.flatten = L.Flatten(dtype=dt)
            self.dense1 = L.Dense(128, activation="relu", dtype=dt)
            self.dense2 = L.Dense(num_classes, activation=head, dtype=output_dtype)

        def call(self, x):
            x = self.pool1(self.conv1(x))
            x = self.pool2(self.conv2(x))
            return self.dense2(self.dense1(self.flatten(x)))

    return SubclassedCNN


_FROM_LOGITS = (
    "The output layer applies softmax, but the loss is told from_logits=True, so the loss would "
    "apply softmax a second time. On the TensorFlow backend, Keras 3 repairs this when the softmax "
    "output reaches the loss untouched (it warns, then uses the logits), but not once anything "
    "changes that tensor, such as the float32 cast that follows a 16-bit output layer under mixed "
    "precision: then, without a warning, the loss cannot fall below 1.4612 and the gradients shrink."
)
_TEST_AS_VALIDATION = (
    "It validates on the test set, so once the validation curve guides any choice (epochs, "
    "learning rate), the test accuracy is no longer an honest estimate."
)

#: The four CNN listings, by document number.
LISTINGS: dict[str, Listing] = {
    "000": Listing(
        key="000",
        document="000_89d203052bb02f86.txt",
        section="4.1",
        architecture="Conv 32 -> pool -> Conv 64 -> pool -> Conv 64 -> Dense 64 -> Dense 10 softmax (the network of TensorFlow's CNN tutorial, with a softmax added)",
        dataset="cifar10",
        undefined_names=(),
        optimizer="adam",
        loss="sparse_categorical_crossentropy(from_logits=True)",
        epochs=10,
        batch_size=32,
        validates_on_test=True,
        problems=(
            _FROM_LOGITS,
            _TEST_AS_VALIDATION,
            "It downloads CIFAR-10, so it fails on a machine without internet access.",
        ),
    ),
    "001": Listing(
        key="001",
        document="001_87177195dd03e0f2.txt",
        section="4",
        architecture="Subclassed: Conv 32 -> pool -> Conv 64 -> pool -> Dense 128 -> Dense 10 softmax",
        dataset=None,
        undefined_names=("x_train", "y_train"),
        optimizer="adam",
        loss="sparse_categorical_crossentropy(from_logits=True)",
        epochs=10,
        batch_size=32,
        validates_on_test=False,
        problems=(
            "x_train and y_train are never defined, so model.fit raises NameError.",
            _FROM_LOGITS,
            "It has no validation data at all, so nothing shows over-fitting.",
        ),
    ),
    "002": Listing(
        key="002",
        document="002_1361672e6b8afbfd.txt",
        section="4",
        architecture="Conv 32 -> pool -> Conv 64 -> pool -> Conv 64 -> Dense 64 -> Dense 10 softmax",
        dataset="mnist",
        undefined_names=(),
        optimizer="rmsprop",
        loss="categorical_crossentropy",
        epochs=5,
        batch_size=64,
        validates_on_test=False,
        problems=(
            "It downloads MNIST, so it fails on a machine without internet access.",
            "It reshapes with the literal counts 60000 and 10000, so it fits only MNIST-sized data (MNIST, "
            "or Fashion-MNIST of the same shape) and breaks on any other number of images (a subset, "
            "CIFAR-10).",
            "It has no validation data at all, so nothing shows over-fitting.",
        ),
    ),
    "004": Listing(
        key="004",
        document="004_ad7298a7533c0b89.txt",
        section="4.2",
        architecture="Conv 32 -> pool -> Conv 64 -> pool -> Dense 64 -> Dense 10 softmax",
        dataset=None,
        undefined_names=("X_train", "y_train", "X_test", "y_test"),
        optimizer="adam",
        loss="sparse_categorical_crossentropy",
        epochs=10,
        batch_size=32,
        validates_on_test=True,
        problems=(
            "X_train, y_train, X_test and y_test are never defined, so model.fit raises NameError.",
            _TEST_AS_VALIDATION,
        ),
    ),
}
