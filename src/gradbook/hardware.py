"""Which device TensorFlow will train on, and how to train fast on it.

:func:`detect` says what TensorFlow sees and which batch size and precision suit it;
:func:`with_loss_scaling` adds the loss scaling that mixed_float16 training needs.

``print(hardware.detect())`` (or ``hardware.show()``) writes one line such as
``Training on: CPU (2 cores) - TensorFlow 2.21.0 sees no GPU``.

>>> from gradbook import hardware
>>> hw = hardware.detect()
>>> str(hw).startswith("Training on: "), hw.batch_size == (512 if hw.has_gpu else 128)
(True, True)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

__all__ = ["Hardware", "detect", "show", "with_loss_scaling"]

#: GPUs from this compute capability on have tensor cores, where float16 math is fast.
_TENSOR_CORES = (7, 0)


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
    gpu_memory_gb : tuple of float
        Memory TensorFlow may use on each GPU, in GiB (empty when unknown or on a CPU).
    compute_capability : tuple of (int, int)
        CUDA compute capability of each GPU (empty when unknown or on a CPU).
    """

    device: str
    gpus: tuple[str, ...]
    cpu_cores: int
    tensorflow_version: str
    gpu_memory_gb: tuple[float, ...] = ()
    compute_capability: tuple[tuple[int, int], ...] = ()

    @property
    def has_gpu(self) -> bool:
        return self.device == "GPU"

    @property
    def mixed_precision(self) -> str | None:
        """The Keras mixed-precision policy worth using here, or ``None`` for plain float32.

        ``"mixed_float16"`` on a GPU with tensor cores (compute capability 7.0 or newer), where
        half-precision matrix products run several times faster; ``None`` on a CPU or an older
        GPU, where float16 saves nothing.
        """
        if self.has_gpu and self.compute_capability and min(self.compute_capability) >= _TENSOR_CORES:
            return "mixed_float16"
        return None

    @property
    def batch_size(self) -> int:
        """A batch size that keeps this device busy: 512 on a GPU, 128 on a CPU."""
        return 512 if self.has_gpu else 128

    def __str__(self) -> str:
        if self.has_gpu:
            parts = []
            for i, name in enumerate(self.gpus):
                extra = []
                if i < len(self.gpu_memory_gb):
                    extra.append(f"{self.gpu_memory_gb[i]:.0f} GiB")
                if i < len(self.compute_capability):
                    extra.append("compute capability {}.{}".format(*self.compute_capability[i]))
                parts.append(f"{name} ({', '.join(extra)})" if extra else name)
            cpu = f" (+{self.cpu_cores} CPU cores for the input pipeline)"
            return f"Training on: GPU - {', '.join(parts)}{cpu} - TensorFlow {self.tensorflow_version}"
        return (
            f"Training on: CPU ({self.cpu_cores} cores) - "
            f"TensorFlow {self.tensorflow_version} sees no GPU"
        )

    def advice(self) -> str:
        """One line on what the book changes for this device (batch size, precision)."""
        if self.has_gpu:
            precision = (
                "mixed precision (mixed_float16: float16 math, float32 weights)"
                if self.mixed_precision
                else "float32 (this GPU has no tensor cores, so float16 would not be faster)"
            )
            return f"On this GPU the book trains with batches of {self.batch_size} and {precision}."
        return (
            f"On this CPU the book trains with batches of {self.batch_size} in float32; on a GPU it would "
            "use batches of 512 and, on tensor-core GPUs, mixed precision."
        )


def _cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def _gpu_memory_gb() -> tuple[float, ...]:
    """Memory TensorFlow reserves per GPU (``device_lib``: the only place TensorFlow reports it)."""
    try:
        from tensorflow.python.client import device_lib

        devices = device_lib.list_local_devices()
    except Exception:  # noqa: BLE001 - a report line must never stop a chapter
        return ()
    return tuple(d.memory_limit / 2**30 for d in devices if d.device_type == "GPU")


def detect() -> Hardware:
    """Ask TensorFlow which devices it will use.

    Returns
    -------
    Hardware
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names, capabilities = [], []
    for gpu in gpus:
        details = tf.config.experimental.get_device_details(gpu)
        names.append(details.get("device_name", gpu.name))
        if "compute_capability" in details:
            capabilities.append(tuple(int(v) for v in details["compute_capability"]))
    return Hardware(
        device="GPU" if gpus else "CPU",
        gpus=tuple(names),
        cpu_cores=_cpu_cores(),
        tensorflow_version=tf.__version__,
        gpu_memory_gb=_gpu_memory_gb() if gpus else (),
        compute_capability=tuple(capabilities) if len(capabilities) == len(names) else (),
    )


def show() -> Hardware:
    """Print one line saying what TensorFlow trains on, and return it."""
    hw = detect()
    print(hw)
    return hw


def with_loss_scaling(optimizer: keras.optimizers.Optimizer, dtype_policy: str | None) -> keras.optimizers.Optimizer:
    """Wrap ``optimizer`` in Keras's ``LossScaleOptimizer`` when ``dtype_policy`` is
    ``"mixed_float16"``; return it unchanged otherwise.

    float16 gradients underflow to zero below about 6e-8, so mixed_float16 training multiplies
    the loss by a large factor before differentiating and divides the gradients after. Keras
    does this itself only when the *global* policy is mixed_float16; the book sets the policy
    per layer (so that it never leaks into other models), and so wraps the optimizer here.
    bfloat16 has float32's exponent range and needs no scaling.

    Parameters
    ----------
    optimizer : keras.optimizers.Optimizer
    dtype_policy : str or None
        The layers' dtype policy, such as :attr:`Hardware.mixed_precision`.

    Returns
    -------
    keras.optimizers.Optimizer
        ``optimizer`` itself, or a ``LossScaleOptimizer`` around it (never one around another).

    Examples
    --------
    >>> import keras
    >>> adam = keras.optimizers.Adam()
    >>> type(with_loss_scaling(adam, "mixed_float16")).__name__
    'LossScaleOptimizer'
    >>> with_loss_scaling(adam, "mixed_bfloat16") is adam
    True
    """
    import keras

    if dtype_policy == "mixed_float16" and not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer
