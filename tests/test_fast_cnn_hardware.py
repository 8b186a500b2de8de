"""Tests for the training advice of gradbook.hardware.

The advice is checked against hand-built ``Hardware`` values for tensor-core GPUs, older GPUs,
GPUs of unknown capability and CPUs.
"""

from __future__ import annotations

import pytest

from gradbook import hardware
from gradbook.hardware import Hardware


# -- hardware ----------------------------------------------------------------------------------------
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
