"""Tests for gradbook.hardware."""

from __future__ import annotations

import os

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
