"""Time gradbook's NumPy convolution and pooling against TensorFlow on this CPU.

For each case: ``method="loop"`` (plain Python, small shapes only), ``method="vectorized"``
(im2col + one matrix product, or a strided window view) and the ``tf.nn`` op, all on the same
float32 arrays. Each timing is the median of several repeats after a warm-up call; TensorFlow is
warmed up first and its result is pulled back to NumPy inside the timed call, as NumPy's is.

Prints a table (seconds and the ratios loop/vectorized and vectorized/TF) and writes
``benchmarks/results/conv_speed.json``. Runs in well under a minute.

Usage: python benchmarks/conv_speed.py

On a small, busy machine the multi-threaded BLAS behind the vectorized convolution's matrix
product can vary several-fold from run to run; ``OPENBLAS_NUM_THREADS=1`` gives steadier numbers.
The JSON records that variable and the load average.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from gradbook.conv import avg_pool2d, conv2d, max_pool2d  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "conv_speed.json"
REPEATS = {"loop": 5, "vectorized": 15, "tf": 15}


def median_time(fn, repeats: int) -> float:
    fn()  # warm-up (caches, TF kernels, first allocation)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_cases(rng: np.random.Generator) -> list[dict]:
    def images(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    small_x, small_w = images(1, 16, 16, 3), images(3, 3, 3, 8)
    big_x, big_w = images(32, 28, 28, 8), images(3, 3, 8, 16)
    small_p, big_p = images(1, 16, 16, 8), images(32, 28, 28, 16)
    cases = []
    for label, x, w, with_loop in (("small", small_x, small_w, True), ("large", big_x, big_w, False)):
        xt, wt = tf.constant(x), tf.constant(w)
        cases.append(
            dict(
                op="conv2d",
                shape=f"x{x.shape} w{w.shape} same",
                label=label,
                fns={
                    **({"loop": lambda x=x, w=w: conv2d(x, w, padding="same", method="loop")} if with_loop else {}),
                    "vectorized": lambda x=x, w=w: conv2d(x, w, padding="same"),
                    "tf": lambda xt=xt, wt=wt: tf.nn.conv2d(xt, wt, strides=1, padding="SAME").numpy(),
                },
            )
        )
    for label, x, with_loop in (("small", small_p, True), ("large", big_p, False)):
        xt = tf.constant(x)
        for op, ours, theirs in (("max_pool2d", max_pool2d, tf.nn.max_pool2d), ("avg_pool2d", avg_pool2d, tf.nn.avg_pool2d)):
            cases.append(
                dict(
                    op=op,
                    shape=f"x{x.shape} pool 2 stride 2 valid",
                    label=label,
                    fns={
                        **({"loop": lambda x=x, f=ours: f(x, 2, method="loop")} if with_loop else {}),
                        "vectorized": lambda x=x, f=ours: f(x, 2),
                        "tf": lambda xt=xt, g=theirs: g(xt, ksize=2, strides=2, padding="VALID").numpy(),
                    },
                )
            )
    return cases


def main() -> None:
    rng = np.random.default_rng(0)
    # warm TensorFlow up: first op calls load kernels and set up thread pools
    warm = tf.constant(rng.standard_normal((4, 16, 16, 4)).astype(np.float32))
    for _ in range(3):
        tf.nn.conv2d(warm, tf.ones((3, 3, 4, 4)), strides=1, padding="SAME").numpy()
        tf.nn.max_pool2d(warm, 2, 2, "VALID").numpy()
        tf.nn.avg_pool2d(warm, 2, 2, "VALID").numpy()

    started = time.perf_counter()
    rows = []
    for case in make_cases(rng):
        outputs = {name: np.asarray(fn()) for name, fn in case["fns"].items()}
        max_diff = max(float(np.max(np.abs(out - outputs["tf"]))) for out in outputs.values())
        seconds = {name: median_time(fn, REPEATS[name]) for name, fn in case["fns"].items()}
        rows.append(
            dict(
                op=case["op"],
                size=case["label"],
                shape=case["shape"],
                seconds=seconds,
                loop_over_vectorized=seconds["loop"] / seconds["vectorized"] if "loop" in seconds else None,
                vectorized_over_tf=seconds["vectorized"] / seconds["tf"],
                max_abs_diff_vs_tf=max_diff,
            )
        )
    elapsed = time.perf_counter() - started

    def fmt(v):
        return "-" if v is None else f"{v:.2e}"

    header = f"{'op':<11} {'size':<6} {'loop s':>9} {'vector s':>9} {'tf s':>9} {'loop/vec':>9} {'vec/tf':>7}  shape"
    print(header)
    print("-" * len(header))
    for r in rows:
        s = r["seconds"]
        ratio = "-" if r["loop_over_vectorized"] is None else f"{r['loop_over_vectorized']:.0f}x"
        print(
            f"{r['op']:<11} {r['size']:<6} {fmt(s.get('loop')):>9} {fmt(s['vectorized']):>9} {fmt(s['tf']):>9} "
            f"{ratio:>9} {r['vectorized_over_tf']:>6.1f}x  {r['shape']}"
        )
    print(f"\nfloat32, median of {REPEATS['loop']} (loop) or {REPEATS['tf']} (vectorized, TF) repeats after one warm-up; {os.cpu_count()} CPUs; benchmark took {elapsed:.1f} s")

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            dict(
                machine=dict(
                    platform=platform.platform(),
                    processor=platform.processor(),
                    cpu_count=os.cpu_count(),
                    python=platform.python_version(),
                    numpy=np.__version__,
                    tensorflow=tf.__version__,
                    tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
                    openblas_num_threads=os.environ.get("OPENBLAS_NUM_THREADS"),
                    load_average=os.getloadavg(),
                ),
                dtype="float32",
                repeats=REPEATS,
                statistic="median",
                elapsed_s=elapsed,
                rows=rows,
            ),
            indent=2,
        )
    )
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
