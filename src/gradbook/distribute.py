"""Data parallelism with TensorFlow's own engine, ``tf.distribute``.

One machine, several devices: :func:`logical_devices` splits the one CPU (or the one GPU) into
several logical devices, so that the book can show data parallelism on any laptop, and
:func:`mirrored` makes the ``tf.distribute.MirroredStrategy`` that trains one copy of the network
on each. :func:`replica_gradients` and :func:`batch_gradients` compute the two sides of the
identity behind it: the sum of the replicas' gradients is the gradient of the whole batch.
:func:`scaled_learning_rate` is the linear scaling rule for a larger global batch.

Several machines: ``tf.distribute.MultiWorkerMirroredStrategy`` reads the cluster from the
``TF_CONFIG`` environment variable, which :func:`tf_config` writes; ``tools/multiworker.py``
trains with it (the README says how to run it on real machines), one :func:`train_step` at a time.

To train with a strategy, build and compile the network inside ``with strategy.scope():`` and
pass the strategy to :func:`gradbook.training.train` (or to :func:`gradbook.training.train_cnn`,
which builds inside the scope itself).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Sequence

from gradbook.validation import check_number, check_whole

if TYPE_CHECKING:
    import keras
    import numpy as np
    import tensorflow as tf

__all__ = ["batch_gradients", "logical_devices", "mirrored", "replica_gradients", "scaled_learning_rate",
           "tf_config", "train_step"]


def logical_devices(n: int = 2, *, gpu_memory_mb: int = 2048) -> list[str]:
    """Split this machine's one device into ``n`` logical devices; return the devices' names.

    On a CPU machine the CPU becomes ``n`` logical CPUs (they share the cores: the split shows
    how data parallelism works, it does not make training faster). With exactly one GPU, the
    GPU becomes ``n`` logical GPUs of ``gpu_memory_mb`` each. With ``n`` GPUs or more nothing is
    split and the first ``n`` GPUs are returned.

    Call it first thing, before anything else touches TensorFlow: logical devices can only be
    configured before TensorFlow initialises its runtime. Calling it again with the same ``n``
    does nothing. Listing the devices initialises the runtime.

    Parameters
    ----------
    n : int, default 2
        How many devices to return.
    gpu_memory_mb : int, default 2048
        Memory of each logical GPU when one GPU is split (ignored otherwise).

    Returns
    -------
    list of str
        The devices' names, such as ``["/device:CPU:0", "/device:CPU:1"]``, to pass to
        :func:`mirrored`.

    Raises
    ------
    ValueError
        If ``n`` or ``gpu_memory_mb`` is not a positive whole number, or the machine has more than
        one GPU but fewer than ``n``.
    RuntimeError
        If TensorFlow's runtime is already initialised without this split (restart the kernel
        or the process and call this function before anything else).
    """
    import tensorflow as tf

    n = check_whole(n, "n")
    gpu_memory_mb = check_whole(gpu_memory_mb, "gpu_memory_mb")
    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= n:
        return [d.name for d in tf.config.list_logical_devices("GPU")[:n]]
    if len(gpus) > 1:
        raise ValueError(f"This machine has {len(gpus)} GPUs, fewer than the {n} devices asked for: "
                         f"pass n={len(gpus)} (one replica per GPU).")
    kind = "GPU" if gpus else "CPU"
    physical = (gpus or tf.config.list_physical_devices("CPU"))[0]
    limit = gpu_memory_mb if gpus else None
    wanted = [tf.config.LogicalDeviceConfiguration(memory_limit=limit) for _ in range(n)]
    current = tf.config.get_logical_device_configuration(physical) or []
    if len(current) != n:
        try:
            tf.config.set_logical_device_configuration(physical, wanted)
        except RuntimeError as err:
            have = len(tf.config.list_logical_devices(kind))
            raise RuntimeError(
                f"TensorFlow is already initialised with {have} logical {kind} device(s), and the split into "
                f"{n} can only be made before that: call gradbook.distribute.logical_devices({n}) first "
                f"thing, before any other TensorFlow or Keras call (in a notebook, restart the kernel and "
                f"run it in the first cell). TensorFlow said: {err}") from err
    return [d.name for d in tf.config.list_logical_devices(kind)[:n]]


def mirrored(devices: Sequence[str] | None = None) -> tf.distribute.MirroredStrategy:
    """A ``tf.distribute.MirroredStrategy`` over ``devices`` that works on CPUs too.

    The strategy keeps one copy (replica) of every variable on each device, gives each replica
    its share of every batch, and all-reduces (sums) their gradients before every step.

    The all-reduce: on several physical GPUs, TensorFlow's default (NCCL). On CPUs, or logical
    GPUs split from one, NCCL cannot run (it is a library for physical GPUs), and this function
    asks for ``tf.distribute.ReductionToOneDevice``, which is what TensorFlow itself falls back
    to there (with a warning that this avoids): the gradients are summed on one device and the sum
    is copied back to every replica. ``HierarchicalCopyAllReduce`` is built for the links between
    eight GPUs of one server and brings nothing on a CPU.

    Parameters
    ----------
    devices : sequence of str, optional
        Device names, such as :func:`logical_devices` returns. Default: every GPU TensorFlow
        sees, or, with none, every logical CPU (``tf.distribute.MirroredStrategy()`` itself would
        use one CPU only).

    Returns
    -------
    tf.distribute.MirroredStrategy

    Raises
    ------
    ValueError
        If ``devices`` is empty or names a device TensorFlow does not have (the message lists
        those it has and says how to make more).
    """
    import tensorflow as tf

    available = [d.name for d in tf.config.list_logical_devices() if d.device_type in ("CPU", "GPU")]
    if devices is None:
        gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
        devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    devices = list(devices)
    if not devices:
        raise ValueError("devices is empty: name at least one device, or pass None for all of them.")
    canonical = {_canonical(d) for d in available}
    unknown = [d for d in devices if _canonical(d) not in canonical]
    if unknown:
        raise ValueError(f"TensorFlow has no device {', '.join(unknown)}; it has {', '.join(available)}. "
                         "To have more, call gradbook.distribute.logical_devices(n) first thing.")
    physical_gpus = tf.config.list_physical_devices("GPU")
    on_real_gpus = (all("GPU" in _canonical(d) for d in devices)
                    and len(tf.config.list_logical_devices("GPU")) == len(physical_gpus))
    ops = None if on_real_gpus else tf.distribute.ReductionToOneDevice()
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=ops)


def _canonical(name: str) -> str:
    """``"/cpu:1"`` and ``"/job:localhost/replica:0/task:0/device:CPU:1"`` -> ``"CPU:1"``."""
    last = name.split("/")[-1].upper()
    return last.removeprefix("DEVICE:")


def replica_gradients(strategy: tf.distribute.Strategy, model: keras.Model, x, y) -> list[np.ndarray]:
    """The gradient one training step of ``model.fit`` applies under ``strategy``: the replicas' sum.

    The batch ``(x, y)`` is the global batch. Replica ``i`` of ``n`` gets the ``i``-th of ``n``
    equal consecutive slices, computes Keras's loss on it (the mean over its examples divided
    by ``n``, that is the sum of its examples' losses divided by the global batch size, plus its
    share of any regularisation) and that loss's gradient; the all-reduce sums the replicas'
    gradients, and every replica ends up with the same sum.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
        The strategy under whose ``scope()`` ``model`` was built.
    model : keras.Model
        A compiled model (its loss is the compiled loss) built under ``strategy.scope()``.
    x, y : array_like
        One global batch; its length must be a multiple of the number of replicas.

    Returns
    -------
    list of numpy.ndarray
        One array per trainable variable, in the order of ``model.trainable_variables``.

    Raises
    ------
    ValueError
        If the model was not built under ``strategy.scope()``, is not compiled, or the batch does not
        split evenly between the replicas.
    AssertionError
        If the replicas ended with different sums (the all-reduce failed).
    """
    import numpy as np
    import tensorflow as tf

    _check_built_under(strategy, model)
    n = strategy.num_replicas_in_sync
    x, y = np.asarray(x), np.asarray(y)
    if len(x) != len(y) or len(x) == 0 or len(x) % n:
        raise ValueError(f"The batch has {len(x)} inputs and {len(y)} labels; it must be one non-empty batch "
                         f"whose length is a multiple of the {n} replicas.")
    per = len(x) // n

    def shard(array):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: tf.constant(array[ctx.replica_id_in_sync_group * per:(ctx.replica_id_in_sync_group + 1) * per]))

    def one_replica(xb, yb):
        with tf.GradientTape() as tape:
            loss = model.compute_loss(xb, yb, model(xb, training=True), training=True)
        gradients = tape.gradient(loss, model.trainable_variables)
        return tf.distribute.get_replica_context().all_reduce("SUM", gradients)

    @tf.function
    def step(xs, ys):
        return strategy.run(one_replica, args=(xs, ys))

    summed = step(shard(x), shard(y))
    result = []
    for value in summed:
        copies = [np.asarray(c) for c in strategy.experimental_local_results(value)]
        assert all(np.array_equal(copies[0], c) for c in copies[1:]), "the replicas' all-reduced gradients differ"
        result.append(copies[0])
    return result


def batch_gradients(model: keras.Model, x, y) -> list[np.ndarray]:
    """The gradient of Keras's loss (the mean over the whole batch) on one device, without a strategy.

    The reference for :func:`replica_gradients`: on the same weights and the same batch the two
    agree to float rounding, unless a layer computes statistics of the batch (batch normalisation
    that is not ``synchronized``).

    Parameters
    ----------
    model : keras.Model
        A compiled model, built under a strategy or not.
    x, y : array_like
        The batch.

    Returns
    -------
    list of numpy.ndarray
        One array per trainable variable, in the order of ``model.trainable_variables``.

    Raises
    ------
    ValueError
        If the model is not compiled.
    """
    import numpy as np
    import tensorflow as tf

    _check_compiled(model)
    x, y = tf.constant(np.asarray(x)), tf.constant(np.asarray(y))
    with tf.GradientTape() as tape:
        loss = model.compute_loss(x, y, model(x, training=True), training=True)
    return [np.asarray(g) for g in tape.gradient(loss, model.trainable_variables)]


def _check_compiled(model) -> None:
    if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", True):
        raise ValueError("The model is not compiled: call model.compile(optimizer, loss) first.")


def _check_built_under(strategy, model) -> None:
    _check_compiled(model)
    if not model.weights or not all(strategy.extended.variable_created_in_scope(v.value) for v in model.weights):
        raise ValueError("The model's variables were not created under this strategy: build and compile the "
                         "model inside `with strategy.scope():`.")


def train_step(strategy: tf.distribute.Strategy, model: keras.Model):
    """One training step of ``model`` under ``strategy``, written out with ``strategy.run``.

    What ``model.fit`` does each step, for a strategy under which ``fit`` fails (Keras 3 under
    ``MultiWorkerMirroredStrategy`` with several workers): every replica computes Keras's loss on
    its slice (its mean divided by the number of replicas) and its gradient, and the optimizer's
    ``apply_gradients`` all-reduces (sums) the replicas' gradients before the update.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
    model : keras.Model
        A compiled model built under ``strategy.scope()``, its optimizer built.

    Returns
    -------
    callable
        ``step(xs, ys)``, a ``tf.function`` of the per-replica slices (such as
        ``strategy.experimental_distribute_values_from_function`` makes) that updates the weights
        and returns the replicas' summed loss and the number of correctly classified examples.
    """
    import tensorflow as tf

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb, training=True)
            # Keras's loss on this slice: its mean, already divided by the number of replicas
            loss = model.compute_loss(xb, yb, logits, training=True)
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables))   # sums over replicas
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, -1), tf.cast(yb, tf.int64)), tf.float32))
        return loss, correct

    @tf.function
    def step(xs, ys):
        loss, correct = strategy.run(replica_step, args=(xs, ys))
        return strategy.reduce("SUM", loss, axis=None), strategy.reduce("SUM", correct, axis=None)

    return step


def scaled_learning_rate(base_learning_rate: float, base_batch_size: int, global_batch_size: int) -> float:
    """The linear scaling rule: a global batch ``k`` times larger gets a ``k`` times larger learning rate.

    Goyal et al. (2017), "Accurate, Large Minibatch SGD: Training ImageNet in 1 Hour"
    (arXiv:1706.02677), for SGD with momentum, together with a gradual warm-up
    (:func:`gradbook.optimizers.warmup_cosine`): ``k`` small steps of rate ``eta`` move the
    weights about as far as one large step of ``k * eta`` on a ``k`` times larger batch, as
    long as the gradient changes little over those ``k`` steps, which fails at the start of
    training (hence the warm-up).

    Parameters
    ----------
    base_learning_rate : float
        The rate that works for ``base_batch_size``.
    base_batch_size : int
    global_batch_size : int
        The batch of one step, summed over every replica and worker.

    Returns
    -------
    float

    Raises
    ------
    ValueError
        If the rate is not a positive number or a batch size not a positive whole number.

    Examples
    --------
    >>> scaled_learning_rate(0.1, 256, 8192)
    3.2
    """
    base_learning_rate = check_number(base_learning_rate, "base_learning_rate")
    base_batch_size = check_whole(base_batch_size, "base_batch_size")
    global_batch_size = check_whole(global_batch_size, "global_batch_size")
    return base_learning_rate * global_batch_size / base_batch_size


def tf_config(workers: Sequence[str], index: int) -> str:
    """The ``TF_CONFIG`` of worker ``index`` in a cluster of ``workers``, as JSON.

    ``tf.distribute.MultiWorkerMirroredStrategy`` reads it from the environment variable
    ``TF_CONFIG``; every worker gets the same list and its own index. Worker 0 is the chief.

    Parameters
    ----------
    workers : sequence of str
        ``"host:port"`` of every worker, in the same order on every machine.
    index : int
        This worker's place in ``workers``, from 0.

    Returns
    -------
    str

    Raises
    ------
    ValueError
        If ``workers`` is empty, an address is not ``host:port`` with a port number, or
        ``index`` is out of range.

    Examples
    --------
    >>> tf_config(["10.0.0.1:12345", "10.0.0.2:12345"], 1)
    '{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}, "task": {"type": "worker", "index": 1}}'
    """
    workers = list(workers)
    if not workers:
        raise ValueError("workers is empty: give the host:port of every worker.")
    for address in workers:
        host, _, port = str(address).rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"Worker address {address!r} is not host:port (for example 10.0.0.1:12345).")
    index = check_whole(index, "index", minimum=0, maximum=len(workers) - 1)
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}})
