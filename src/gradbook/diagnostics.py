"""Measuring vanishing and exploding gradients, layer by layer.

* :func:`layer_gradient_norms`: the gradient norm of every layer's kernel, from one
  ``tf.GradientTape`` pass, input side first;
* :func:`activation_stats`: mean, spread and saturation of every layer's output;
* :class:`GradientHistory`: a Keras callback recording the per-layer norms during ``fit``;
* :func:`input_gradient_norms_over_time`: for a recurrent network, the gradient norm with respect
  to the input at each time step, from one ``tf.GradientTape`` pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import keras
import numpy as np

from gradbook.validation import check_whole

__all__ = [
    "ActivationStats",
    "GradientHistory",
    "LayerNorm",
    "NormTable",
    "SATURATION_MARGIN",
    "activation_stats",
    "input_gradient_norms_over_time",
    "layer_gradient_norms",
]

#: Distance from a bound that counts as saturated for sigmoid and tanh.
SATURATION_MARGIN = 1e-2


@dataclass(frozen=True)
class LayerNorm:
    """One row of :class:`NormTable`."""

    layer: str
    depth: int
    norm: float
    params: int


class NormTable(tuple):
    """Per-layer gradient norms, input side first: a tuple of :class:`LayerNorm` rows."""

    @property
    def norms(self) -> np.ndarray:
        """The rows' norms, input side first."""
        return np.array([r.norm for r in self])

    @property
    def layers(self) -> list[str]:
        """The rows' layer names, input side first."""
        return [r.layer for r in self]

    @property
    def ratio(self) -> float:
        """First-layer norm divided by last-layer norm: below 1 means the gradient shrinks
        on its way back to the input (vanishing), above 1 that it grows (exploding)."""
        last = self[-1].norm
        return float(self[0].norm / last) if last > 0 else float("inf")

    def __repr__(self) -> str:
        lines = [f"{'layer':>12} {'depth':>5} {'gradient norm':>14} {'params':>8}"]
        lines += [f"{r.layer:>12} {r.depth:>5} {r.norm:>14.3e} {r.params:>8}" for r in self]
        return "\n".join(lines)


def _weighted_layers(model) -> list[Any]:
    layers = [l for l in model.layers if getattr(l, "kernel", None) is not None and l.trainable]
    if not layers:
        raise ValueError(f"Model {model.name!r} has no trainable layer with a kernel.")
    return layers


def _default_loss():
    import keras

    return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _check_batch(model, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"Need a non-empty batch with one label per example; got {len(x)} inputs and {len(y)} labels.")
    expected = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if expected is not None and tuple(x.shape[1:]) != expected:
        raise ValueError(f"x has examples of shape {x.shape[1:]}, but the model expects {expected}.")
    return x, y


def layer_gradient_norms(model, x, y, loss: Callable | None = None, *, training: bool = False) -> NormTable:
    """The L2 norm of the loss gradient with respect to each layer's kernel.

    The gradient is computed in the model's precision (float32); its norm is taken in float64, so
    it is 0 only when every entry of the gradient is 0, and the norm of a gradient whose entries
    are all far below float32's smallest normal number (about 1e-38) is still measured.

    Parameters
    ----------
    model : keras.Model
        Its layers with a ``kernel`` (Dense, Conv2D) are measured, in model order.
    x, y :
        One batch of inputs and integer labels.
    loss : callable, optional
        ``loss(y_true, y_pred)``; default: sparse categorical cross-entropy on logits.
    training : bool, default False
        Run the model as ``fit`` does: batch normalisation uses the batch's statistics and
        dropout is active. The model's non-trainable state (batch-norm moving averages) is
        restored afterwards, so measuring never changes the model.

    Returns
    -------
    NormTable
        One :class:`LayerNorm` per weighted layer: name, depth index (1 = nearest the input),
        gradient norm, parameter count.

    Raises
    ------
    ValueError
        For a batch that does not fit the model, or a non-finite loss or gradient (the message
        says which layer and suggests a smaller initial scale or learning rate).
    """
    import tensorflow as tf

    x, y = _check_batch(model, x, y)
    loss = loss or _default_loss()
    layers = _weighted_layers(model)
    kernels = [l.kernel for l in layers]
    saved = [v.numpy() for v in model.non_trainable_variables] if training else []
    with tf.GradientTape() as tape:
        value = loss(y, model(x, training=training))
    grads = tape.gradient(value, kernels)
    for v, old in zip(model.non_trainable_variables if training else [], saved):
        v.assign(old)
    if not np.isfinite(float(value)):
        raise ValueError(
            f"The loss is {float(value)} for this model and batch, so its gradients are meaningless. "
            "The activations overflowed: use a smaller initial weight scale or, if the weights "
            "have been trained, a smaller learning rate (the training diverged)."
        )
    rows = []
    for depth, (layer, g) in enumerate(zip(layers, grads), start=1):
        # In float64: squaring float32 entries below about 1e-19 would give 0, and tf.norm would
        # report a small but non-zero gradient as exactly 0.
        norm = float(np.linalg.norm(np.asarray(g, dtype=np.float64))) if g is not None else 0.0
        if not np.isfinite(norm):
            raise ValueError(f"The gradient of layer {layer.name!r} is not finite ({norm}): use a smaller "
                             "initial weight scale or, if the weights have been trained, a smaller learning rate.")
        rows.append(LayerNorm(layer.name, depth, norm, int(layer.count_params())))
    return NormTable(rows)


@dataclass(frozen=True)
class ActivationStats:
    """Statistics of one layer's output over a batch."""

    layer: str
    depth: int
    activation: str
    mean: float
    std: float
    saturated: float
    values: np.ndarray

    def __repr__(self) -> str:
        return (f"ActivationStats({self.layer}: {self.activation}, mean {self.mean:.3g}, std {self.std:.3g}, "
                f"saturated {self.saturated:.1%})")


def _saturated_fraction(activation: str, a: np.ndarray) -> float:
    if activation == "sigmoid":
        return float(np.mean((a < SATURATION_MARGIN) | (a > 1 - SATURATION_MARGIN)))
    if activation == "tanh":
        return float(np.mean(np.abs(a) > 1 - SATURATION_MARGIN))
    if activation == "relu":
        return float(np.mean(a == 0))
    return float("nan")  # no saturation notion for linear, ELU, GELU, leaky ReLU


def _block_outputs(model) -> list[tuple[Any, str]]:
    """For each hidden block: the layer whose output is the block's activation, and its name."""
    chosen = []
    for layer in model.layers:
        name = layer.name
        if not name.startswith("hidden_"):
            continue
        index = name.split("_", 1)[1]
        try:
            act = model.get_layer(f"act_{index}")
        except ValueError:
            act = layer
        name_of = getattr(getattr(act, "activation", None), "__name__", None) or type(act).__name__.lower()
        chosen.append((act, name_of))
    if not chosen:
        raise ValueError(f"Model {model.name!r} has no layers named hidden_1, hidden_2, ... (use gradbook.models).")
    return chosen


def activation_stats(model, x, *, sample: int = 2000, seed: int = 0) -> list[ActivationStats]:
    """Mean, standard deviation and saturated fraction of each hidden block's activations.

    Works on the models of :mod:`gradbook.models` (plain or with normalisation, dropout and
    residual connections): block ``i`` is measured at the output of its activation (layer
    ``act_i`` if present, else ``hidden_i``), in inference mode.

    Saturated means: within :data:`SATURATION_MARGIN` of 0 or 1 for sigmoid, of -1 or 1 for tanh,
    exactly 0 for ReLU (a dead unit passes no gradient); NaN for activations without a flat
    region. ``values`` keeps a random sample of ``sample`` output values for histograms.

    Parameters
    ----------
    model : keras.Model
        A model of :mod:`gradbook.models` (its hidden blocks are named ``hidden_1``, ...).
    x : array_like
        The inputs to measure on (converted to float32).
    sample : int, default 2000
        How many output values of each block ``values`` keeps (all of them when fewer).
    seed : int, default 0
        Seeds the choice of the sample.

    Returns
    -------
    list of ActivationStats
        One per hidden block, input side first.

    Raises
    ------
    ValueError
        If the model has no layers named ``hidden_1``, ``hidden_2``, ...
    """
    import keras

    blocks = _block_outputs(model)
    probe = keras.Model(model.inputs[0], [layer.output for layer, _ in blocks])
    outputs = probe(np.asarray(x, dtype=np.float32), training=False)
    if not isinstance(outputs, (list, tuple)):
        outputs = [outputs]
    rng = np.random.default_rng(seed)
    stats = []
    for depth, ((layer, name), out) in enumerate(zip(blocks, outputs), start=1):
        a = np.asarray(out).ravel()
        pick = a if a.size <= sample else rng.choice(a, size=sample, replace=False)
        stats.append(ActivationStats(layer.name, depth, name, float(a.mean()), float(a.std()),
                                     _saturated_fraction(name, a), pick))
    return stats


class GradientHistory(keras.callbacks.Callback):
    """A Keras callback that records per-layer gradient norms every ``every`` training steps.

    The norms are measured on a fixed probe batch ``(x, y)`` with :func:`layer_gradient_norms`,
    so they are comparable from step to step and cost one extra forward and backward pass on a
    small batch every ``every`` steps, nothing in between.

    Attributes
    ----------
    steps : list of int
        The training step (batch count) of each record; 0 is before training.
    norms : numpy.ndarray
        Shape (records, layers).
    layers : list of str
    """

    def __init__(self, x, y, *, every: int = 50, loss: Callable | None = None):
        super().__init__()
        self.every = check_whole(every, "every")
        self.x, self.y = np.asarray(x, dtype=np.float32), np.asarray(y)
        self.loss = loss
        self.steps: list[int] = []
        self._rows: list[np.ndarray] = []
        self.layers: list[str] = []
        self._step = 0

    def _record(self) -> None:
        table = layer_gradient_norms(self.model, self.x, self.y, self.loss)
        self.layers = table.layers
        self.steps.append(self._step)
        self._rows.append(table.norms)

    def on_train_begin(self, logs=None) -> None:
        if not self.steps:
            self._record()

    def on_train_batch_end(self, batch, logs=None) -> None:
        self._step += 1
        if self._step % self.every == 0:
            self._record()

    @property
    def norms(self) -> np.ndarray:
        """The records so far, shape (records, layers)."""
        return np.array(self._rows)


def _check_sequences(model, x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float32)
    y = np.asarray(y)
    if x.ndim != 3:
        raise ValueError(f"x must be a batch of sequences, shape (examples, time steps, features); got shape {x.shape}.")
    if len(x) == 0 or len(x) != len(y):
        raise ValueError(f"Need a non-empty batch with one label per example; got {len(x)} inputs and {len(y)} labels.")
    expected = tuple(model.inputs[0].shape[1:]) if getattr(model, "inputs", None) else None
    if expected is not None and (len(expected) != 2 or any(e is not None and e != n for e, n in zip(expected, x.shape[1:]))):
        raise ValueError(f"x has sequences of shape {x.shape[1:]}, but the model expects {expected}.")
    return x, y


def input_gradient_norms_over_time(model, x, y, loss: Callable | None = None) -> np.ndarray:
    """The L2 norm of the loss gradient with respect to the input at each time step.

    For a batch of sequences ``x`` of shape (examples, time steps, features), the gradient
    :math:`\\partial L/\\partial x_t` is taken by one ``tf.GradientTape`` pass in inference mode,
    and its norm over the examples and features is returned for every step ``t``. In a recurrent
    network the gradient reaching step ``t`` has passed back through the steps after it, so the
    norms show how the gradient fades (or grows) on its way back through time. As in
    :func:`layer_gradient_norms`, the norms are taken in float64. The model's weights are not
    changed.

    Parameters
    ----------
    model : keras.Model
        Takes sequences of shape (time steps, features); a ``None`` dimension in its input
        shape accepts any length. With the default loss it must give one output per sequence
        (for example a recurrent layer without ``return_sequences`` and a dense layer); a model
        that gives one output per time step (``return_sequences=True``) fails Keras's check of
        the loss's shapes, which raises a ``ValueError``.
    x : array_like
        The sequences, shape (examples, time steps, features); converted to float32.
    y : array_like
        One target per example.
    loss : callable, optional
        ``loss(y_true, y_pred)``; default: sparse categorical cross-entropy on logits.

    Returns
    -------
    numpy.ndarray
        Shape (time steps,), float64: entry ``t`` is :math:`\\lVert \\partial L/\\partial x_t \\rVert`.

    Raises
    ------
    ValueError
        If ``x`` is not 3-D, the batch is empty, there is not one target per example, the
        sequences do not fit the model's input shape, or the loss or gradient is not finite.

    Examples
    --------
    A linear recurrent unit, :math:`h_t = x_t + 0.5\\,h_{t-1}`, read out as :math:`L = h_4`: the
    input at step ``t`` reaches the loss multiplied by :math:`0.5^{4-t}`.

    >>> import keras
    >>> model = keras.Sequential([keras.Input((4, 1)),
    ...                           keras.layers.SimpleRNN(1, activation=None, use_bias=False)])
    >>> model.set_weights([np.ones((1, 1)), np.full((1, 1), 0.5)])
    >>> input_gradient_norms_over_time(model, np.ones((1, 4, 1)), [0.0], loss=lambda y, h: h[0, 0])
    array([0.125, 0.25 , 0.5  , 1.   ])
    """
    import tensorflow as tf

    x, y = _check_sequences(model, x, y)
    loss = loss or _default_loss()
    inputs = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        value = loss(y, model(inputs, training=False))
    if not np.isfinite(float(value)):
        raise ValueError(f"The loss is {float(value)} for this model and batch, so its gradient is meaningless: "
                         "the recurrent state overflowed; use smaller inputs or smaller recurrent weights.")
    grad = tape.gradient(value, inputs)
    if grad is None:
        raise ValueError(f"The loss does not depend on the input of model {model.name!r}.")
    norms = np.sqrt(np.sum(np.square(np.asarray(grad, dtype=np.float64)), axis=(0, 2)))
    if not np.all(np.isfinite(norms)):
        raise ValueError("The gradient with respect to the input is not finite: use smaller inputs or smaller "
                         "recurrent weights.")
    return norms
