"""A speed-run: chapter 6's small CNN, trained for accuracy within a fixed time, and what each
ingredient of the recipe is worth.

A :class:`Recipe` names every choice of a training run that the speed-run changes: the network's
width, a full-resolution stem convolution, dropout, the batch-normalisation kernel and the momentum
of its statistics, the learning-rate schedule, the batch size, the number of epochs, the
augmentation, label smoothing, test-time augmentation, the precision and how many training steps
Keras runs per call.
:data:`BASELINE` is chapter 6's ``fast_cnn`` run as it was; :data:`SPEED_RUN` is the recipe
chosen on a validation split. :func:`run` trains and evaluates one recipe; :func:`ablation` runs the
recipe and, one at a time, the recipe with each of its ingredients taken out (:func:`ablations`).
:func:`recorded` is the full benchmark's last result, which chapter 6b shows.

>>> SPEED_RUN.without("label_smoothing").label_smoothing
0.0
>>> sorted(ablations(BASELINE))      # of the ingredients, the baseline uses only the schedule
['schedule']
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradbook import models, optimizers, training
from gradbook.validation import check_choice, check_number, check_whole

__all__ = ["ADDITIONS", "BASELINE", "INGREDIENTS", "Recipe", "Result", "SPEED_RUN", "ablation", "ablations", "additions",
           "build", "predict",
           "record", "recorded", "run", "steps"]

#: The schedules a recipe may use: warm-up then cosine decay to zero, or a constant rate.
_SCHEDULES = ("warmup_cosine", "constant")
_PRECISIONS = (None, "mixed_bfloat16", "mixed_float16")


@dataclass(frozen=True)
class Recipe:
    """Every choice of a speed-run's training run.

    Attributes
    ----------
    filters : (int, int)
        Channels of the two convolutions of :func:`gradbook.models.fast_cnn`.
    hidden : int
        Units of the dense layer before the logits (0: none).
    stem : int
        Channels of a stride-1 3x3 convolution before the strided ones (0: none); see
        :func:`gradbook.models.fast_cnn`.
    dropout : float
        Dropout rate before the logits' layer, in [0, 1).
    fused_batch_norm : bool
        Batch normalisation by TensorFlow's fused kernel
        (:class:`gradbook.models.FusedBatchNormalization`) instead of Keras's layer.
    batch_norm_momentum : float
        Momentum of the batch-normalisation running averages.
    schedule : {"warmup_cosine", "constant"}
        Adam's learning rate: a linear warm-up over a tenth of the steps to ``learning_rate`` and a
        cosine decay to zero, or ``learning_rate`` throughout.
    learning_rate : float
        The peak (or constant) learning rate.
    batch_size : int
    epochs : int
    flip : bool
        Augment with mirror images: train on the training images and their left-right mirror
        images, each once every two epochs (the epochs are then half as many passes over twice as
        many images, so ``epochs`` must be even).
    label_smoothing : float
        Share of each target's probability spread evenly over all classes, in [0, 1).
    test_time_flip : bool
        Predict with the average of the logits of each image and of its mirror image.
    dtype_policy : str or None
        A Keras mixed-precision policy, or ``None`` for float32.
    steps_per_execution : int
        Training steps Keras runs in one call of its compiled training function (``compile``'s
        ``steps_per_execution``): the same steps, with Python's per-call overhead paid once for
        each group of steps instead of once per step.
    """

    filters: tuple[int, int] = (32, 64)
    hidden: int = 0
    stem: int = 0
    dropout: float = 0.3
    fused_batch_norm: bool = False
    batch_norm_momentum: float = 0.99
    schedule: str = "warmup_cosine"
    learning_rate: float = 3e-3
    batch_size: int = 128
    epochs: int = 10
    flip: bool = False
    label_smoothing: float = 0.0
    test_time_flip: bool = False
    dtype_policy: str | None = None
    steps_per_execution: int = 1

    def __post_init__(self) -> None:
        if not (isinstance(self.filters, tuple) and len(self.filters) == 2):
            raise ValueError(f"filters must be a tuple of two channel counts, got {self.filters!r}.")
        for f in self.filters:
            check_whole(f, "filters")
        check_whole(self.hidden, "hidden", minimum=0)
        check_whole(self.stem, "stem", minimum=0)
        check_number(self.dropout, "dropout", maximum=1, include_minimum=True, include_maximum=False)
        check_number(self.batch_norm_momentum, "batch_norm_momentum", maximum=1, include_minimum=True,
                     include_maximum=False)
        check_choice(self.schedule, "schedule", _SCHEDULES)
        check_number(self.learning_rate, "learning_rate")
        check_whole(self.batch_size, "batch_size")
        check_whole(self.epochs, "epochs")
        check_number(self.label_smoothing, "label_smoothing", maximum=1, include_minimum=True, include_maximum=False)
        check_choice(self.dtype_policy, "dtype_policy", _PRECISIONS)
        check_whole(self.steps_per_execution, "steps_per_execution")
        for name in ("fused_batch_norm", "flip", "test_time_flip"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if self.flip and self.epochs % 2:
            raise ValueError(f"A recipe with flip trains on the images and their mirror images, each once every two "
                             f"epochs, so its epochs must be even; got {self.epochs}.")

    def without(self, ingredient: str) -> "Recipe":
        """This recipe with one ingredient taken out (set back to what :data:`BASELINE` does).

        Parameters
        ----------
        ingredient : str
            One of :data:`INGREDIENTS`.

        Raises
        ------
        ValueError
            For an unknown ingredient.
        """
        check_choice(ingredient, "ingredient", tuple(INGREDIENTS))
        return dataclasses.replace(self, **INGREDIENTS[ingredient])

    def uses(self, ingredient: str) -> bool:
        """Whether taking ``ingredient`` out would change this recipe."""
        return self.without(ingredient) != self

    def adding(self, ingredient: str) -> "Recipe":
        """This recipe with one of the :data:`ADDITIONS` put in.

        Raises
        ------
        ValueError
            For an ingredient that is not one of :data:`ADDITIONS`.
        """
        check_choice(ingredient, "ingredient", tuple(ADDITIONS))
        return dataclasses.replace(self, **ADDITIONS[ingredient])


#: Each ingredient of the speed-run, and the settings that take it out: chapter 6's run as it
#: was, except for the schedule, whose absence is a constant learning rate of Adam's default 0.001.
#: Taking the augmentation out takes test-time augmentation with it (a network never trained on
#: mirror images has no reason to be shown them). One ingredient takes something away from the
#: baseline, its dropout: taking that ingredient out puts the dropout back.
INGREDIENTS: dict[str, dict[str, Any]] = {
    "width": {"filters": (32, 64), "hidden": 0},
    "stem": {"stem": 0},
    "no_dropout": {"dropout": 0.3},
    "fused_batch_norm": {"fused_batch_norm": False},
    "batch_norm_momentum": {"batch_norm_momentum": 0.99},
    "schedule": {"schedule": "constant", "learning_rate": 1e-3},
    "batch_size": {"batch_size": 128},
    "augmentation": {"flip": False, "test_time_flip": False},
    "label_smoothing": {"label_smoothing": 0.0},
    "test_time_augmentation": {"test_time_flip": False},
    "precision": {"dtype_policy": None},
    "steps_per_execution": {"steps_per_execution": 1},
}

#: The ingredients a recipe can add, and the settings that add them: the speed-run's ablation tries
#: each one it leaves out. Test-time augmentation comes with training on mirror images too.
ADDITIONS: dict[str, dict[str, Any]] = {
    "stem": {"stem": 8},
    "fused_batch_norm": {"fused_batch_norm": True},
    "batch_norm_momentum": {"batch_norm_momentum": 0.9},
    "batch_size": {"batch_size": 384},
    "augmentation": {"flip": True},
    "label_smoothing": {"label_smoothing": 0.1},
    "test_time_augmentation": {"flip": True, "test_time_flip": True},
    "precision": {"dtype_policy": "mixed_bfloat16"},
    "steps_per_execution": {"steps_per_execution": 16},
}

#: Chapter 6's ``fast_cnn`` run: 10 epochs of Adam, warmed up to a learning rate of 0.003, then decayed to zero along a cosine.
BASELINE = Recipe()

#: The speed-run. Chosen by training on the first 50,000 training images and measuring the last
#: 10,000 (the test images played no part): an 8-channel stem and a hidden layer of 128 units
#: without dropout for accuracy, the fused batch-normalisation kernel, 16 steps per execution and
#: 8 epochs instead of 10 for time, mirror images in training and at test time, label smoothing
#: and a faster-moving batch-normalisation average. Chapter 6b's ablation measures what each is worth.
SPEED_RUN = Recipe(filters=(32, 64), hidden=128, stem=8, dropout=0.0, fused_batch_norm=True, batch_norm_momentum=0.9,
                   learning_rate=3e-3, batch_size=128, epochs=8, flip=True, label_smoothing=0.1,
                   test_time_flip=True, steps_per_execution=16)


@dataclass(frozen=True)
class Result:
    """One recipe trained and evaluated.

    Attributes
    ----------
    recipe : Recipe
    seed : int
    accuracy : float
        On the evaluation images (with test-time augmentation when the recipe uses it).
    seconds : float
        Wall time of training: ``training.train``'s, plus making the mirror images and the one-hot
        targets (evaluation excluded).
    training : gradbook.training.TrainResult
    model : keras.Model
        The trained network.
    """

    recipe: Recipe
    seed: int
    accuracy: float
    seconds: float
    training: training.TrainResult = dataclasses.field(repr=False)
    model: Any = dataclasses.field(repr=False, compare=False, default=None)


def ablations(recipe: Recipe = SPEED_RUN) -> dict[str, Recipe]:
    """The recipe with each ingredient it uses taken out, one at a time, by ingredient name."""
    return {name: recipe.without(name) for name in INGREDIENTS if recipe.uses(name)}


def additions(recipe: Recipe = SPEED_RUN) -> dict[str, Recipe]:
    """The recipe with each of the :data:`ADDITIONS` it does not use put in, one at a time."""
    return {name: recipe.adding(name) for name in ADDITIONS if not recipe.uses(name)}


def build(recipe: Recipe, input_shape: tuple[int, ...], num_classes: int, *, steps_per_epoch: int, seed: int = 0):
    """The recipe's network, compiled with its optimiser, schedule and loss (labels one-hot).

    Parameters
    ----------
    recipe : Recipe
    input_shape, num_classes :
        Of the data.
    steps_per_epoch : int
        Batches per epoch: the schedule spans ``recipe.epochs * steps_per_epoch`` steps. (The
        mirror images of ``recipe.flip`` are data, not layers: :func:`run` makes them.)
    seed : int, default 0
        Seed of the weights and dropout masks.

    Returns
    -------
    keras.Model (compiled), outputting logits.
    """
    import keras

    keras.utils.set_random_seed(seed)
    model = models.fast_cnn(input_shape, num_classes, filters=recipe.filters, dropout=recipe.dropout,
                            hidden=recipe.hidden, stem=recipe.stem, batch_norm_momentum=recipe.batch_norm_momentum,
                            fused_batch_norm=recipe.fused_batch_norm, dtype_policy=recipe.dtype_policy, seed=seed)
    if recipe.schedule == "warmup_cosine":
        total = recipe.epochs * check_whole(steps_per_epoch, "steps_per_epoch")
        optimizer = optimizers.warmup_cosine_adam(total, peak_learning_rate=recipe.learning_rate)
    else:
        optimizer = keras.optimizers.Adam(recipe.learning_rate)
    model.compile(optimizer, keras.losses.CategoricalCrossentropy(from_logits=True, label_smoothing=recipe.label_smoothing),
                  metrics=["categorical_accuracy"], steps_per_execution=recipe.steps_per_execution)
    return model


def predict(model, x: np.ndarray, *, test_time_flip: bool = False, batch_size: int = 1000) -> np.ndarray:
    """Logits of ``model`` on ``x``; with ``test_time_flip``, the mean of those of ``x`` and of its mirror image."""
    def logits_of(images: np.ndarray) -> np.ndarray:
        # Called batch by batch in inference mode (not model.predict, which compiles a new function
        # for every new network: an ablation builds many).
        return np.concatenate([np.asarray(model(images[i:i + batch_size], training=False), dtype=np.float32)
                               for i in range(0, len(images), batch_size)])

    logits = logits_of(x)
    if test_time_flip:
        logits = (logits + logits_of(x[:, :, ::-1])) / 2
    return logits


def _passes(recipe: Recipe, n_images: int) -> tuple[int, int]:
    """Passes over the data :func:`run` makes, and the batches in each, for ``n_images`` training images.

    With ``recipe.flip``, the data are the images and their mirror images: half as many passes over
    twice as many images.
    """
    n_images = check_whole(n_images, "n_images")
    copies = 2 if recipe.flip else 1
    return recipe.epochs // copies, int(np.ceil(copies * n_images / recipe.batch_size))


def steps(recipe: Recipe, n_images: int) -> int:
    """The optimiser steps :func:`run` takes to train ``recipe`` on ``n_images`` training images.

    Parameters
    ----------
    recipe : Recipe
    n_images : int
        Training images (at least 1), before any mirror images are added.

    Returns
    -------
    int

    Raises
    ------
    ValueError
        If ``n_images`` is not a whole number of at least 1.

    Examples
    --------
    >>> steps(BASELINE, 60_000)
    4690
    """
    passes, per_pass = _passes(recipe, n_images)
    return passes * per_pass


def run(recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, *,
        seed: int = 0) -> Result:
    """Train ``recipe`` on the training images and measure its accuracy on the evaluation images.

    Pass a validation split as the evaluation images for every choice; the test images are for
    the final measurement only.

    Parameters
    ----------
    recipe : Recipe
    x_train, y_train :
        Images ``(n, height, width, channels)`` and integer labels.
    x_eval, y_eval :
        The images and labels to measure accuracy on.
    seed : int, default 0

    Returns
    -------
    Result

    Raises
    ------
    ValueError
        For images that are not a 4-D batch, or labels of another length.
    gradbook.training.TrainingDiverged
        If the loss becomes NaN or infinite.
    """
    import keras

    for x, y, name in ((x_train, y_train, "training"), (x_eval, y_eval, "evaluation")):
        if np.ndim(x) != 4 or len(x) != len(y) or not len(x):
            raise ValueError(f"The {name} images must be a non-empty (n, height, width, channels) array with one "
                             f"label each; got shapes {np.shape(x)} and {np.shape(y)}.")
    num_classes = int(max(y_train.max(), y_eval.max())) + 1
    start = time.perf_counter()
    passes, per_pass = _passes(recipe, len(x_train))
    if recipe.flip:
        # The mirror images, made once: half as many passes over twice as many images. (Keras's
        # RandomFlip layer mirrors at random in every step instead, at a cost in time per step.)
        x_train, y_train = np.concatenate([x_train, x_train[:, :, ::-1]]), np.concatenate([y_train, y_train])
    targets = keras.utils.to_categorical(y_train, num_classes)
    mirroring = time.perf_counter() - start
    model = build(dataclasses.replace(recipe, epochs=passes, flip=False), x_train.shape[1:], num_classes,
                  steps_per_epoch=per_pass, seed=seed)
    trained = training.train(model, x_train, targets, epochs=passes, batch_size=recipe.batch_size, seed=seed)
    accuracy = _accuracy(model, x_eval, y_eval, test_time_flip=recipe.test_time_flip)
    return Result(recipe=recipe, seed=seed, accuracy=accuracy, seconds=trained.seconds + mirroring, training=trained,
                  model=model)


def _accuracy(model, x: np.ndarray, y: np.ndarray, *, test_time_flip: bool) -> float:
    """Share of ``x`` whose largest logit (:func:`predict`) is the label ``y``."""
    return float(np.mean(np.argmax(predict(model, x, test_time_flip=test_time_flip), axis=1) == y))


def ablation(recipe: Recipe, x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray, *,
             seed: int = 0, ingredients: Iterable[str] | None = None) -> dict[str, Result]:
    """The recipe; the recipe with each ingredient it uses taken out; and with each one it leaves out added.

    Each row is a :func:`run` with the same seed. A row whose recipe differs from an earlier row's
    only in test-time augmentation needs no training of its own: it measures that row's network
    with (or without) mirror images at test time, and repeats its time.

    Parameters
    ----------
    recipe : Recipe
    x_train, y_train, x_eval, y_eval, seed :
        As for :func:`run`; evaluate on a validation split, never on the test images.
    ingredients : iterable of str, optional
        Names from :data:`INGREDIENTS`: only their rows (each taken out if the recipe uses it, else
        added if :data:`ADDITIONS` has it). All of them when omitted.

    Returns
    -------
    dict
        ``"speed-run"`` for the whole recipe, then ``"without <ingredient>"`` for each ingredient
        in :func:`ablations`, then ``"with <ingredient>"`` for each in :func:`additions`.

    Raises
    ------
    ValueError
        For a name that is not one of :data:`INGREDIENTS`.
    """
    if ingredients is None:
        wanted = set(INGREDIENTS)
    else:
        wanted = {check_choice(name, "ingredient", tuple(INGREDIENTS))
                  for name in ([ingredients] if isinstance(ingredients, str) else ingredients)}
    rows: dict[str, Result] = {}

    def measure(name: str, r: Recipe) -> None:
        trained = next((done for done in rows.values()
                        if done.recipe == dataclasses.replace(r, test_time_flip=done.recipe.test_time_flip)), None)
        if trained is None:
            rows[name] = run(r, x_train, y_train, x_eval, y_eval, seed=seed)
        else:
            rows[name] = dataclasses.replace(trained, recipe=r, accuracy=_accuracy(trained.model, x_eval, y_eval,
                                                                                   test_time_flip=r.test_time_flip))

    # Every row builds and traces a network of its own, so TensorFlow's warning about frequent
    # retracing is expected here and says nothing to act on: hold it back while the rows train.
    tf_logger = logging.getLogger("tensorflow")
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)
    try:
        measure("speed-run", recipe)
        for name, reduced in ablations(recipe).items():
            if name in wanted:
                measure(f"without {name}", reduced)
        for name, added in additions(recipe).items():
            if name in wanted:
                measure(f"with {name}", added)
    finally:
        tf_logger.setLevel(level)
    return rows


def _recorded_path():
    from pathlib import Path

    return Path(__file__).resolve().parent / "recorded" / "speedrun.json"


def record(result: dict):
    """Store the full benchmark's result (``benchmarks/train_speed.py --speed-run --record``) for
    chapter 6 to show; returns the path written.

    Parameters
    ----------
    result : dict
        JSON-ready: the runs, their medians, the time ratio and the ablation.

    Returns
    -------
    pathlib.Path
    """
    import json

    path = _recorded_path()
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    return path


def recorded() -> dict:
    """The full benchmark's last recorded result (see :func:`record`).

    Returns
    -------
    dict
        With ``"runs"``, ``"median"``, ``"time_ratio"``, ``"ablation"``, ``"hardware"`` and ``"date"``.

    Raises
    ------
    FileNotFoundError
        If no result was ever recorded; the message says how to record one.
    ValueError
        If the record was made with other recipes than today's :data:`SPEED_RUN` and
        :data:`BASELINE` (it is stale: record it again).
    """
    import json

    path = _recorded_path()
    how = "run `python benchmarks/train_speed.py --only-speed-run --record` (about 30 minutes on 2 cores)"
    if not path.is_file():
        raise FileNotFoundError(f"No speed-run result is recorded yet: {how}.")
    result = json.loads(path.read_text())
    for key, recipe in (("recipe", SPEED_RUN), ("baseline_recipe", BASELINE)):
        if result.get(key) != json.loads(json.dumps(dataclasses.asdict(recipe))):
            raise ValueError(f"The recorded speed-run result was measured with another {key.replace('_', ' ')} than "
                             f"today's; {how} to record it again.")
    return result
