"""A small, seeded training helper over ``model.fit``.

:func:`train` adds three things to a bare ``model.fit`` and nothing else, so it runs as fast:
a seed, the wall time, and a clear :class:`TrainingDiverged` error (instead of a history full of
NaN) when the loss stops being a finite number. :func:`train_cnn` builds and trains chapter 6's CNN
with it.

Optimizers and learning-rate schedules are in :mod:`gradbook.optimizers`, the ``tf.data`` input
pipeline in :mod:`gradbook.data`, and mixed precision in :mod:`gradbook.hardware`.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

from gradbook import optimizers
from gradbook.validation import check_number, check_whole

__all__ = ["TrainResult", "TrainingDiverged", "train", "train_cnn"]


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite during training.

    Attributes
    ----------
    epoch : int
        The (1-based) epoch whose loss was not finite.
    history : dict
        The history up to and including that epoch.
    """

    def __init__(self, message: str, *, epoch: int, history: dict[str, list[float]]):
        super().__init__(message)
        self.epoch = epoch
        self.history = history


@dataclass(frozen=True)
class TrainResult:
    """What one call of :func:`train` produced.

    Attributes
    ----------
    history : dict of str to list of float
        Keras's per-epoch metrics (``loss``, ``accuracy``, ``val_loss``, ...), plus the
        ``learning_rate`` in force at the end of each epoch.
    seconds : float
        Wall time of ``model.fit``.
    examples_per_second : float
        Training examples processed per second of wall time (NaN when the number of examples is
        unknown, as for a ``tf.data.Dataset``).
    epoch_seconds : tuple of float
        Wall time of each epoch, validation included.
    examples : int or None
        Training examples per epoch, or None when unknown (a ``tf.data.Dataset``); what
        :attr:`images_per_second` divides by.
    """

    history: dict[str, list[float]] = field(repr=False)
    seconds: float
    examples_per_second: float
    epoch_seconds: tuple[float, ...] = ()
    examples: int | None = None

    @property
    def images_per_second(self) -> list[float]:
        """Training examples per second in each epoch (NaN where the count is unknown)."""
        if not self.examples:
            return [float("nan")] * len(self.epoch_seconds)
        return [self.examples / s if s > 0 else float("nan") for s in self.epoch_seconds]

    @property
    def epochs(self) -> int:
        """How many epochs ran: the length of the ``loss`` history.

        Returns
        -------
        int
            The epochs completed, which is fewer than asked for when a run was stopped early
            (the panel's Stop button, early stopping); 0 for an empty history.

        Examples
        --------
        >>> TrainResult(history={"loss": [0.9, 0.5]}, seconds=1.0, examples_per_second=100.0).epochs
        2
        """
        return len(self.history.get("loss", []))

    def final(self, metric: str) -> float:
        """The last epoch's value of ``metric``.

        Parameters
        ----------
        metric : str
            A key of :attr:`history`, for example ``"val_accuracy"``.

        Returns
        -------
        float

        Raises
        ------
        KeyError
            If ``metric`` was not recorded (the message lists those that were).

        Examples
        --------
        >>> TrainResult(history={"loss": [0.9, 0.5]}, seconds=1.0, examples_per_second=100.0).final("loss")
        0.5
        """
        if metric not in self.history:
            raise KeyError(f"No metric {metric!r}; recorded: {', '.join(sorted(self.history))}.")
        return self.history[metric][-1]


def _divergence_callback():
    import keras

    class _StopOnNonFinite(keras.callbacks.Callback):
        """Stop at the end of the first epoch whose loss is not finite."""

        def __init__(self) -> None:
            super().__init__()
            self.bad_epoch: int | None = None
            self.learning_rates: list[float] = []
            self.epoch_seconds: list[float] = []
            self._epoch_start = 0.0

        def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self._epoch_start = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            self.epoch_seconds.append(time.perf_counter() - self._epoch_start)
            self.learning_rates.append(_current_learning_rate(self.model))
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.bad_epoch = epoch + 1
                self.model.stop_training = True

    return _StopOnNonFinite()


def _current_learning_rate(model) -> float:
    """The learning rate in force now (schedules evaluated at the current step)."""
    from keras import ops

    return float(ops.convert_to_numpy(model.optimizer.learning_rate))  # a mirrored variable under a strategy


def train(
    model,
    x,
    y=None,
    *,
    epochs: int = 1,
    batch_size: int | None = 32,
    validation_data=None,
    validation_split: float = 0.0,
    callbacks: Sequence[Any] = (),
    seed: int = 0,
    verbose: int = 0,
    strategy=None,
) -> TrainResult:
    """Train a compiled Keras model with a fixed seed and a clean stop on divergence.

    Parameters
    ----------
    model : keras.Model
        A compiled model. Build it after ``keras.utils.set_random_seed(seed)`` so that its
        initial weights are reproducible too.
    x, y :
        Training data, exactly as for ``model.fit`` (arrays, or a ``tf.data.Dataset`` as ``x``).
    epochs : int, default 1
    batch_size : int or None, default 32
        Ignored by Keras when ``x`` is a dataset; pass ``None`` then.
    validation_data : optional
        As for ``model.fit``.
    validation_split : float, default 0.0
        As for ``model.fit``: hold out this last fraction of the training arrays for validation
        (the honest alternative to validating on the test set).
    callbacks : sequence of keras.callbacks.Callback
        Extra callbacks (a ``ReduceLROnPlateau``, a progress bar, ...).
    seed : int, default 0
        Seeds Python, NumPy and TensorFlow (``keras.utils.set_random_seed``) before training,
        which fixes the shuffling order.
    verbose : int, default 0
        Keras's progress output.
    strategy : tf.distribute.Strategy, optional
        Train data-parallel with this strategy (see :mod:`gradbook.distribute`). The model must
        have been built and compiled inside ``with strategy.scope():``; ``batch_size`` is then the
        global batch, split between the replicas.

    Returns
    -------
    TrainResult

    Raises
    ------
    ValueError
        If the model is not compiled, was not built under ``strategy``'s scope, ``epochs`` is not
        a positive whole number or ``validation_split`` is not in [0, 1).
    NotImplementedError
        For a ``MultiWorkerMirroredStrategy`` over more than one worker, under which Keras 3's ``fit``
        fails (the message says what to do instead); with a single worker ``fit`` works.
    TrainingDiverged
        If the training loss becomes NaN or infinite; the message names the epoch and the
        learning rate and suggests a smaller one.
    """
    import keras

    check_whole(epochs, "epochs")
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("The model is not compiled: call model.compile(optimizer, loss) first.")
    check_number(validation_split, "validation_split", maximum=1.0, include_minimum=True, include_maximum=False)
    if strategy is not None:
        _check_strategy(model, strategy)

    keras.utils.set_random_seed(seed)
    guard = _divergence_callback()
    n_examples = _count_examples(x)
    if n_examples is not None and validation_split:
        n_examples = int(math.floor(n_examples * (1.0 - validation_split)))  # Keras's own split
    start = time.perf_counter()
    if not _is_distributed(model):  # under a strategy Keras builds this state itself, in the strategy's scope
        _build_training_state(model, x, y)
    fit = model.fit(
        x,
        y,
        epochs=epochs,
        batch_size=batch_size,
        validation_data=validation_data,
        validation_split=validation_split,
        callbacks=[*callbacks, guard],
        verbose=verbose,
        shuffle=not _is_dataset(x),  # a tf.data pipeline shuffles itself (see gradbook.data.pipeline)
    )
    seconds = time.perf_counter() - start
    history = {k: [float(v) for v in vals] for k, vals in fit.history.items()}
    history["learning_rate"] = guard.learning_rates
    if guard.bad_epoch is not None:
        lr = guard.learning_rates[-1] if guard.learning_rates else float("nan")
        raise TrainingDiverged(
            f"Training diverged: the loss became {history['loss'][-1]} in epoch "
            f"{guard.bad_epoch} (learning rate {lr:.3g}). The steps are too large for this "
            f"network: try a learning rate about 10x smaller, gradient clipping "
            f"(clipnorm=1.0 in the optimiser), or an adaptive optimiser such as Adam.",
            epoch=guard.bad_epoch,
            history=history,
        )
    epochs_run = len(history.get("loss", []))
    rate = n_examples * epochs_run / seconds if n_examples and seconds > 0 else float("nan")
    return TrainResult(history=history, seconds=seconds, examples_per_second=rate,
                       epoch_seconds=tuple(guard.epoch_seconds), examples=n_examples)


def _build_training_state(model, x, y) -> None:
    """Create the loss, metric and optimizer variables before ``fit`` traces its training step.

    Keras 3 (without a distribution strategy) creates them inside the first trace of the training
    step, and TensorFlow then traces the step a second time; for a 20-layer network with batch
    normalisation, or with Adam, that second trace costs seconds on a CPU. Building them from one
    example first gives the same training run (the same weights, batches and numbers) with one trace.
    Only the metrics' running totals are touched, and they are reset here.
    """
    batch = _one_example(x, y)
    if batch is None:
        return
    xb, yb = batch
    y_pred = model(xb, training=False)
    model.compute_loss(x=xb, y=yb, y_pred=y_pred)
    model.compute_metrics(xb, yb, y_pred, sample_weight=None)
    model.reset_metrics()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _is_distributed(model) -> bool:
    """Whether the model's variables belong to a ``tf.distribute`` strategy (mirrored copies)."""
    import tensorflow as tf

    return any(isinstance(v.value, tf.distribute.DistributedValues) for v in model.weights)


def _check_strategy(model, strategy) -> None:
    workers = _worker_count(strategy)
    if workers > 1:
        raise NotImplementedError(
            f"Keras 3's model.fit fails under MultiWorkerMirroredStrategy with more than one worker (this "
            f"cluster has {workers}): its first training step cannot convert the per-replica input batch to a "
            "tensor (ValueError: 'Attempt to convert a value (PerReplica...) with an unsupported type', seen "
            "with Keras 3.15.1 and TensorFlow 2.21). Train with a custom loop over strategy.run instead, as "
            "tools/multiworker.py does.")
    if not model.weights or not all(strategy.extended.variable_created_in_scope(v.value) for v in model.weights):
        raise ValueError(
            "The model's variables were not created under the strategy passed to train: build and compile "
            "the model inside `with strategy.scope():` (or let train_cnn build it with strategy=...).")


def _worker_count(strategy) -> int:
    """How many machines (chief and workers) the strategy's cluster has; 1 without a cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec()
    return max(1, sum(spec.num_tasks(job) for job in ("chief", "worker") if job in spec.jobs))


def _one_example(x, y):
    """One example as a batch of one, from arrays or from a dataset's element spec (zeros), or None."""
    if hasattr(x, "shape") and hasattr(y, "shape") and len(x) and len(y):
        return x[:1], y[:1]
    if _is_dataset(x):
        import tensorflow as tf

        spec = x.element_spec
        if isinstance(spec, tuple) and len(spec) == 2 and all(isinstance(s, tf.TensorSpec) for s in spec):
            if all(s.shape.rank and s.shape[1:].is_fully_defined() for s in spec):
                return tuple(tf.zeros([1, *s.shape[1:]], s.dtype) for s in spec)
    return None


def _is_dataset(x) -> bool:
    return type(x).__module__.startswith("tensorflow") and hasattr(x, "element_spec")


def _count_examples(x) -> int | None:
    if hasattr(x, "shape"):
        return int(x.shape[0])
    if isinstance(x, (list, tuple)) and x and hasattr(x[0], "shape"):
        return int(x[0].shape[0])
    return None


def train_cnn(
    dataset,
    *,
    depth: int = 2,
    activation: str = "relu",
    optimizer: str = "adam",
    learning_rate: float = 0.001,
    filters: int = 16,
    epochs: int = 3,
    batch_size: int = 64,
    validation_split: float = 0.1,
    callbacks: Sequence[Any] = (),
    seed: int = 0,
    strategy=None,
):
    """Build a :func:`gradbook.models.cnn` for ``dataset`` and train it: the run behind chapter
    6's Train button.

    Parameters
    ----------
    dataset : gradbook.data.Dataset
    depth, activation, filters :
        Of the network (see :func:`gradbook.models.cnn`); the initializer is He for ReLU-like
        activations and Glorot for sigmoid and tanh, as each was designed for.
    optimizer, learning_rate :
        See :func:`gradbook.optimizers.get`.
    epochs, batch_size, validation_split, callbacks, seed :
        See :func:`train`.
    strategy : tf.distribute.Strategy, optional
        Build, compile and train the network under this strategy (``batch_size`` is then the
        global batch).

    Returns
    -------
    (keras.Model, TrainResult)

    Raises
    ------
    ValueError
        For any argument out of range (the message names it).
    TrainingDiverged
        If the loss becomes NaN or infinite.
    """
    import keras

    from gradbook import models

    init = "glorot" if activation in ("sigmoid", "tanh", "linear") else "he"
    keras.utils.set_random_seed(seed)
    with contextlib.nullcontext() if strategy is None else strategy.scope():
        model = models.cnn(depth, filters, activation, init, input_shape=dataset.image_shape,
                           num_classes=dataset.num_classes, seed=seed)
        model.compile(optimizers.get(optimizer, learning_rate),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    result = train(model, dataset.x_train, dataset.y_train, epochs=epochs, batch_size=batch_size,
                   validation_split=validation_split, callbacks=callbacks, seed=seed, strategy=strategy)
    return model, result
