"""Shared test setup: quiet, deterministic TensorFlow, a headless matplotlib, fixed Hypothesis."""

import os

# Must happen before anything imports TensorFlow or matplotlib.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # bit-for-bit reproducible CPU kernels
os.environ.setdefault("MPLBACKEND", "Agg")

import matplotlib  # noqa: E402

matplotlib.use("Agg")

from hypothesis import HealthCheck, settings  # noqa: E402

# Derandomized (same examples every run), no example database written into the working tree.
settings.register_profile(
    "gradbook",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile("gradbook")
