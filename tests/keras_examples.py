"""A tiny Keras classifier for the 8x8 digits, shared by the tests of the modules that train one."""

from __future__ import annotations

import keras


def dense_model(seed: int = 0, lr: float = 0.1, softmax: bool = True) -> keras.Model:
    """A seeded, compiled one-layer classifier of 8x8x1 images into 10 classes (SGD at ``lr``)."""
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10, activation="softmax" if softmax else None)])
    model.compile(keras.optimizers.SGD(learning_rate=lr), "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model
