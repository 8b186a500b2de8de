"""Keras fixtures shared by the tests of several modules: a tiny digits classifier, and the Keras
optimizer each of the book's optimizer names stands for."""

from __future__ import annotations

import keras


def dense_model(seed: int = 0, lr: float = 0.1, softmax: bool = True) -> keras.Model:
    """A seeded, compiled one-layer classifier of 8x8x1 images into 10 classes (SGD at ``lr``)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax" if softmax else None)])
    model.compile(keras.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


#: (name, Keras class, momentum or None): what ``optimizers.get`` and ``bench.Setup`` build for each name.
OPTIMIZER_CLASSES = [
    ("sgd", keras.optimizers.SGD, 0.0),
    ("momentum", keras.optimizers.SGD, 0.9),
    ("rmsprop", keras.optimizers.RMSprop, None),
    ("adagrad", keras.optimizers.Adagrad, None),
    ("adam", keras.optimizers.Adam, None),
]
