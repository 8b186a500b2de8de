"""Model builders for experiments on depth: MLPs and CNNs from 1 to 100 layers.

Both builders take the knobs chapters 4 and 5 turn (depth, activation, initializer and its
scale; for the MLP also normalisation, residual connections and dropout) and return an
uncompiled Keras model whose hidden layers are named ``hidden_1 ... hidden_n`` and whose last
layer, ``logits``, outputs logits. Weights are seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import keras

from gradbook import backprop
from gradbook.validation import check_choice, check_input_shape, check_number, check_whole, is_whole

__all__ = ["FIXED_ACTIVATIONS", "FusedBatchNormalization", "INITIALIZERS", "LEARNED_ACTIVATIONS", "NORMALIZATIONS", "cnn",
           "fast_cnn", "kernel_initializer", "mlp"]

#: Activations without weights the builders accept (Keras names): the book's activations
#: (:data:`gradbook.backprop.ACTIVATIONS`) and "linear", the no-activation baseline.
FIXED_ACTIVATIONS: tuple[str, ...] = (*backprop.ACTIVATIONS, "linear")

#: Activations with learned parameters, which the builders add as layers of their own.
LEARNED_ACTIVATIONS: tuple[str, ...] = ("prelu",)

#: Initializer names the builders accept. "glorot" is Keras's default (glorot_uniform).
INITIALIZERS: tuple[str, ...] = ("glorot", "he", "lecun", "normal")

#: Normalisation layers :func:`mlp` can insert in every hidden block.
NORMALIZATIONS: tuple[str, ...] = ("batch", "layer")

_NORM_POSITIONS = ("before", "after")
_DTYPE_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
_MAX_DEPTH = 100
_MAX_SCALE = 1e100  # the variance, scale ** 2, must stay a finite float


def kernel_initializer(name: str, *, scale: float = 1.0, seed: int = 0):
    """A Keras initializer whose standard deviation is ``scale`` times the named scheme's.

    ``"glorot"``: uniform with variance ``2 / (fan_in + fan_out)`` (Keras's default);
    ``"he"``: truncated normal with variance ``2 / fan_in``; ``"lecun"``: truncated normal with
    variance ``1 / fan_in``; ``"normal"``: a naive fixed normal with standard deviation 0.05
    (Keras's ``RandomNormal`` default), whatever the layer's size.

    Parameters
    ----------
    name : str
        One of :data:`INITIALIZERS`.
    scale : float, default 1.0
        Multiplies the scheme's standard deviation; a positive number, at most 1e100.
    seed : int, default 0
        The same seed gives the same weights, whatever the global random state.

    Returns
    -------
    keras.initializers.Initializer

    Raises
    ------
    ValueError
        For an unknown name or a scale that is not a positive number.

    Examples
    --------
    >>> init = kernel_initializer("he", scale=0.5, seed=1)
    >>> tuple(init((64, 32)).shape)
    (64, 32)
    """
    check_choice(name, "initializer", INITIALIZERS)
    variance = _check_scale(scale, "scale") ** 2
    if name == "glorot":
        return keras.initializers.VarianceScaling(variance, "fan_avg", "uniform", seed=seed)
    if name == "he":
        return keras.initializers.VarianceScaling(2.0 * variance, "fan_in", "truncated_normal", seed=seed)
    if name == "lecun":
        return keras.initializers.VarianceScaling(variance, "fan_in", "truncated_normal", seed=seed)
    return keras.initializers.RandomNormal(stddev=0.05 * scale, seed=seed)


def _check_scale(scale, name: str) -> float:
    """A positive number small enough that its square is a finite float."""
    return check_number(scale, name, maximum=_MAX_SCALE)


def _check_network(depth, size_name: str, size, activation: str, initializer: str, num_classes) -> tuple[int, int, int]:
    """The arguments :func:`mlp` and :func:`cnn` share, checked; the whole numbers as ``int``."""
    depth = check_whole(depth, "depth", maximum=_MAX_DEPTH)
    size = check_whole(size, size_name)
    check_choice(activation, "activation", FIXED_ACTIVATIONS + LEARNED_ACTIVATIONS)
    check_choice(initializer, "initializer", INITIALIZERS)
    num_classes = check_whole(num_classes, "num_classes", minimum=2)
    return depth, size, num_classes


@dataclass(frozen=True)
class _Remedies:
    """What a hidden block carries beside its weighted layer and activation, checked once.

    Attributes
    ----------
    normalization : {None, "batch", "layer"}
    norm_position : {"before", "after"}
        Normalise the pre-activation or the activation's output.
    residual : bool
        Add the block's input to its output, from the second block on.
    dropout : float
        Dropout rate after the block, in [0, 1).
    """

    normalization: str | None = None
    norm_position: str = "before"
    residual: bool = False
    dropout: float = 0.0

    def __post_init__(self) -> None:
        check_choice(self.normalization, "normalization", NORMALIZATIONS, allow_none=True)
        check_choice(self.norm_position, "norm_position", _NORM_POSITIONS)
        if not isinstance(self.residual, bool):
            raise ValueError(f"residual must be True or False, got {self.residual!r}.")
        rate = check_number(self.dropout, "dropout", maximum=1, include_minimum=True, include_maximum=False)
        object.__setattr__(self, "dropout", rate)

    @property
    def in_use(self) -> bool:
        """True when any remedy is switched on."""
        return self.normalization is not None or self.residual or self.dropout > 0

    def label(self) -> list[str]:
        """The remedies in use, as parts of a model name."""
        return ([f"{self.normalization}norm-{self.norm_position}"] if self.normalization else []) \
            + (["residual"] if self.residual else []) + ([f"dropout{self.dropout:g}"] if self.dropout else [])


def _norm_layer(kind: str, i: int):
    if kind == "batch":
        # momentum 0.9 (Keras: 0.99) so the moving statistics used at test time settle within
        # the few hundred steps of a short run.
        return keras.layers.BatchNormalization(momentum=0.9, name=f"norm_{i}")
    return keras.layers.LayerNormalization(name=f"norm_{i}")


def _act_layer(activation: str, i: int):
    if activation == "prelu":
        return keras.layers.PReLU(name=f"act_{i}")
    return keras.layers.Activation(activation, name=f"act_{i}")


def _block(i: int, weighted: Callable, activation: str, remedies: _Remedies, seed: int) -> list:
    """The layers of hidden block ``i``, in order.

    ``weighted(act)`` makes the block's Dense or Conv2D layer with activation ``act``. The
    activation is that layer's own unless something comes between them (normalisation before it)
    or it is learned; then the layer gets ``None`` and the activation is a layer ``act_i``. The
    normalisation ``norm_i`` goes before or after the activation, and dropout ``drop_i`` last.
    """
    norm = [] if remedies.normalization is None else [_norm_layer(remedies.normalization, i)]
    if activation in LEARNED_ACTIVATIONS or (norm and remedies.norm_position == "before"):
        act = _act_layer(activation, i)
        layers = [weighted(None), *((*norm, act) if remedies.norm_position == "before" else (act, *norm))]
    else:
        layers = [weighted(activation), *norm]
    if remedies.dropout > 0:
        layers.append(keras.layers.Dropout(remedies.dropout, seed=seed * 1000 + i, name=f"drop_{i}"))
    return layers


def _assemble(input_shape: tuple[int, ...], stem: list, blocks: list[tuple[list, list]], head: list, *,
              residual: bool, sequential: bool, name: str):
    """Wire the layers into a model: ``stem``, the blocks, then ``head``.

    Each block is ``(layers, after)``: its layers in a chain, from the second block on added to
    the block's input (``add_i``) when ``residual``, then the ``after`` layers (a pooling). A
    ``sequential`` network (a plain chain) is a ``keras.Sequential``, any other a functional
    ``keras.Model``.
    """
    if sequential:
        chain = [layer for block, after in blocks for layer in (*block, *after)]
        return keras.Sequential([keras.Input(input_shape), *stem, *chain, *head], name=name)
    inputs = keras.Input(input_shape)
    x = inputs
    for layer in stem:
        x = layer(x)
    for i, (block, after) in enumerate(blocks, start=1):
        h = x
        for layer in block:
            h = layer(h)
        x = keras.layers.Add(name=f"add_{i}")([x, h]) if residual and i > 1 else h
        for layer in after:
            x = layer(x)
    for layer in head:
        x = layer(x)
    return keras.Model(inputs, x, name=name)


def _model_name(kind: str, depth: int, size: int, activation: str, initializer: str, remedies: _Remedies) -> str:
    return f"{kind}_{depth}x{size}_" + "_".join([activation, initializer, *remedies.label()])


def mlp(
    depth: int,
    width: int = 64,
    activation: str = "sigmoid",
    initializer: str = "glorot",
    *,
    init_scale: float = 1.0,
    normalization: str | None = None,
    norm_position: str = "before",
    residual: bool = False,
    dropout: float = 0.0,
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    seed: int = 0,
):
    """A fully connected network: Flatten, ``depth`` hidden blocks, Dense logits.

    A hidden block is ``Dense -> activation`` (layer ``hidden_i``), optionally with a
    normalisation layer ``norm_i`` before or after the activation. The activation is a layer of its
    own, ``act_i``, only when something comes between it and the Dense layer (normalisation
    before it) or it is learned ("prelu"); otherwise it is part of ``hidden_i``. Then a dropout layer
    ``drop_i``, and a residual connection ``add_i`` that adds the block's input to its output
    (from the second block on, where the widths match). Without normalisation, residuals or
    dropout the result is a plain ``keras.Sequential``; with any of them, a functional
    ``keras.Model`` with the same layer names.

    Parameters
    ----------
    depth : int
        Number of hidden layers, 1 to 100.
    width : int
        Units per hidden layer.
    activation : str
        One of :data:`FIXED_ACTIVATIONS`, or "prelu" (a ``keras.layers.PReLU`` layer ``act_i`` with a
        learned slope per unit), used by every hidden block.
    initializer : str
        One of :data:`INITIALIZERS`, for every kernel (biases start at zero); see
        :func:`kernel_initializer`.
    init_scale : float
        Multiplies the initializer's standard deviation (1 = the scheme as published).
    normalization : {None, "batch", "layer"}
        Batch or layer normalisation in every hidden block.
    norm_position : {"before", "after"}
        Normalise the pre-activation (as in Ioffe & Szegedy, 2015) or the activation's output.
    residual : bool
        Add each block's input to its output (He et al., 2016), from the second block on.
    dropout : float
        Dropout rate after every hidden block, in [0, 1).
    input_shape, num_classes, seed :
        The input (images are flattened), the number of classes, and the weight seed.

    Returns
    -------
    keras.Model (not compiled)

    Raises
    ------
    ValueError
        For any argument outside its range; the message says which and what is allowed.

    Examples
    --------
    >>> model = mlp(3, 16, "relu", "he", input_shape=(8,))
    >>> [layer.name for layer in model.layers]
    ['flatten', 'hidden_1', 'hidden_2', 'hidden_3', 'logits']
    >>> model = mlp(2, 16, "tanh", normalization="batch", residual=True, input_shape=(8,))
    >>> [layer.name for layer in model.layers][2:]
    ['hidden_1', 'norm_1', 'act_1', 'hidden_2', 'norm_2', 'act_2', 'add_2', 'logits']
    """
    input_shape = check_input_shape(input_shape)
    depth, width, num_classes = _check_network(depth, "width", width, activation, initializer, num_classes)
    init_scale = _check_scale(init_scale, "init_scale")
    remedies = _Remedies(normalization, norm_position, residual, dropout)

    def dense(i: int, act: str | None):
        init = kernel_initializer(initializer, scale=init_scale, seed=seed * 1000 + i - 1)
        return keras.layers.Dense(width, activation=act, kernel_initializer=init, name=f"hidden_{i}")

    blocks = [(_block(i, lambda act, i=i: dense(i, act), activation, remedies, seed), []) for i in range(1, depth + 1)]
    logits = keras.layers.Dense(num_classes, kernel_initializer=kernel_initializer(
        initializer, scale=init_scale, seed=seed * 1000 + depth), name="logits")
    return _assemble(
        input_shape, [keras.layers.Flatten(name="flatten")], blocks, [logits],
        residual=remedies.residual, sequential=not remedies.in_use and activation not in LEARNED_ACTIVATIONS,
        name=_model_name("mlp", depth, width, activation, initializer, remedies),
    )


def cnn(
    depth: int,
    filters: int = 16,
    activation: str = "relu",
    initializer: str = "he",
    *,
    init_scale: float = 1.0,
    normalization: str | None = None,
    norm_position: str = "before",
    residual: bool = False,
    dropout: float = 0.0,
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    pool_every: int | None = None,
    seed: int = 0,
):
    """A plain convolutional network of ``depth`` 3x3 'same' convolutions, then Dense logits.

    A 2x2 max-pooling follows every ``pool_every``-th convolution (default: about a third of the
    depth) but only while the feature map is at least 4 pixels on each side, so any depth from 1
    to 100 works on any input of at least 1x1.

    Parameters
    ----------
    depth : int
        Number of convolutions, 1 to 100.
    filters : int
        Channels of every convolution.
    activation, initializer, init_scale, input_shape, num_classes, seed :
        As for :func:`mlp` ("prelu" included).
    normalization, norm_position, residual, dropout :
        The remedies, as for :func:`mlp`: each convolution is a block ``hidden_i`` with optional
        ``norm_i``, ``act_i``, ``drop_i`` and, from the second block on, ``add_i`` (a 'same'
        convolution keeps its input's shape, so the residual always fits).
    pool_every : int, optional
        Pool after every this many convolutions.

    Returns
    -------
    keras.Model (not compiled): a ``keras.Sequential`` without remedies, as for :func:`mlp`.

    Raises
    ------
    ValueError
        For any argument outside its range.

    Examples
    --------
    >>> model = cnn(4, 8, pool_every=2, input_shape=(16, 16, 1))
    >>> [layer.name for layer in model.layers]
    ['hidden_1', 'hidden_2', 'pool_1', 'hidden_3', 'hidden_4', 'flatten', 'logits']
    """
    input_shape = check_input_shape(input_shape)
    depth, filters, num_classes = _check_network(depth, "filters", filters, activation, initializer, num_classes)
    if len(input_shape) != 3:
        raise ValueError(f"A CNN needs an image input_shape (height, width, channels), got {input_shape!r}.")
    init_scale = _check_scale(init_scale, "init_scale")
    pool_every = check_whole(pool_every, "pool_every", allow_none=True)
    if pool_every is None:
        pool_every = max(1, depth // 3)
    remedies = _Remedies(normalization, norm_position, residual, dropout)

    def convolution(i: int, act: str | None):
        init = kernel_initializer(initializer, scale=init_scale, seed=seed * 1000 + i - 1)
        return keras.layers.Conv2D(filters, 3, padding="same", activation=act, kernel_initializer=init, name=f"hidden_{i}")

    blocks, size, pools = [], min(input_shape[:2]), 0
    for i in range(1, depth + 1):
        after = []
        if i % pool_every == 0 and i < depth and size >= 4:
            pools, size = pools + 1, size // 2
            after.append(keras.layers.MaxPooling2D(2, name=f"pool_{pools}"))
        blocks.append((_block(i, lambda act, i=i: convolution(i, act), activation, remedies, seed), after))
    logits = keras.layers.Dense(num_classes, kernel_initializer=kernel_initializer(
        initializer, scale=init_scale, seed=seed * 1000 + depth), name="logits")
    return _assemble(
        input_shape, [], blocks, [keras.layers.Flatten(name="flatten"), logits],
        residual=remedies.residual, sequential=not remedies.in_use and activation not in LEARNED_ACTIVATIONS,
        name=_model_name("cnn", depth, filters, activation, initializer, remedies),
    )


@keras.saving.register_keras_serializable(package="gradbook")
class FusedBatchNormalization(keras.layers.Layer):
    """Keras's ``BatchNormalization`` over the last axis, computed by TensorFlow's fused kernel.

    Keras 3's ``BatchNormalization`` computes the batch mean and variance, normalises, scales and
    shifts with separate operations, each a pass over the activations; TensorFlow's
    ``FusedBatchNormV3`` kernel (which Keras 2 used by default) does the forward pass and the
    backward pass each in one, and updates the running averages in the same call. On a CPU, where
    these passes over memory cost more than a small network's arithmetic, that is several times
    faster. The result is the same normalisation, with the same weights (``gamma``, ``beta``,
    ``moving_mean``, ``moving_variance``), the same ``epsilon`` and the same momentum; the one
    difference is the kernel's: it folds the unbiased batch variance (divided by one less than the
    number of values) into ``moving_variance``, where Keras folds the biased one.

    TensorFlow backend only. Inputs of rank 4 (images) or 2 (features); other precisions are
    normalised in float32 and cast back.

    Parameters
    ----------
    momentum : float, default 0.99
        Of the running averages, in [0, 1), as for ``keras.layers.BatchNormalization``.
    epsilon : float, default 1e-3
        Added to the variance; at least 1.001e-5, the kernel's smallest.
    **kwargs :
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``).

    Raises
    ------
    ValueError
        For a momentum outside [0, 1), a too small epsilon, or an input of another rank.
    """

    def __init__(self, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        self.momentum = check_number(momentum, "momentum", maximum=1, include_minimum=True, include_maximum=False)
        self.epsilon = check_number(epsilon, "epsilon", minimum=1.001e-5, include_minimum=True)

    def build(self, input_shape) -> None:
        if len(input_shape) not in (2, 4):
            raise ValueError(f"FusedBatchNormalization normalises images (rank 4) or features (rank 2), got an "
                             f"input of shape {tuple(input_shape)}; use keras.layers.BatchNormalization for others.")
        channels = (input_shape[-1],)
        # Kept in float32 under a mixed precision policy too (autocast=False), as the kernel needs.
        self.gamma = self.add_weight(shape=channels, initializer="ones", autocast=False, name="gamma")
        self.beta = self.add_weight(shape=channels, initializer="zeros", autocast=False, name="beta")
        self.moving_mean = self.add_weight(shape=channels, initializer="zeros", trainable=False, autocast=False,
                                           name="moving_mean")
        self.moving_variance = self.add_weight(shape=channels, initializer="ones", trainable=False, autocast=False,
                                               name="moving_variance")

    def call(self, inputs, training: bool = False):
        import tensorflow as tf

        x = tf.cast(inputs, "float32")
        images = x if len(x.shape) == 4 else x[:, None, None, :]
        args = dict(scale=self.gamma, offset=self.beta, mean=self.moving_mean, variance=self.moving_variance,
                    epsilon=self.epsilon)
        if training:
            y, mean, variance = tf.compat.v1.nn.fused_batch_norm(images, **args, is_training=True,
                                                                 exponential_avg_factor=1 - self.momentum)[:3]
            self.moving_mean.assign(mean)
            self.moving_variance.assign(variance)
        else:
            y = tf.compat.v1.nn.fused_batch_norm(images, **args, is_training=False)[0]
        y = y if len(x.shape) == 4 else y[:, 0, 0, :]
        return tf.cast(y, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "epsilon": self.epsilon}


def fast_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    filters: tuple[int, int] = (32, 64),
    dropout: float = 0.3,
    hidden: int = 0,
    stem: int = 0,
    batch_norm_momentum: float = 0.99,
    fused_batch_norm: bool = False,
    dtype_policy: str | None = None,
    seed: int = 0,
):
    """A small CNN designed to train fast on a CPU: two strided convolutions, then logits.

    ``Conv 5x5/2 -> BatchNorm -> ReLU -> Conv 3x3/2 -> BatchNorm -> ReLU -> Dropout -> Dense``.
    Striding instead of pooling quarters the work of every later layer, and batch normalisation
    lets Adam take large steps from the first epoch. About 50,000 weights on 28x28 images.
    The defaults are chapter 6's network; the other knobs are the ingredients of its speed-run
    (:mod:`gradbook.speedrun`).

    Parameters
    ----------
    input_shape : (height, width, channels), default (28, 28, 1)
    num_classes : int, default 10
    filters : (int, int), default (32, 64)
        Channels of the two convolutions.
    dropout : float, default 0.3
        Dropout rate before the last layer (after the hidden dense layer, if there is one), in [0, 1).
    hidden : int, default 0
        Units of a dense layer (with batch normalisation and ReLU) between the convolutions and
        the logits; 0 for none. The dropout then comes after it, just before the logits' layer.
    stem : int, default 0
        Channels of a 3x3 convolution at full resolution (stride 1, with a bias and ReLU) before
        the two strided ones; the first strided convolution is then 2x2 (it only halves the
        resolution, the stem having looked at each pixel's neighbours). 0 for none. The stem has
        no batch normalisation of its own: the next layer's normalises what follows, and on the
        speed-run's validation split normalising the stem's output too added training time and
        no accuracy.
    batch_norm_momentum : float, default 0.99
        Momentum of the batch-normalisation layers' running averages, in [0, 1). Keras's default
        of 0.99 averages over about 100 steps, which lags behind a short run; 0.9 follows it.
    fused_batch_norm : bool, default False
        Normalise with :class:`FusedBatchNormalization` (TensorFlow's fused kernel) instead of
        ``keras.layers.BatchNormalization``: the same computation, faster on a CPU.
    dtype_policy : str, optional
        A Keras mixed-precision policy (``"mixed_float16"`` on a tensor-core GPU,
        ``"mixed_bfloat16"``); the logits layer always computes in float32, as Keras's
        mixed-precision guide requires. ``None`` keeps float32 throughout.
    seed : int, default 0
        Seed of the initial weights and of the dropout masks.

    Returns
    -------
    keras.Sequential (not compiled), outputting logits.

    Raises
    ------
    ValueError
        For an image shape that is not (height, width, channels), non-positive filter counts,
        a dropout rate or momentum outside [0, 1), a negative ``hidden`` or an unknown dtype policy.
    """
    input_shape = check_input_shape(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"fast_cnn needs an image input_shape (height, width, channels), got {input_shape!r}.")
    num_classes = check_whole(num_classes, "num_classes", minimum=2)
    if not isinstance(filters, (tuple, list)) or len(filters) != 2 or not all(is_whole(f) for f in filters):
        raise ValueError(f"filters must be two positive whole numbers, got {filters!r}.")
    dropout = check_number(dropout, "dropout", maximum=1, include_minimum=True, include_maximum=False)
    hidden = check_whole(hidden, "hidden", minimum=0)
    stem = check_whole(stem, "stem", minimum=0)
    batch_norm_momentum = check_number(batch_norm_momentum, "batch_norm_momentum", maximum=1,
                                       include_minimum=True, include_maximum=False)
    if not isinstance(fused_batch_norm, bool):
        raise ValueError(f"fused_batch_norm must be True or False, got {fused_batch_norm!r}.")
    check_choice(dtype_policy, "dtype_policy", _DTYPE_POLICIES, allow_none=True)
    L = keras.layers
    dt = dtype_policy
    init = keras.initializers.HeNormal
    momentum = batch_norm_momentum
    def norm(i: int):
        if fused_batch_norm:
            return FusedBatchNormalization(momentum=momentum, dtype=dt, name=f"norm_{i}")
        return L.BatchNormalization(momentum=momentum, dtype=dt, name=f"norm_{i}")

    front = []
    if stem:
        # A bias and no batch normalisation of its own: the first strided convolution's normalises
        # what follows, and normalising every pixel's features costs time (see the docstring).
        front = [L.Conv2D(stem, 3, padding="same", kernel_initializer=init(seed=seed + 4), dtype=dt, name="stem"),
                 L.ReLU(dtype=dt, name="act_0")]
    head = [L.Dropout(dropout, seed=seed, dtype=dt, name="dropout")]
    if hidden:
        head = [
            L.Dense(hidden, use_bias=False, kernel_initializer=init(seed=seed + 3), dtype=dt, name="hidden"),
            norm(3),
            L.ReLU(dtype=dt, name="act_3"),
            *head,
        ]
    return keras.Sequential(
        [
            keras.Input(input_shape),
            *front,
            L.Conv2D(filters[0], 2 if stem else 5, strides=2, padding="same", use_bias=False,
                     kernel_initializer=init(seed=seed), dtype=dt, name="conv_1"),
            norm(1),
            L.ReLU(dtype=dt, name="act_1"),
            L.Conv2D(filters[1], 3, strides=2, padding="same", use_bias=False,
                     kernel_initializer=init(seed=seed + 1), dtype=dt, name="conv_2"),
            norm(2),
            L.ReLU(dtype=dt, name="act_2"),
            L.Flatten(dtype=dt, name="flatten"),
            *head,
            L.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
                    dtype="float32", name="logits"),
        ],
        name="fast_cnn",
    )
