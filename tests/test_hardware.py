"""Tests for gradbook.hardware: what TensorFlow trains on, the training advice and loss scaling.

The advice is checked against hand-built ``Hardware`` values for tensor-core GPUs, older GPUs,
GPUs of unknown capability and CPUs.
"""

from __future__ import annotations

import os

import keras
import pytest

from gradbook import hardware
from gradbook.hardware import Hardware


def test_detect_matches_tensorflow():
    import tensorflow as tf

    hw = hardware.detect()
    assert isinstance(hw, Hardware)
    gpus = tf.config.list_physical_devices("GPU")
    assert hw.device == ("GPU" if gpus else "CPU")
    assert hw.has_gpu == bool(gpus)
    assert len(hw.gpus) == len(gpus)
    assert hw.tensorflow_version == tf.__version__
    assert hw.cpu_cores >= 1
    assert hw.cpu_cores <= (os.cpu_count() or hw.cpu_cores)
    if hasattr(os, "sched_getaffinity"):
        assert hw.cpu_cores == len(os.sched_getaffinity(0))


def test_cpu_str_mentions_cores_and_version():
    hw = Hardware(device="CPU", gpus=(), cpu_cores=3, tensorflow_version="9.9.9")
    text = str(hw)
    assert text.startswith("Training on: CPU")
    assert "3 cores" in text and "9.9.9" in text and "no GPU" in text
    assert not hw.has_gpu


def test_gpu_str_names_the_gpus():
    hw = Hardware(device="GPU", gpus=("NVIDIA H100", "NVIDIA A100"), cpu_cores=16, tensorflow_version="2.21.0")
    text = str(hw)
    assert hw.has_gpu
    assert text.startswith("Training on: GPU")
    assert "NVIDIA H100, NVIDIA A100" in text
    assert "16 CPU cores" in text and "2.21.0" in text
    assert "no GPU" not in text


def test_detected_str_mentions_core_count():
    hw = hardware.detect()
    text = str(hw)
    assert hw.tensorflow_version in text
    if hw.device == "CPU":
        assert f"({hw.cpu_cores} cores)" in text
    else:
        for name in hw.gpus:
            assert name in text


def test_hardware_is_immutable():
    hw = Hardware(device="CPU", gpus=(), cpu_cores=1, tensorflow_version="x")
    with pytest.raises(AttributeError):
        hw.device = "GPU"  # type: ignore[misc]


def test_show_prints_one_line_and_returns_it(capsys):
    hw = hardware.show()
    out = capsys.readouterr().out
    assert isinstance(hw, Hardware)
    assert out == str(hw) + "\n"
    assert out.count("\n") == 1
    assert out.startswith("Training on: ")


# -- training advice ----------------------------------------------------------------------------------------
def gpu(capabilities, memory=(79.2,), names=("NVIDIA A100",)):
    return Hardware(device="GPU", gpus=names, cpu_cores=16, tensorflow_version="2.21.0",
                    gpu_memory_gb=memory, compute_capability=capabilities)


def test_tensor_core_gpu_uses_mixed_float16_and_large_batches():
    hw = gpu(((8, 0),))
    assert hw.has_gpu
    assert hw.mixed_precision == "mixed_float16"
    assert hw.batch_size == 512
    text = str(hw)
    assert "79 GiB" in text
    assert "compute capability 8.0" in text
    assert "NVIDIA A100 (79 GiB, compute capability 8.0)" in text
    advice = hw.advice()
    assert "512" in advice and "mixed_float16" in advice


@pytest.mark.parametrize("cc, policy", [((7, 0), "mixed_float16"), ((7, 5), "mixed_float16"), ((9, 0), "mixed_float16"),
                                        ((6, 1), None), ((6, 0), None), ((5, 2), None)])
def test_mixed_precision_starts_at_compute_capability_7(cc, policy):
    assert gpu((cc,)).mixed_precision == policy


def test_older_gpu_stays_in_float32():
    hw = gpu(((6, 1),), names=("Tesla P100",), memory=(15.9,))
    assert hw.mixed_precision is None
    assert hw.batch_size == 512
    assert "compute capability 6.1" in str(hw)
    assert "16 GiB" in str(hw)
    advice = hw.advice()
    assert "float32" in advice
    assert "mixed_float16" not in advice
    assert "512" in advice


def test_one_old_gpu_among_several_means_float32():
    hw = gpu(((8, 0), (6, 1)), memory=(40.0, 16.0), names=("NVIDIA A100", "Tesla P100"))
    assert hw.mixed_precision is None
    text = str(hw)
    assert "NVIDIA A100 (40 GiB, compute capability 8.0)" in text
    assert "Tesla P100 (16 GiB, compute capability 6.1)" in text


def test_gpu_of_unknown_capability_stays_in_float32():
    hw = gpu((), memory=())
    assert hw.mixed_precision is None
    assert hw.batch_size == 512
    assert "GiB" not in str(hw)
    assert "compute capability" not in str(hw)
    assert "float32" in hw.advice()


def test_cpu_advice():
    hw = Hardware(device="CPU", gpus=(), cpu_cores=2, tensorflow_version="2.21.0")
    assert hw.mixed_precision is None
    assert hw.batch_size == 128
    advice = hw.advice()
    assert "CPU" in advice and "128" in advice and "float32" in advice
    # A CPU never gets mixed precision, whatever capability is (wrongly) recorded.
    assert Hardware(device="CPU", gpus=(), cpu_cores=2, tensorflow_version="x",
                    compute_capability=((8, 0),)).mixed_precision is None


def test_detect_on_this_machine_is_a_cpu():
    hw = hardware.detect()
    assert hw.device == "CPU"
    assert hw.gpus == ()
    assert hw.gpu_memory_gb == ()
    assert hw.compute_capability == ()
    assert hw.mixed_precision is None
    assert hw.batch_size == 128
    assert "CPU" in hw.advice()


# -- with_loss_scaling ----------------------------------------------------------------------------
def test_with_loss_scaling_wraps_only_for_mixed_float16():
    adam = keras.optimizers.Adam()
    scaled = hardware.with_loss_scaling(adam, "mixed_float16")
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
    assert scaled.inner_optimizer is adam
    assert hardware.with_loss_scaling(scaled, "mixed_float16") is scaled  # never wrapped twice
    for policy in (None, "float32", "mixed_bfloat16"):
        assert hardware.with_loss_scaling(adam, policy) is adam
