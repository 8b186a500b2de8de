"""Tests for gradbook.distribute and tools/multiworker.py.

Logical devices can only be configured before TensorFlow initialises its runtime, which the
other test files of the same pytest process may already have done, so every check that needs two
devices runs in a fresh Python process of its own (with a time limit, so that a hang fails).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradbook import distribute

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str, *args: str, timeout: float = 120) -> str:
    """Run ``code`` (or, with ``args``, a script) in a fresh interpreter; return its stdout."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])))
    command = [sys.executable, *args] if args else [sys.executable, "-c", textwrap.dedent(code)]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"exit status {done.returncode}:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


# -- no TensorFlow needed -----------------------------------------------------------------------
def test_scaled_learning_rate_is_linear_in_the_global_batch():
    assert distribute.scaled_learning_rate(0.1, 256, 256) == pytest.approx(0.1)
    assert distribute.scaled_learning_rate(0.01, 64, 512) == pytest.approx(0.08)
    assert distribute.scaled_learning_rate(0.2, 128, 64) == pytest.approx(0.1)


@pytest.mark.parametrize("args", [(0.0, 64, 128), (0.1, 0, 128), (0.1, 64, 2.5), (-1, 64, 64)])
def test_scaled_learning_rate_rejects_bad_arguments(args):
    with pytest.raises(ValueError):
        distribute.scaled_learning_rate(*args)


def test_tf_config_names_the_cluster_and_the_task():
    config = json.loads(distribute.tf_config(["a:1000", "b:1001", "c:1002"], 2))
    assert config == {"cluster": {"worker": ["a:1000", "b:1001", "c:1002"]}, "task": {"type": "worker", "index": 2}}


@pytest.mark.parametrize("workers, index, word", [
    ([], 0, "empty"), (["a:1000"], 1, "index"), (["a"], 0, "host:port"), (["a:port"], 0, "host:port"),
    (["a:70000"], 0, "host:port"), (["a:1", "b:2"], -1, "index"),
])
def test_tf_config_rejects_bad_clusters(workers, index, word):
    with pytest.raises(ValueError, match=word):
        distribute.tf_config(workers, index)


# -- two logical CPUs, each check in a process of its own -----------------------------------------
@pytest.mark.slow
def test_replica_gradients_sum_to_the_whole_batch_gradient_unless_batch_norm_is_per_replica():
    out = run_python("""
        import json, keras, numpy as np
        from gradbook import data, distribute
        devices = distribute.logical_devices(2)
        assert distribute.logical_devices(2) == devices            # idempotent
        strategy = distribute.mirrored()
        ds = data.load("digits", n_train=64, n_test=16, seed=0)
        x, y = ds.x_train, ds.y_train

        def build(norm):
            keras.utils.set_random_seed(0)
            layers = [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3)]
            if norm is not None:
                layers.append(keras.layers.BatchNormalization(synchronized=norm))
            model = keras.Sequential(layers + [keras.layers.ReLU(), keras.layers.Flatten(), keras.layers.Dense(10)])
            model.compile(keras.optimizers.SGD(0.1), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
            return model

        report = {"devices": devices, "replicas": strategy.num_replicas_in_sync, "largest": {}}
        for norm in (None, True, False):
            with strategy.scope():
                model = build(norm)
            replicas = distribute.replica_gradients(strategy, model, x, y)
            whole = distribute.batch_gradients(build(norm), x, y)
            assert [r.shape for r in replicas] == [w.shape for w in whole]
            scale = max(float(np.max(np.abs(w))) for w in whole)   # relative to the largest entry
            report["largest"][str(norm)] = max(float(np.max(np.abs(r - w))) for r, w in zip(replicas, whole)) / scale
        try:
            distribute.replica_gradients(strategy, build(None), x, y)
        except ValueError as err:
            report["plain"] = str(err)
        with strategy.scope():
            model = build(None)
        try:
            distribute.replica_gradients(strategy, model, x[:63], y[:63])
        except ValueError as err:
            report["odd"] = str(err)
        try:
            distribute.mirrored(["/cpu:7"])
        except ValueError as err:
            report["unknown"] = str(err)
        print(json.dumps(report))
    """)
    report = json.loads(out.strip().splitlines()[-1])
    assert report["devices"] == ["/device:CPU:0", "/device:CPU:1"] and report["replicas"] == 2
    assert report["largest"]["None"] < 1e-5      # the sum of the replicas' gradients is the whole batch's
    assert report["largest"]["True"] < 1e-5      # synchronized batch normalisation keeps it so
    assert report["largest"]["False"] > 1e-3     # per-replica batch statistics break it
    assert "strategy.scope()" in report["plain"]
    assert "multiple of the 2 replicas" in report["odd"]
    assert "logical_devices" in report["unknown"] and "cpu:7" in report["unknown"]


@pytest.mark.slow
def test_logical_devices_after_tensorflow_started_says_to_call_it_first():
    out = run_python("""
        import tensorflow as tf
        from gradbook import distribute
        tf.constant(1.0) + 1                     # starts the runtime with one CPU
        try:
            distribute.logical_devices(2)
        except RuntimeError as err:
            print("RuntimeError:", err)
    """)
    assert "RuntimeError:" in out and "first" in out and "restart the kernel" in out


@pytest.mark.slow
def test_two_local_workers_train_the_same_weights_as_one_process(tmp_path):
    """tools/multiworker.py: two MultiWorkerMirroredStrategy workers on localhost finish, hold the
    same weights, lower the loss, and match one process with the same global batch."""
    script = str(ROOT / "tools" / "multiworker.py")
    run_python("", script, "--local", "2", "--epochs", "2", "--timeout", "90", "--output",
               str(tmp_path / "workers.json"), timeout=120)
    run_python("", script, "--single", "--epochs", "2", "--output", str(tmp_path / "single.json"), timeout=60)
    workers = json.loads((tmp_path / "workers.json").read_text())
    single = json.loads((tmp_path / "single.json").read_text())
    assert [w["worker"] for w in workers] == [0, 1] and {w["replicas"] for w in workers} == {2}
    assert workers[0]["checksum"] == workers[1]["checksum"]
    assert workers[0]["loss"][-1] < workers[0]["loss"][0]
    import numpy as np

    np.testing.assert_allclose(workers[0]["weights"], single["weights"], atol=1e-5)
    np.testing.assert_allclose(workers[0]["loss"], single["loss"], rtol=1e-5)


@pytest.mark.slow
def test_multiworker_local_mode_reports_a_failed_worker(tmp_path):
    """A worker that fails stops the others and the launcher says which failed and why."""
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    done = subprocess.run([sys.executable, str(ROOT / "tools" / "multiworker.py"), "--local", "2",
                           "--batch-size", "3", "--timeout", "300"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=360)
    assert done.returncode != 0
    # Both workers fail the same check at about the same time: whichever exits first is reported
    # with the end of its output, and the other either exited too or was stopped because of it.
    reports = dict(re.findall(r"worker ([01]) (.*?)(?=\nworker [01] |\nA worker waits|\Z)", done.stderr, re.S))
    assert set(reports) == {"0", "1"}, done.stderr[-3000:]
    failed = [w for w, text in reports.items()
              if text.startswith("exited with status 1;") and "does not split evenly" in text]
    assert failed, done.stderr[-3000:]
    for worker in set(reports) - set(failed):
        assert reports[worker].startswith("was stopped after another worker failed"), done.stderr[-3000:]
