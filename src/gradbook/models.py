"""Model builders for experiments on depth: MLPs and CNNs from 1 to 100 layers.

Both builders take the knobs chapters 4 and 5 turn (depth, activation, initializer and its
scale; for the MLP also normalisation, residual connections and dropout) and return an
uncompiled Keras model whose hidden layers are named ``hidden_1 ... hidden_n`` and whose last
layer, ``logits``, outputs logits. Weights are seeded.
"""

from __future__ import annotations

import math
from typing import Sequence

from gradbook import backprop
from gradbook.validation import check_input_shape, is_whole

__all__ = ["ACTIVATIONS", "INITIALIZERS", "LEARNED_ACTIVATIONS", "NORMALIZATIONS", "cnn", "fast_cnn", "initializer", "mlp"]

#: Activation names the builders accept (Keras names): the book's activations, and "linear".
ACTIVATIONS: tuple[str, ...] = (*backprop.ACTIVATIONS, "linear")

#: Activations with learned parameters, which :func:`mlp` adds as layers of their own.
LEARNED_ACTIVATIONS: tuple[str, ...] = ("prelu",)

#: Initializer names the builders accept. "glorot" is Keras's default (glorot_uniform).
INITIALIZERS: tuple[str, ...] = ("glorot", "he", "lecun", "normal")

#: Normalisation layers :func:`mlp` can insert in every hidden block.
NORMALIZATIONS: tuple[str, ...] = ("batch", "layer")

_MAX_DEPTH = 100


def initializer(name: str, *, scale: float = 1.0, seed: int = 0):
    """A Keras initializer whose standard deviation is ``scale`` times the named scheme's.

    ``"glorot"``: uniform with variance ``2 / (fan_in + fan_out)`` (Keras's default);
    ``"he"``: truncated normal with variance ``2 / fan_in``; ``"lecun"``: truncated normal with
    variance ``1 / fan_in``; ``"normal"``: a naive fixed normal with standard deviation 0.05
    (Keras's ``RandomNormal`` default), whatever the layer's size.

    Raises
    ------
    ValueError
        For an unknown name or a scale that is not a positive number.
    """
    import keras

    if name not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {name!r}. Choose one of: {', '.join(INITIALIZERS)}.")
    _check_scale("scale", scale)
    variance = scale**2
    if name == "glorot":
        return keras.initializers.VarianceScaling(variance, "fan_avg", "uniform", seed=seed)
    if name == "he":
        return keras.initializers.VarianceScaling(2.0 * variance, "fan_in", "truncated_normal", seed=seed)
    if name == "lecun":
        return keras.initializers.VarianceScaling(variance, "fan_in", "truncated_normal", seed=seed)
    return keras.initializers.RandomNormal(stddev=0.05 * scale, seed=seed)


def _check_scale(label: str, scale) -> None:
    if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or not 0 < scale <= 1e100:
        raise ValueError(f"{label} must be a positive number (at most 1e100), got {scale!r}.")


def _check(depth, width_name: str, width, activation: str, init: str, input_shape, num_classes, *, learned: bool = False) -> None:
    if not is_whole(depth, numpy=False) or depth > _MAX_DEPTH:
        raise ValueError(f"depth must be a whole number from 1 to {_MAX_DEPTH}, got {depth!r}.")
    if not is_whole(width, numpy=False):
        raise ValueError(f"{width_name} must be a whole number >= 1, got {width!r}.")
    allowed = ACTIVATIONS + (LEARNED_ACTIVATIONS if learned else ())
    if activation not in allowed:
        raise ValueError(f"Unknown activation {activation!r}. Choose one of: {', '.join(allowed)}.")
    if init not in INITIALIZERS:
        raise ValueError(f"Unknown initializer {init!r}. Choose one of: {', '.join(INITIALIZERS)}.")
    if not is_whole(num_classes, 2, numpy=False):
        raise ValueError(f"num_classes must be a whole number >= 2, got {num_classes!r}.")


def mlp(
    depth: int,
    width: int = 64,
    activation: str = "sigmoid",
    initializer_name: str = "glorot",
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
        One of :data:`ACTIVATIONS`, or "prelu" (a ``keras.layers.PReLU`` layer ``act_i`` with a
        learned slope per unit), used by every hidden block.
    initializer_name : str
        One of :data:`INITIALIZERS`, for every kernel (biases start at zero).
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
    """
    import keras

    input_shape = check_input_shape(input_shape)
    _check(depth, "width", width, activation, initializer_name, input_shape, num_classes, learned=True)
    _check_scale("init_scale", init_scale)
    if _check_remedies(normalization, norm_position, residual, dropout) or activation in LEARNED_ACTIVATIONS:
        return _block_mlp(depth, width, activation, initializer_name, init_scale, normalization,
                          norm_position, residual, float(dropout), input_shape, num_classes, seed)
    layers = [keras.Input(input_shape), keras.layers.Flatten(name="flatten")]
    for i in range(depth):
        layers.append(keras.layers.Dense(
            width,
            activation=activation,
            kernel_initializer=initializer(initializer_name, scale=init_scale, seed=seed * 1000 + i),
            name=f"hidden_{i + 1}",
        ))
    layers.append(keras.layers.Dense(
        num_classes, kernel_initializer=initializer(initializer_name, scale=init_scale, seed=seed * 1000 + depth), name="logits"
    ))
    return keras.Sequential(layers, name=f"mlp_{depth}x{width}_{activation}_{initializer_name}")


def _norm_layer(kind: str, i: int):
    import keras

    if kind == "batch":
        # momentum 0.9 (Keras: 0.99) so the moving statistics used at test time settle within
        # the few hundred steps of a short run.
        return keras.layers.BatchNormalization(momentum=0.9, name=f"norm_{i}")
    return keras.layers.LayerNormalization(name=f"norm_{i}")


def _act_layer(activation: str, i: int):
    import keras

    if activation == "prelu":
        return keras.layers.PReLU(name=f"act_{i}")
    return keras.layers.Activation(activation, name=f"act_{i}")


def _remedy_block(h, i: int, weighted, activation, normalization, norm_position, residual, dropout, seed):
    """One hidden block: ``weighted(activation)`` is its Dense or Conv2D layer (activation None
    when the activation must be a layer of its own), then optional normalisation before or after
    the activation, dropout, and a residual add from the second block on."""
    import keras

    if activation in LEARNED_ACTIVATIONS or (normalization is not None and norm_position == "before"):
        z = weighted(None)(h)
        if normalization is not None and norm_position == "before":
            out = _act_layer(activation, i)(_norm_layer(normalization, i)(z))
        elif normalization is not None:
            out = _norm_layer(normalization, i)(_act_layer(activation, i)(z))
        else:
            out = _act_layer(activation, i)(z)
    else:
        out = weighted(activation)(h)
        if normalization is not None:
            out = _norm_layer(normalization, i)(out)
    if dropout > 0:
        out = keras.layers.Dropout(dropout, seed=seed * 1000 + i, name=f"drop_{i}")(out)
    return keras.layers.Add(name=f"add_{i}")([h, out]) if residual and i > 1 else out


def _check_remedies(normalization, norm_position, residual, dropout) -> bool:
    """Validate the remedy arguments; True when any is in use."""
    if normalization is not None and normalization not in NORMALIZATIONS:
        raise ValueError(f"Unknown normalization {normalization!r}. Choose None or one of: {', '.join(NORMALIZATIONS)}.")
    if norm_position not in ("before", "after"):
        raise ValueError(f"norm_position must be 'before' or 'after' the activation, got {norm_position!r}.")
    if not isinstance(residual, bool):
        raise ValueError(f"residual must be True or False, got {residual!r}.")
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
        raise ValueError(f"dropout must be a rate in [0, 1), got {dropout!r}.")
    return normalization is not None or residual or dropout > 0


def _model_name(kind, depth, width, activation, init_name, normalization, norm_position, residual, dropout) -> str:
    parts = [activation, init_name] + ([f"{normalization}norm-{norm_position}"] if normalization else []) \
        + (["residual"] if residual else []) + ([f"dropout{dropout:g}"] if dropout else [])
    return f"{kind}_{depth}x{width}_" + "_".join(parts)


def _block_mlp(depth, width, activation, init_name, init_scale, normalization, norm_position,
               residual, dropout, input_shape, num_classes, seed):
    """The functional MLP behind :func:`mlp` when blocks have more than Dense + activation."""
    import keras

    inputs = keras.Input(input_shape)
    h = keras.layers.Flatten(name="flatten")(inputs)
    for i in range(1, depth + 1):
        kernel_init = initializer(init_name, scale=init_scale, seed=seed * 1000 + i - 1)

        def dense(act, i=i, kernel_init=kernel_init):
            return keras.layers.Dense(width, activation=act, kernel_initializer=kernel_init, name=f"hidden_{i}")

        h = _remedy_block(h, i, dense, activation, normalization, norm_position, residual, dropout, seed)
    logits = keras.layers.Dense(num_classes, kernel_initializer=initializer(init_name, scale=init_scale, seed=seed * 1000 + depth),
                                name="logits")(h)
    return keras.Model(inputs, logits, name=_model_name("mlp", depth, width, activation, init_name, normalization,
                                                       norm_position, residual, dropout))


def cnn(
    depth: int,
    filters: int = 16,
    activation: str = "relu",
    initializer_name: str = "he",
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
    activation, initializer_name, init_scale, input_shape, num_classes, seed :
        As for :func:`mlp` ("prelu" included).
    normalization, norm_position, residual, dropout :
        The remedies, as for :func:`mlp`: each convolution is a block ``hidden_i`` with optional
        ``norm_i``, ``act_i``, ``drop_i`` and, from the second block on, ``add_i`` (a 'same'
        convolution keeps its input's shape, so the residual always fits).
    pool_every : int, optional
        Pool after every this many convolutions.

    Returns
    -------
    keras.Sequential (not compiled)

    Raises
    ------
    ValueError
        For any argument outside its range.
    """
    import keras

    input_shape = check_input_shape(input_shape)
    _check(depth, "filters", filters, activation, initializer_name, input_shape, num_classes, learned=True)
    if len(input_shape) != 3:
        raise ValueError(f"A CNN needs an image input_shape (height, width, channels), got {input_shape!r}.")
    _check_scale("init_scale", init_scale)
    if pool_every is None:
        pool_every = max(1, depth // 3)
    if not is_whole(pool_every, numpy=False):
        raise ValueError(f"pool_every must be a whole number >= 1, got {pool_every!r}.")
    if _check_remedies(normalization, norm_position, residual, dropout) or activation in LEARNED_ACTIVATIONS:
        return _block_cnn(depth, filters, activation, initializer_name, init_scale, normalization, norm_position,
                          residual, float(dropout), input_shape, num_classes, pool_every, seed)
    layers = [keras.Input(input_shape)]
    h, w = input_shape[0], input_shape[1]
    pools = 0
    for i in range(depth):
        layers.append(keras.layers.Conv2D(
            filters, 3, padding="same", activation=activation,
            kernel_initializer=initializer(initializer_name, scale=init_scale, seed=seed * 1000 + i),
            name=f"hidden_{i + 1}",
        ))
        if (i + 1) % pool_every == 0 and i + 1 < depth and min(h, w) >= 4:
            pools += 1
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool_{pools}"))
            h, w = h // 2, w // 2
    layers.append(keras.layers.Flatten(name="flatten"))
    layers.append(keras.layers.Dense(
        num_classes, kernel_initializer=initializer(initializer_name, scale=init_scale, seed=seed * 1000 + depth), name="logits"
    ))
    return keras.Sequential(layers, name=f"cnn_{depth}x{filters}_{activation}_{initializer_name}")


def _block_cnn(depth, filters, activation, init_name, init_scale, normalization, norm_position,
               residual, dropout, input_shape, num_classes, pool_every, seed):
    """The functional CNN behind :func:`cnn` when blocks have more than Conv2D + activation."""
    import keras

    inputs = keras.Input(input_shape)
    h = inputs
    size = min(input_shape[0], input_shape[1])
    pools = 0
    for i in range(1, depth + 1):
        kernel_init = initializer(init_name, scale=init_scale, seed=seed * 1000 + i - 1)

        def convolution(act, i=i, kernel_init=kernel_init):
            return keras.layers.Conv2D(filters, 3, padding="same", activation=act, kernel_initializer=kernel_init, name=f"hidden_{i}")

        h = _remedy_block(h, i, convolution, activation, normalization, norm_position, residual, dropout, seed)
        if i % pool_every == 0 and i < depth and size >= 4:
            pools += 1
            h = keras.layers.MaxPooling2D(2, name=f"pool_{pools}")(h)
            size //= 2
    h = keras.layers.Flatten(name="flatten")(h)
    logits = keras.layers.Dense(num_classes, kernel_initializer=initializer(init_name, scale=init_scale, seed=seed * 1000 + depth),
                                name="logits")(h)
    return keras.Model(inputs, logits, name=_model_name("cnn", depth, filters, activation, init_name, normalization,
                                                       norm_position, residual, dropout))


def fast_cnn(
    input_shape: Sequence[int] = (28, 28, 1),
    num_classes: int = 10,
    *,
    filters: tuple[int, int] = (32, 64),
    dropout: float = 0.3,
    dtype_policy: str | None = None,
    seed: int = 0,
):
    """A small CNN designed to train fast on a CPU: two strided convolutions, then logits.

    ``Conv 5x5/2 -> BatchNorm -> ReLU -> Conv 3x3/2 -> BatchNorm -> ReLU -> Dropout -> Dense``.
    Striding instead of pooling quarters the work of every later layer, and batch normalisation
    lets Adam take large steps from the first epoch. About 50,000 weights on 28x28 images.

    Parameters
    ----------
    input_shape : (height, width, channels), default (28, 28, 1)
    num_classes : int, default 10
    filters : (int, int), default (32, 64)
        Channels of the two convolutions.
    dropout : float, default 0.3
        Dropout rate before the last layer, in [0, 1).
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
        a dropout rate outside [0, 1) or an unknown dtype policy.
    """
    import keras

    input_shape = check_input_shape(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"fast_cnn needs an image input_shape (height, width, channels), got {input_shape!r}.")
    if not is_whole(num_classes) or num_classes < 2:
        raise ValueError(f"num_classes must be a whole number >= 2, got {num_classes!r}.")
    if not isinstance(filters, (tuple, list)) or len(filters) != 2 or not all(is_whole(f) for f in filters):
        raise ValueError(f"filters must be two positive whole numbers, got {filters!r}.")
    if isinstance(dropout, bool) or not (isinstance(dropout, (int, float)) and 0.0 <= dropout < 1.0):
        raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}.")
    policies = (None, "float32", "mixed_float16", "mixed_bfloat16")
    if dtype_policy not in policies:
        raise ValueError(f"Unknown dtype_policy {dtype_policy!r}; use one of {policies}.")
    L = keras.layers
    dt = dtype_policy
    init = keras.initializers.HeNormal
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(filters[0], 5, strides=2, padding="same", use_bias=False,
                     kernel_initializer=init(seed=seed), dtype=dt, name="conv_1"),
            L.BatchNormalization(dtype=dt, name="norm_1"),
            L.ReLU(dtype=dt, name="act_1"),
            L.Conv2D(filters[1], 3, strides=2, padding="same", use_bias=False,
                     kernel_initializer=init(seed=seed + 1), dtype=dt, name="conv_2"),
            L.BatchNormalization(dtype=dt, name="norm_2"),
            L.ReLU(dtype=dt, name="act_2"),
            L.Flatten(dtype=dt, name="flatten"),
            L.Dropout(dropout, seed=seed, dtype=dt, name="dropout"),
            L.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2),
                    dtype="float32", name="logits"),
        ],
        name="fast_cnn",
    )
