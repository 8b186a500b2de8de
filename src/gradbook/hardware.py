"""Which device TensorFlow will train on.

>>> from gradbook import hardware
>>> hardware.show()          # doctest: +SKIP
Training on: CPU (2 cores) - TensorFlow 2.21.0 sees no GPU
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Hardware", "detect", "show"]


@dataclass(frozen=True)
class Hardware:
    """What TensorFlow trains on.

    Attributes
    ----------
    device : {"GPU", "CPU"}
        ``"GPU"`` when TensorFlow sees at least one GPU.
    gpus : tuple of str
        The GPU model names, in TensorFlow's order (empty on a CPU machine).
    cpu_cores : int
        Logical CPU cores available to this process.
    tensorflow_version : str
    """

    device: str
    gpus: tuple[str, ...]
    cpu_cores: int
    tensorflow_version: str

    @property
    def has_gpu(self) -> bool:
        return self.device == "GPU"

    def __str__(self) -> str:
        if self.has_gpu:
            names = ", ".join(self.gpus)
            extra = f" (+{self.cpu_cores} CPU cores for the input pipeline)"
            return f"Training on: GPU - {names}{extra} - TensorFlow {self.tensorflow_version}"
        return (
            f"Training on: CPU ({self.cpu_cores} cores) - "
            f"TensorFlow {self.tensorflow_version} sees no GPU"
        )


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def detect() -> Hardware:
    """Ask TensorFlow which devices it will use.

    Returns
    -------
    Hardware
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
    return Hardware(
        device="GPU" if gpus else "CPU",
        gpus=tuple(names),
        cpu_cores=_cpu_cores(),
        tensorflow_version=tf.__version__,
    )


def show() -> Hardware:
    """Print one line saying what TensorFlow trains on, and return it."""
    hw = detect()
    print(hw)
    return hw
