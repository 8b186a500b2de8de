"""Train one small network on several machines with ``tf.distribute.MultiWorkerMirroredStrategy``.

Each worker runs this same script with its own ``TF_CONFIG`` (the cluster's addresses and its
index, see ``gradbook.distribute.tf_config``); worker 0 is the chief. Every worker holds a copy of
the network, takes its share of each global batch, and the workers all-reduce their gradients
over the network before every step, so all end with the same weights. Each worker prints
JSON: its final loss and accuracy, and a checksum of its weights.

Usage:

    # on every machine, with TF_CONFIG set (the README shows how):
    python tools/multiworker.py [--epochs 3] [--batch-size 64] [--output result.json]
    # all workers on this machine, each in its own process on a free localhost port:
    python tools/multiworker.py --local 2 [--timeout 120]
    # the same training in one process without any strategy, to compare:
    python tools/multiworker.py --single

The data are scikit-learn's digits (offline), through ``gradbook.data.load("digits")``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_ports(n: int) -> list[int]:
    """``n`` TCP ports on localhost that nothing listens on now."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("localhost", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def train_once(*, epochs: int, batch_size: int, learning_rate: float, seed: int, single: bool,
               timeout: float) -> dict:
    """Train the network in this process: as one worker of the TF_CONFIG cluster, or alone.

    The loop is the one ``model.fit`` runs (Keras's loss: each replica's mean divided by the
    number of replicas; the optimizer sums the replicas' gradients), written out because Keras 3's
    ``fit`` fails under ``MultiWorkerMirroredStrategy`` with more than one worker (its first step
    cannot convert the per-replica input batch to a tensor; Keras 3.15.1). Each step, global
    replica ``r`` of ``R`` takes the ``r``-th of ``R`` equal slices of the global batch, so the
    steps are those of a single process with the same global batch.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import contextlib

    import keras
    import numpy as np
    import tensorflow as tf

    from gradbook import data
    from gradbook.distribute import train_step

    if single:
        strategy, worker, workers = tf.distribute.get_strategy(), 0, 1
    else:
        if "TF_CONFIG" not in os.environ:
            raise SystemExit("TF_CONFIG is not set: set it on every worker (see the README), run all workers "
                             "here with --local N, or train alone with --single.")
        config = json.loads(os.environ["TF_CONFIG"])
        worker, workers = config["task"]["index"], len(config["cluster"]["worker"])
        options = tf.distribute.experimental.CommunicationOptions(timeout_seconds=timeout)
        strategy = tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)

    ds = data.load("digits", n_train=1024, n_test=256, seed=0)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise SystemExit(f"--batch-size {batch_size} does not split evenly between {replicas} replicas.")
    per_replica = batch_size // replicas
    keras.utils.set_random_seed(seed)
    with strategy.scope() if not single else contextlib.nullcontext():
        model = keras.Sequential([keras.Input(ds.image_shape), keras.layers.Flatten(),
                                  keras.layers.Dense(32, activation="relu"), keras.layers.Dense(ds.num_classes)])
        model.compile(keras.optimizers.SGD(learning_rate, momentum=0.9),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        model.optimizer.build(model.trainable_variables)

    step = train_step(strategy, model)

    def share(array):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(array[ctx.replica_id_in_sync_group * per_replica:
                                          (ctx.replica_id_in_sync_group + 1) * per_replica]))

    rng = np.random.default_rng(seed)   # the same order on every worker
    start = time.perf_counter()
    losses, accuracy = [], float("nan")
    steps = len(ds.x_train) // batch_size
    for _ in range(epochs):
        order = rng.permutation(len(ds.x_train))
        total_loss = total_correct = 0.0
        for s in range(steps):
            batch = order[s * batch_size:(s + 1) * batch_size]
            loss, correct = step(share(ds.x_train[batch]), share(ds.y_train[batch]))
            total_loss, total_correct = total_loss + float(loss), total_correct + float(correct)
        losses.append(total_loss / steps)
        accuracy = total_correct / (steps * batch_size)
    weights = np.concatenate([np.ravel(w) for w in model.get_weights()]).astype("float32")
    return {
        "worker": worker,
        "workers": workers,
        "replicas": replicas,
        "global_batch_size": batch_size,
        "loss": losses,
        "accuracy": accuracy,
        "checksum": hashlib.sha256(weights.tobytes()).hexdigest(),
        "weights": weights.tolist(),
        "seconds": time.perf_counter() - start,
    }


def run_local(n: int, args: argparse.Namespace) -> list[dict]:
    """Start ``n`` workers of this script on free localhost ports; wait for all, or stop them all.

    Raises
    ------
    RuntimeError
        If a worker fails or the workers have not all finished after ``args.timeout`` seconds; every
        worker still running is killed and the message holds the end of each failed worker's output.
    """
    from gradbook.distribute import tf_config

    workers = [f"localhost:{port}" for port in free_ports(n)]
    with tempfile.TemporaryDirectory(prefix="multiworker-") as folder:
        procs, outputs, logs = [], [], []
        for i in range(n):
            out, log = Path(folder) / f"worker-{i}.json", Path(folder) / f"worker-{i}.log"
            env = dict(os.environ, TF_CONFIG=tf_config(workers, i))
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "src"), env.get("PYTHONPATH")]))
            command = [sys.executable, __file__, "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
                       "--learning-rate", str(args.learning_rate), "--seed", str(args.seed),
                       "--timeout", str(args.timeout), "--output", str(out)]
            handle = open(log, "w")
            procs.append(subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT))
            outputs.append(out)
            logs.append((log, handle))
        deadline = time.monotonic() + args.timeout
        try:
            while any(p.poll() is None for p in procs):
                failed = [i for i, p in enumerate(procs) if p.poll() not in (None, 0)]
                if failed or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            for p in procs:
                if p.poll() is None:
                    p.kill()
            for p in procs:
                p.wait()
            for _, handle in logs:
                handle.close()
        problems = []
        first_failure = any(p.returncode > 0 for p in procs)
        for i, p in enumerate(procs):
            if p.returncode != 0:
                why = (f"exited with status {p.returncode}" if p.returncode > 0
                       else "was stopped after another worker failed" if first_failure
                       else f"did not finish within {args.timeout:g} s (killed)")
                tail = logs[i][0].read_text(errors="replace")[-1500:]
                problems.append(f"worker {i} {why}; its output ends:\n{tail}")
        if problems:
            raise RuntimeError(f"{n} local workers on {', '.join(workers)}: " + "\n".join(problems)
                               + "\nA worker waits for all the others: one that fails or hangs stops them all; "
                                 "raise --timeout on a slow machine.")
        return [json.loads(out.read_text()) for out in outputs]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--local", type=int, metavar="N", help="start N workers on this machine and wait for them")
    parser.add_argument("--single", action="store_true", help="train in this process without a strategy")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64, help="the global batch, over all workers")
    parser.add_argument("--learning-rate", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds each all-reduce may wait for the other workers; with --local, also how long "
                             "the workers may run in all before they are killed")
    parser.add_argument("--output", type=Path, help="also write the JSON result to this file")
    args = parser.parse_args(argv)
    if args.local is not None:
        if args.local < 1:
            parser.error("--local needs a positive number of workers")
        result = run_local(args.local, args)
    else:
        result = train_once(epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
                            seed=args.seed, single=args.single, timeout=args.timeout)
    text = json.dumps(result)
    if args.output:
        args.output.write_text(text)
    print(json.dumps([{k: v for k, v in r.items() if k != "weights"} for r in
                      (result if isinstance(result, list) else [result])], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
