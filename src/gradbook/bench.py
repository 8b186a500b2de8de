"""One fixed problem on which every remedy for vanishing and exploding gradients is measured.

The bench network is a deep sigmoid MLP on Fashion-MNIST that does not train (chapter 4). A
:class:`Setup` describes it and any one change to it (an activation, an initialisation, a
normalisation, residual connections, dropout, an optimizer, a schedule, gradient clipping); a
:class:`Bench` runs setups on the same data with the same seed and budget and caches the
results::

    bench = Bench(data.load("fashion_mnist", n_train=3000, n_test=1000))
    baseline = bench.run(Setup())
    fixed = bench.run(Setup(normalization="batch"))
    fixed.test_accuracy - baseline.test_accuracy
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping

import numpy as np

from gradbook import diagnostics, models, optimizers, tables, training
from gradbook.validation import check_choice, check_number, check_whole

__all__ = ["FIXES", "HELPS", "SCHEDULES", "Bench", "Result", "Setup", "report", "verdict", "verdict_table"]

#: Learning-rate schedules a :class:`Setup` accepts (None: constant): those of
#: :func:`gradbook.optimizers.schedule`, and "plateau" (Keras's ``ReduceLROnPlateau`` callback).
SCHEDULES: tuple[str, ...] = (*optimizers.SCHEDULES, "plateau")


@dataclass(frozen=True)
class Setup:
    """The bench network and how it is trained. The defaults are the failing baseline.

    Network: see :func:`gradbook.models.mlp` for ``depth`` to ``dropout``. Training:
    ``optimizer`` (one of :data:`gradbook.optimizers.OPTIMIZERS`; "momentum" is SGD with momentum 0.9),
    ``learning_rate``, ``schedule`` (one of :data:`SCHEDULES` or None), gradient clipping
    (Keras's ``clipnorm``: each variable's gradient rescaled to at most this norm, separately; or
    ``clipvalue``: each entry clipped), ``epochs``, ``batch_size`` and ``seed``.
    """

    depth: int = 20
    width: int = 64
    activation: str = "sigmoid"
    initializer: str = "glorot"
    init_scale: float = 1.0
    normalization: str | None = None
    norm_position: str = "before"
    residual: bool = False
    dropout: float = 0.0
    optimizer: str = "sgd"
    learning_rate: float = 0.1
    schedule: str | None = None
    clipnorm: float | None = None
    clipvalue: float | None = None
    epochs: int = 3
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        check_choice(self.optimizer, "optimizer", optimizers.OPTIMIZERS)
        check_choice(self.schedule, "schedule", SCHEDULES, allow_none=True)
        check_number(self.learning_rate, "learning_rate")
        check_number(self.clipnorm, "clipnorm", allow_none=True)
        check_number(self.clipvalue, "clipvalue", allow_none=True)
        check_whole(self.epochs, "epochs")
        check_whole(self.batch_size, "batch_size")

    def changes(self) -> str:
        """What differs from the baseline, as ``name=value`` pairs ("baseline" if nothing).

        Returns
        -------
        str
            For example ``"activation='relu', initializer='he'"``, fields in declaration order.
        """
        base = Setup()
        diffs = [f"{f}={getattr(self, f)!r}" for f in self.__dataclass_fields__ if getattr(self, f) != getattr(base, f)]
        return ", ".join(diffs) or "baseline"

    def build(self, n_train: int = 3000):
        """The compiled Keras model and the callbacks its training needs.

        Parameters
        ----------
        n_train : int, default 3000
            The training-set size, from which the schedules count steps per epoch.

        Returns
        -------
        model : keras.Model
            The setup's MLP, compiled with its optimizer (and schedule or clipping), a
            from-logits cross-entropy and accuracy.
        callbacks : list of keras.callbacks.Callback
            ``ReduceLROnPlateau`` for the "plateau" schedule; empty otherwise.
        """
        import keras

        model = models.mlp(
            self.depth, self.width, self.activation, self.initializer,
            init_scale=self.init_scale, normalization=self.normalization, norm_position=self.norm_position,
            residual=self.residual, dropout=self.dropout, seed=self.seed,
        )
        model.compile(self._optimizer(n_train), keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        callbacks = []
        if self.schedule == "plateau":
            callbacks.append(keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=1, min_lr=1e-5))
        return model, callbacks

    def _optimizer(self, n_train: int):
        lr = self._learning_rate(n_train)
        clip = {k: v for k, v in (("clipnorm", self.clipnorm), ("clipvalue", self.clipvalue)) if v is not None}
        return optimizers.get(self.optimizer, lr, **clip)

    def _learning_rate(self, n_train: int):
        if self.schedule in (None, "plateau"):
            return self.learning_rate
        steps_per_epoch = max(1, math.ceil(n_train / self.batch_size))
        return optimizers.schedule(self.schedule, self.learning_rate, steps_per_epoch=steps_per_epoch, epochs=self.epochs)


@dataclass(frozen=True)
class Result:
    """What one bench run measured.

    Attributes
    ----------
    setup : Setup
    layers : list of str
        The weighted layers, input side first.
    norms_init, norms_trained : numpy.ndarray
        Per-layer kernel-gradient norms on the probe batch before and after training (in
        training mode, so batch normalisation uses batch statistics).
    history : dict
        Per-epoch ``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``learning_rate``.
    test_accuracy : float
        After the last epoch (0.1 is chance); NaN if training diverged.
    seconds : float
        Training wall time.
    diverged : str or None
        The divergence message, if the loss became NaN or infinite.
    """

    setup: Setup
    layers: list[str] = field(repr=False)
    norms_init: np.ndarray = field(repr=False)
    norms_trained: np.ndarray = field(repr=False)
    history: dict = field(repr=False)
    test_accuracy: float
    seconds: float
    diverged: str | None = None

    @property
    def first_layer_norm(self) -> float:
        """The first layer's kernel-gradient norm at initialisation (``norms_init[0]``)."""
        return float(self.norms_init[0])


def _test_set_scores(x, y):
    import keras

    class TestSetScores(keras.callbacks.Callback):
        """Adds ``val_loss`` and ``val_accuracy`` on the test set to each epoch's logs, as
        ``fit(validation_data=...)`` would, from one forward pass outside ``fit``: the bench's
        networks are small, and tracing Keras's evaluation step for every new network would
        cost more than the passes themselves."""

        def __init__(self, x, y) -> None:
            super().__init__()
            self.x, self.y = x, np.asarray(y)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if logs is None:
                return
            logits = self.model(self.x, training=False)
            logs["val_loss"] = float(self.model.loss(self.y, logits))
            logs["val_accuracy"] = float(np.mean(np.argmax(np.asarray(logits), axis=-1) == self.y))

    return TestSetScores(x, y)


class Bench:
    """Runs :class:`Setup` s on one dataset, with a fixed probe batch, and caches the results.

    Parameters
    ----------
    dataset : gradbook.data.Dataset
        Training and test data (Fashion-MNIST in the book).
    probe_size : int
        How many training examples make the fixed probe batch for gradient norms.
    """

    def __init__(self, dataset, *, probe_size: int = 256):
        self.data = dataset
        self.x_probe = dataset.x_train[:probe_size]
        self.y_probe = dataset.y_train[:probe_size]
        self._cache: dict[Setup, Result] = {}
        self._at_init: dict[Setup, np.ndarray] = {}

    def run(self, setup: Setup) -> Result:
        """Build, measure, train for the setup's budget, measure again (cached per setup).

        Parameters
        ----------
        setup : Setup

        Returns
        -------
        Result
            A run whose loss turned NaN or infinite is returned too, with ``diverged`` set and a
            NaN test accuracy.
        """
        if setup in self._cache:
            return self._cache[setup]
        model, callbacks = self._build(setup)
        at_init = self._gradient_norms(model)
        layers, norms_init = at_init.layers, at_init.norms
        diverged = None
        start = time.perf_counter()
        try:
            fit = training.train(model, self.data.x_train, self.data.y_train, epochs=setup.epochs, batch_size=setup.batch_size,
                                 callbacks=[*callbacks, _test_set_scores(self.data.x_test, self.data.y_test)], seed=setup.seed)
            history, accuracy = fit.history, fit.final("val_accuracy")
        except training.TrainingDiverged as err:
            history, accuracy, diverged = err.history, float("nan"), str(err)
        seconds = time.perf_counter() - start
        try:
            norms_trained = self._gradient_norms(model).norms
        except ValueError:
            norms_trained = np.full(len(layers), np.nan)
        result = Result(setup, layers, norms_init, norms_trained, history, float(accuracy), seconds, diverged)
        self._cache[setup] = result
        return result

    def gradients_at_init(self, setup: Setup) -> np.ndarray:
        """The per-layer gradient norms :meth:`run` records before training, without the training.

        The same seed, network and probe batch as :meth:`run`, so the numbers are the same; much
        cheaper, because nothing is trained. Cached per setup.

        Parameters
        ----------
        setup : Setup

        Returns
        -------
        numpy.ndarray
            One kernel-gradient norm per weighted layer, input side first.
        """
        if setup not in self._at_init:
            model, _ = self._build(setup)
            self._at_init[setup] = self._gradient_norms(model).norms
        return self._at_init[setup]

    def _build(self, setup: Setup):
        import keras

        keras.utils.set_random_seed(setup.seed)
        return setup.build(len(self.data.x_train))

    def _gradient_norms(self, model):
        # In training mode, so batch normalisation uses batch statistics, as fit computes them.
        return diagnostics.layer_gradient_norms(model, self.x_probe, self.y_probe, training=True)

    def compare(self, setups: Mapping[str, Setup]) -> dict[str, Result]:
        """Run several setups with :meth:`run`.

        Parameters
        ----------
        setups : mapping of str to Setup

        Returns
        -------
        dict of str to Result
            Each setup's result under its name, in the order of ``setups``.
        """
        return {name: self.run(s) for name, s in setups.items()}

    def measure(self, setups: Mapping[str, Setup], train: Iterable[str] = ()) -> tuple[dict[str, Result], dict[str, np.ndarray]]:
        """Train the setups named in ``train``; the gradient at initialisation of all of them.

        Parameters
        ----------
        setups : mapping of str to Setup
        train : iterable of str
            The names, among ``setups``, to train with :meth:`run`.

        Returns
        -------
        results : dict
            The :class:`Result` of each trained setup, under its name, in the order of ``setups``.
        norms : dict
            Every setup's per-layer gradient norms at initialisation, under its name (for the
            trained ones, the numbers their result recorded).

        Raises
        ------
        KeyError
            If ``train`` names a setup that is not in ``setups``.
        """
        train = set(train)
        unknown = sorted(train - set(setups))
        if unknown:
            raise KeyError(f"train names setups that are not given: {', '.join(map(repr, unknown))}. Choose among: {', '.join(map(repr, setups))}.")
        results = {name: self.run(s) for name, s in setups.items() if name in train}
        norms = {name: results[name].norms_init if name in results else self.gradients_at_init(s) for name, s in setups.items()}
        return results, norms

    def seeds(self, setup: Setup, seeds=(0, 1, 2)) -> list[Result]:
        """The same setup with several seeds, to show the spread where differences are small.

        Parameters
        ----------
        setup : Setup
            Its own ``seed`` is replaced by each of ``seeds``.
        seeds : iterable of int, default (0, 1, 2)

        Returns
        -------
        list of Result
            One per seed, in order.
        """
        return [self.run(replace(setup, seed=s)) for s in seeds]


#: Test-accuracy gains over the reference, in fractions, at which a remedy "fixes" or "helps".
FIXES, HELPS = 0.20, 0.05


def verdict(result: Result, reference: Result) -> str:
    """What a run did against the run it changes, judged by test accuracy after the same budget.

    Parameters
    ----------
    result : Result
        The run to judge.
    reference : Result
        The run it changes (the baseline, or the previous step of a recipe).

    Returns
    -------
    str
        ``"diverged"`` if the run's loss became NaN or infinite; ``"prevents divergence"`` if the
        reference diverged and this run did not; otherwise ``"fixes"`` for a gain of at least 20
        points of test accuracy (:data:`FIXES`), ``"helps"`` for 5 to 20 (:data:`HELPS`),
        ``"no effect"`` below 5 (or a loss).
    """
    if result.diverged:
        return "diverged"
    if reference.diverged:
        return "prevents divergence"
    points = result.test_accuracy - reference.test_accuracy
    return "fixes" if points >= FIXES else "helps" if points >= HELPS else "no effect"


def report(results: Mapping[str, Result], norms: Mapping[str, np.ndarray] | None = None, *, baseline: Result) -> str:
    """One line per setup: its first-layer gradient at initialisation as a multiple of the
    baseline's and, for the trained ones, test accuracy and training time.

    Parameters
    ----------
    results : mapping of str to Result
        The trained setups.
    norms : mapping of str to array, optional
        Gradient norms at initialisation of more setups (as :meth:`Bench.measure` returns);
        default: those of ``results``. Setups without a result are marked "not trained here".
    baseline : Result
        The run the first-layer gradients are compared with.

    Returns
    -------
    str
        The lines, joined by newlines, in the order of ``norms``.
    """
    norms = norms if norms is not None else {name: r.norms_init for name, r in results.items()}
    lines = []
    for name, n in norms.items():
        line = f"{name:34s} first-layer norm x{n[0] / baseline.first_layer_norm:8.1e}"
        if name in results:
            r = results[name]
            accuracy = "diverged" if r.diverged else f"{r.test_accuracy:.3f}"
            line += f"   test accuracy {accuracy:>8}   {r.seconds:4.1f} s"
        else:
            line += "   (not trained here)"
        lines.append(line)
    return "\n".join(lines)


def verdict_table(results: Mapping[str, Result], reference: Result, *, baseline: Result, first_column: str) -> str:
    """An HTML table of trained runs: first-layer gradient at initialisation (as a multiple of the
    baseline's), test accuracy, training time and :func:`verdict` against ``reference`` (the row
    that is ``reference`` itself is marked as such), made with :func:`gradbook.tables.html_table`.

    Parameters
    ----------
    results : mapping of str to Result
        The rows, by the name shown in the first column (escaped), in order.
    reference : Result
        The run each row's :func:`verdict` is judged against; its own row reads "(reference)".
    baseline : Result
        The run whose first-layer gradient the second column divides by.
    first_column : str
        The first column's heading (what the names are: "remedy", "setup", ...).

    Returns
    -------
    str
        An HTML ``<table>`` with a header row and one row per result; a diverged run's test
        accuracy reads "-".
    """
    rows = [
        (name, f"{r.first_layer_norm / baseline.first_layer_norm:.1e}", "-" if r.diverged else f"{r.test_accuracy:.3f}",
         f"{r.seconds:.1f} s", "(reference)" if r is reference else tables.bold(verdict(r, reference)))
        for name, r in results.items()
    ]
    header = (first_column, "first-layer gradient at init, x baseline", "test accuracy", "training time", "verdict")
    return tables.html_table(rows, header)
