"""Grading one submission so that nothing the student's code does can make a wrong answer score.

A submission's code runs in a *student kernel*: a Python process in a :mod:`gradbook.sandbox`
(no file system but its own scratch folder, no network, limits on memory, processes, CPU time
and file size). The tests run elsewhere: in the *judge*, the grader's own process, which has
the instructor's notebook (solutions and hidden tests) and never sends it to the kernel.

The two talk through a pair of pipes, and only in *plain data*: numbers, strings, booleans,
``None``, NumPy arrays of numbers, lists, tuples and dicts of them, and Keras models (as a
``.keras`` file, loaded with ``safe_mode=True``). The judge runs each test cell of the
instructor's notebook in its own namespace, where each name the assignment asks the student to
define (the names the instructor's solution cells define) stands for the student's:

* a value (``LR_MAX = 0.2``) is fetched from the kernel as plain data;
* a function becomes a proxy: calling it sends the arguments to the kernel, runs the student's
  function there, and brings back the result as plain data. A function passed as an argument
  (a gradient, say) stays in the judge and the kernel calls back for it; an array argument the
  student's function changes in place is changed in the judge too.

So the asserts, ``np.testing`` and the expected values all live in the judge: a student who
replaces ``np.testing.assert_allclose``, returns an object whose ``shape`` or ``__eq__`` lies,
or reads the caller's frame for the expected value changes nothing the judge uses. What
crosses the pipe is checked by the judge's decoder, whatever the kernel sends.

:func:`grade_notebook` grades one notebook and returns a :class:`Report`; ``python -m
gradbook.grading judge ...`` does the same in a process of its own (how
:func:`gradbook.classroom.grade` uses it, one process per submission).
"""

from __future__ import annotations

import ast
import base64
import builtins
import dataclasses
import io
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gradbook import sandbox

__all__ = ["MAX_MESSAGE_BYTES", "NotPlainData", "Question", "Report", "StudentError", "answer_names", "cell_source",
           "decode", "encode", "fresh_network", "grade_notebook", "main", "nbgrader_metadata", "suspicious"]

#: The largest message either side accepts (a Keras model or an array, base64-encoded).
MAX_MESSAGE_BYTES = 128 * 2**20
#: The largest Keras model the judge loads, unpacked (its ``.keras`` file is a zip archive).
MAX_MODEL_BYTES = 512 * 2**20
#: Nesting depth of lists, tuples and dicts that crosses the pipe.
MAX_DEPTH = 16
#: Characters of a student's error message that are kept.
MAX_TEXT = 2000
#: Output a student's cell may print that is kept in the kernel; the rest is counted and dropped.
OUTPUT_KEPT = 64 * 2**10
#: The student kernel's scratch folder: a private one in memory, of at most this many bytes.
SCRATCH_BYTES = 256 * 2**20
#: A failed test's message when its details could carry a hidden test's inputs.
WITHHELD = "a test failed (details withheld)"
#: The student kernel's niceness (19 is the lowest priority).
KERNEL_NICENESS = 19
#: How often a kernel that died or hung is started again (replaying the cells before) per notebook.
MAX_RESTARTS = 4

_DTYPES = {np.dtype(t).str for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16,
                                     np.uint32, np.uint64, np.float16, np.float32, np.float64)}
# nbgrader's own rule (ClearHiddenTests): any line that contains the text is a delimiter.
_HIDDEN_BEGIN, _HIDDEN_END = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"


class NotPlainData(TypeError):
    """A value that cannot cross between the judge and the student kernel."""


class StudentError(Exception):
    """The student's code raised an exception that is not one of Python's built-in ones."""


class ChangedInput(StudentError):
    """The student's function changed an array it was given (the test's own array is not changed)."""


class KernelLost(BaseException):
    """The student kernel died, broke the protocol, or ran past its time; it is started again."""


class CellTimeout(BaseException):
    """A test cell ran past its time limit."""


# -- plain data -------------------------------------------------------------------------------

def encode(value, *, callbacks: dict | None = None, scratch: str | None = None, _depth: int = 0):
    """``value`` as JSON-ready plain data, or :class:`NotPlainData`.

    Parameters
    ----------
    value : object
    callbacks : dict, optional
        When given, a function becomes a callback handle and is stored here under its number
        (the judge's side: the kernel calls it back).
    scratch : str, optional
        A folder to save Keras models in (their ``.keras`` bytes cross the pipe).

    Returns
    -------
    object
        JSON-ready: numbers, strings, lists and tagged dicts.

    Examples
    --------
    >>> decode(encode((1, 2.5, [np.arange(3)], {"a": None})))
    (1, 2.5, [array([0, 1, 2])], {'a': None})
    >>> encode(object())
    Traceback (most recent call last):
    ...
    gradbook.grading.NotPlainData: an object is not plain data (numbers, strings, NumPy arrays of numbers, lists, tuples and dicts of them, or a Keras model)
    """
    if _depth > MAX_DEPTH:
        raise NotPlainData(f"nested deeper than {MAX_DEPTH} levels")
    kind = type(value)
    if value is None or kind in (bool, str):
        return value
    if kind is int:
        return value if abs(value) < 2**63 else {"$int": str(value)}
    if kind is float:
        return value if np.isfinite(value) else {"$float": repr(value)}
    if isinstance(value, (np.bool_, np.integer, np.floating)):
        return encode(value.item(), _depth=_depth)
    if kind is np.ndarray or (type(value).__module__.startswith("tensorflow") and hasattr(value, "numpy")):
        array = np.asarray(value.numpy() if kind is not np.ndarray else value)  # tobytes() is in C order
        if array.dtype.str not in _DTYPES:
            raise NotPlainData(f"an array of {array.dtype} is not plain data (arrays of numbers or booleans are)")
        return {"$array": [array.dtype.str, list(array.shape), base64.b64encode(array.tobytes()).decode()]}
    if kind in (list, tuple):
        items = [encode(v, callbacks=callbacks, scratch=scratch, _depth=_depth + 1) for v in value]
        return items if kind is list else {"$tuple": items}
    if kind is dict:
        if not all(type(k) is str for k in value):
            raise NotPlainData("a dict with keys that are not strings is not plain data")
        return {"$dict": {k: encode(v, callbacks=callbacks, scratch=scratch, _depth=_depth + 1) for k, v in value.items()}}
    if _is_keras_model(value):
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            path = os.path.join(tmp, "model.keras")
            value.save(path)
            return {"$model": base64.b64encode(Path(path).read_bytes()).decode()}
    if callbacks is not None and callable(value) and not isinstance(value, type):
        callbacks[len(callbacks)] = value
        return {"$callback": len(callbacks) - 1}
    article = "an" if kind.__name__[:1].lower() in "aeiou" else "a"
    raise NotPlainData(f"{article} {kind.__name__} is not plain data (numbers, strings, NumPy arrays of numbers, "
                       "lists, tuples and dicts of them, or a Keras model)")


def _is_keras_model(value) -> bool:
    keras = sys.modules.get("keras")
    return keras is not None and isinstance(value, keras.Model)


def decode(data, *, callback: Callable[[int], Callable] | None = None, scratch: str | None = None, _depth: int = 0):
    """The value :func:`encode` made, checked: anything malformed raises :class:`NotPlainData`.

    Parameters
    ----------
    data : object
        Parsed JSON.
    callback : callable, optional
        Turns a callback number into a function (the kernel's side); without it a callback
        handle is refused.
    scratch : str, optional
        A folder to write a model's ``.keras`` file in before loading it (``safe_mode=True``).

    Returns
    -------
    object
    """
    if _depth > MAX_DEPTH:
        raise NotPlainData(f"nested deeper than {MAX_DEPTH} levels")
    kind = type(data)
    if data is None or kind in (bool, int, str):
        return data
    if kind is float:
        return data
    if kind is list:
        return [decode(v, callback=callback, scratch=scratch, _depth=_depth + 1) for v in data]
    if kind is not dict or len(data) != 1:
        raise NotPlainData(f"malformed message: {kind.__name__}")
    (tag, body), = data.items()
    if tag == "$int" and type(body) is str and re.fullmatch(r"-?\d{1,4300}", body):
        return int(body)
    if tag == "$float" and body in ("nan", "inf", "-inf"):
        return float(body)
    if tag == "$tuple" and type(body) is list:
        return tuple(decode(v, callback=callback, scratch=scratch, _depth=_depth + 1) for v in body)
    if tag == "$dict" and type(body) is dict:
        return {str(k): decode(v, callback=callback, scratch=scratch, _depth=_depth + 1) for k, v in body.items()}
    if tag == "$array" and type(body) is list and len(body) == 3:
        dtype, shape, payload = body
        if dtype not in _DTYPES or type(shape) is not list or len(shape) > 32 or type(payload) is not str:
            raise NotPlainData("malformed array")
        if not all(type(n) is int and 0 <= n for n in shape):
            raise NotPlainData("malformed array shape")
        raw = _b64decode(payload)
        if int(np.prod(shape, dtype=object)) * np.dtype(dtype).itemsize != len(raw):
            raise NotPlainData("array data does not match its shape")
        try:
            return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
        except ValueError:  # a dimension too large for NumPy (an empty array with a huge axis)
            raise NotPlainData("malformed array shape") from None
    if tag == "$model" and type(body) is str:
        import keras

        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            path = os.path.join(tmp, "model.keras")
            Path(path).write_bytes(_b64decode(body))
            try:
                with zipfile.ZipFile(path) as archive:  # a .keras file is a zip: refuse a zip bomb unread
                    unpacked = sum(info.file_size for info in archive.infolist())
                if unpacked > MAX_MODEL_BYTES:
                    raise NotPlainData(f"a Keras model of {unpacked / 2**20:.0f} MiB unpacked, over the limit of "
                                       f"{MAX_MODEL_BYTES // 2**20} MiB")
                return keras.saving.load_model(path, safe_mode=True)
            except NotPlainData:
                raise
            except Exception as err:  # noqa: BLE001 - any failure: the model cannot be loaded safely
                raise NotPlainData(f"a Keras model that cannot be loaded safely ({type(err).__name__}: "
                                   f"{str(err)[:300]}); build it from Keras's own layers") from None
    if tag == "$callback" and type(body) is int and callback is not None:
        return callback(body)
    raise NotPlainData(f"malformed message: unknown tag {tag!r}")


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise NotPlainData("malformed base64 data") from None


def fresh_network(model):
    """A student's Keras network, rebuilt for a test to train: the same layers, new weights.

    The layers are built again from their configuration (``keras.models.clone_model``), so the
    weights come from their initializers, and the copy is compiled with the student's own
    optimiser and loss. A configuration that carries weights itself (an initializer holding an
    array or a long list of numbers) or freezes a layer is refused: either would let weights
    trained beforehand through.

    Parameters
    ----------
    model : keras.Model
        Compiled.

    Returns
    -------
    keras.Model

    Raises
    ------
    ValueError
        If the configuration carries weights or freezes a layer, or the model is not compiled.
    """
    import keras

    def count(node) -> int:  # the numbers in a (nested) list
        if isinstance(node, list):
            return sum(count(v) for v in node)
        return int(isinstance(node, (int, float)) and not isinstance(node, bool))

    def carries_weights(node) -> bool:
        if isinstance(node, dict):
            if node.get("class_name") == "__numpy__" or node.get("trainable") is False:
                return True
            return any(carries_weights(v) for v in node.values())
        if isinstance(node, list):
            return count(node) > 16 or any(carries_weights(v) for v in node)
        return False

    if getattr(model, "optimizer", None) is None:
        raise ValueError("compile the model")
    if carries_weights(json.loads(json.dumps(model.get_config(), default=str))):
        raise ValueError("the network's configuration holds weights or freezes a layer: build it from Keras's "
                         "initializers, with every layer trainable")
    copy = keras.models.clone_model(model)
    copy.compile(keras.optimizers.deserialize(keras.optimizers.serialize(model.optimizer)), model.loss)
    return copy


# -- the pipe ---------------------------------------------------------------------------------

class _Channel:
    """Length-prefixed JSON messages over two file descriptors, with a size limit and deadlines."""

    def __init__(self, read_fd: int, write_fd: int):
        self.read_fd, self.write_fd = read_fd, write_fd

    def send(self, message: dict, deadline: float | None = None) -> None:
        body = json.dumps(message, allow_nan=False).encode()
        if len(body) > MAX_MESSAGE_BYTES:
            raise NotPlainData(f"a message of {len(body) / 2**20:.0f} MiB is over the limit of "
                               f"{MAX_MESSAGE_BYTES / 2**20:.0f} MiB")
        data = memoryview(len(body).to_bytes(8, "big") + body)
        while data:
            if deadline is not None:  # a kernel that stops reading cannot hold the judge past it
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([], [self.write_fd], [], left)[1]:
                    raise KernelLost("timeout")
            try:
                written = os.write(self.write_fd, data[:select.PIPE_BUF if deadline is not None else 1 << 20])
            except (BrokenPipeError, OSError) as err:
                raise KernelLost(f"the pipe closed ({err.strerror or err})") from None
            data = data[written:]

    def _read(self, n: int, deadline: float | None) -> bytes:
        chunks, got = [], 0
        while got < n:
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self.read_fd], [], [], left)[0]:
                    raise KernelLost("timeout")
            try:
                chunk = os.read(self.read_fd, min(n - got, 1 << 20))
            except OSError as err:
                raise KernelLost(f"the pipe closed ({err.strerror or err})") from None
            if not chunk:
                raise KernelLost("the pipe closed")
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def receive(self, deadline: float | None = None) -> dict:
        size = int.from_bytes(self._read(8, deadline), "big")
        if size > MAX_MESSAGE_BYTES:
            raise KernelLost(f"a malformed message ({size} bytes, over the limit of {MAX_MESSAGE_BYTES})")
        try:
            message = json.loads(self._read(size, deadline))
        except (ValueError, RecursionError):
            raise KernelLost("a malformed message") from None
        if type(message) is not dict:
            raise KernelLost("a malformed message")
        return message


# -- the student kernel (runs in the sandbox) ---------------------------------------------------

class _Sink(io.TextIOBase):
    """stdout and stderr of the student's cells: keeps the first :data:`OUTPUT_KEPT` characters."""

    def __init__(self):
        self.kept, self.size, self.dropped = [], 0, 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = max(OUTPUT_KEPT - self.size, 0)
        if room:
            self.kept.append(text[:room])
            self.size += len(self.kept[-1])
        self.dropped += max(len(text) - room, 0)
        return len(text)


def _serve(read_fd: int, write_fd: int) -> None:
    """The student kernel: run cells, hand out values, call functions; until the pipe closes."""
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    channel = _Channel(read_fd, write_fd)
    # A process the student's code forks (a fork bomb, say) must not answer for the kernel: its
    # replies would be taken for the replies to later requests. Its copies of the pipes close.
    os.register_at_fork(after_in_child=lambda: (os.close(read_fd), os.close(write_fd)))
    sink = _Sink()
    sys.stdout = sys.stderr = sink
    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    scratch = os.getcwd()

    def error(err: BaseException) -> dict:
        return {"type": type(err).__name__, "message": str(err)[:MAX_TEXT]}

    def stub(number: int) -> Callable:
        def call_back(*args, **kwargs):
            channel.send({"kind": "callback", "id": number, "args": encode(list(args), scratch=scratch),
                          "kwargs": encode(kwargs, scratch=scratch)})
            reply = loop()
            if "error" in reply:
                raise _builtin_exception(reply["error"])
            return decode(reply["result"], scratch=scratch)
        return call_back

    def handle(request: dict) -> dict:
        kind = request.get("kind")
        if kind == "run":
            sink.dropped = 0
            result = shell.run_cell(str(request["source"]), store_history=False, silent=False)
            err = result.error_before_exec or result.error_in_exec
            return {"ok": err is None, "error": error(err) if err else None, "dropped": sink.dropped}
        if kind == "get":
            values = {}
            for name in request["names"]:
                if name not in shell.user_ns:
                    values[name] = {"kind": "missing"}
                    continue
                value = shell.user_ns[name]
                if callable(value) and not _is_keras_model(value) and type(value).__name__ != "module":
                    values[name] = {"kind": "callable"}
                    continue
                try:
                    values[name] = {"kind": "value", "value": encode(value, scratch=scratch)}
                except NotPlainData as err:
                    values[name] = {"kind": "unsupported", "why": str(err)}
            return {"values": values}
        if kind == "call":
            function = shell.user_ns.get(request["name"])
            try:
                args = decode(request["args"], callback=stub, scratch=scratch)
                kwargs = decode(request["kwargs"], callback=stub, scratch=scratch)
                if function is None:
                    raise NameError(f"name {request['name']!r} is not defined")
                given = [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())
                arrays = [(label, a, a.copy()) for label, a in given if type(a) is np.ndarray]
                result = function(*args, **kwargs)
                changed = [label for label, a, copy in arrays
                           if not np.array_equal(a, copy, equal_nan=copy.dtype.kind == "f")]
                if changed:
                    return {"error": {"type": "ChangedInput", "message": (
                        f"{request['name']} changed the array it was given as {changed[0]} in place; "
                        "leave the inputs unchanged (work on a copy)")}}
                return {"result": encode(result, scratch=scratch)}
            except NotPlainData as err:
                return {"error": {"type": "NotPlainData", "message": f"{request['name']} returned {err}"[:MAX_TEXT]}}
            except BaseException as err:  # noqa: BLE001 - the student's exception goes back to the judge
                return {"error": error(err)}
        return {"error": {"type": "RuntimeError", "message": f"unknown request {kind!r}"}}

    def loop() -> dict:
        """Serve requests until a reply (to a callback of ours) arrives."""
        while True:
            try:
                message = channel.receive()
            except KernelLost:
                os._exit(0)
            if message.get("kind") == "reply":
                return message
            try:
                channel.send({"kind": "reply", **handle(message)})
            except NotPlainData as err:  # a result over the message limit
                channel.send({"kind": "reply", "error": {"type": "NotPlainData", "message": str(err)[:MAX_TEXT]}})

    while True:
        loop()  # a stray reply, with no callback waiting for it, is dropped


def _builtin_exception(error) -> Exception:
    """The exception a reply describes: a built-in class of that name, or :class:`StudentError`."""
    if type(error) is not dict:
        return StudentError("malformed error")
    name, message = str(error.get("type", ""))[:100], str(error.get("message", ""))[:MAX_TEXT]
    if name == "NotPlainData":
        return NotPlainData(message)
    if name == "ChangedInput":
        return ChangedInput(message)
    cls = getattr(builtins, name, None)
    # Not StopIteration: raised in the judge, it would silently end a test's ``map``, ``zip`` or
    # ``for`` loop (``all(map(...))`` true); nor StopAsyncIteration, for ``async for``.
    if (isinstance(cls, type) and issubclass(cls, Exception)
            and not issubclass(cls, (SystemExit, KeyboardInterrupt, StopIteration, StopAsyncIteration))):
        try:
            return cls(message)
        except Exception:  # noqa: BLE001 - exceptions that need other arguments
            pass
    return StudentError(f"{name}: {message}")


# -- the judge --------------------------------------------------------------------------------

@dataclasses.dataclass
class Question:
    """One test cell's result.

    Attributes
    ----------
    name : str
        The cell's ``grade_id``.
    score, max_score : float
    message : str
        Why it failed, for the student: the failing visible test's error, or "a hidden test
        failed" (never the hidden tests' source); empty when it passed.
    """

    name: str
    score: float
    max_score: float
    message: str = ""


@dataclasses.dataclass
class Report:
    """How one notebook was graded.

    Attributes
    ----------
    questions : list of Question
        In the notebook's order.
    notes : list of str
        What happened that the instructor should know (a cell that ran past its limit, a kernel
        that died, an answer that is not plain data).
    attempts : list of str
        Code that looks like an attempt to cheat or to break the grader (see :func:`suspicious`).
    """

    questions: list[Question]
    notes: list[str] = dataclasses.field(default_factory=list)
    attempts: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping) -> Report:
        return cls([Question(**q) for q in data["questions"]], list(data["notes"]), list(data["attempts"]))


def cell_source(cell: Mapping) -> str:
    """A notebook cell's source as one string (nbformat stores it as a string or a list of lines).

    Examples
    --------
    >>> cell_source({"source": ["a = 1\\n", "b = 2"]})
    'a = 1\\nb = 2'
    """
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_metadata(cell: Mapping) -> dict:
    """A cell's nbgrader metadata; ``{}`` when it has none, or a student's edit left something odd.

    Examples
    --------
    >>> nbgrader_metadata({"metadata": {"nbgrader": {"grade_id": "q1"}}}), nbgrader_metadata({"metadata": {"nbgrader": "x"}})
    ({'grade_id': 'q1'}, {})
    """
    meta = cell.get("metadata") if isinstance(cell, Mapping) else None
    meta = meta.get("nbgrader") if isinstance(meta, Mapping) else None
    return meta if isinstance(meta, dict) else {}


def answer_names(source_nb: Mapping) -> tuple[list[str], list[str]]:
    """The names the instructor's solution cells define, and their import statements.

    Parameters
    ----------
    source_nb : mapping
        The instructor's notebook (nbformat 4 JSON).

    Returns
    -------
    names : list of str
        Functions, classes and variables bound at the top level of a solution cell: the answers.
    imports : list of str
        The import statements of those cells (the judge runs them too).

    Examples
    --------
    >>> cell = {"cell_type": "code", "metadata": {"nbgrader": {"solution": True}},
    ...         "source": "import numpy as np\\ndef f(x):\\n    return x\\nA, B = 1, 2\\n"}
    >>> answer_names({"cells": [cell]})
    (['f', 'A', 'B'], ['import numpy as np'])
    """
    names, imports = [], []
    for cell in source_nb["cells"]:
        if cell.get("cell_type") != "code" or not nbgrader_metadata(cell).get("solution"):
            continue
        for node in ast.parse(cell_source(cell)).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                imports.append(ast.unparse(node))
                continue
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                targets = [ast.Name(node.name)]
            elif isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets = [node.target]
            else:
                continue
            for name in _bound_names(targets):
                if name not in names:
                    names.append(name)
    return names, imports


def _bound_names(targets) -> list[str]:
    """The names an assignment binds: ``a``, ``a, (b, *c)``; not ``x[i]`` or ``obj.attr``."""
    found = []
    for target in targets:
        if isinstance(target, ast.Name):
            found.append(target.id)
        elif isinstance(target, (ast.Tuple, ast.List)):
            found += _bound_names(target.elts)
        elif isinstance(target, ast.Starred):
            found += _bound_names([target.value])
    return found


# What in a student's code is worth an instructor's look: (pattern, what it suggests).
_ATTEMPTS = (
    (re.compile(r"\b(np|numpy)\.testing\.\w+\s*=(?!=)|\bsetattr\s*\(\s*(np|numpy|builtins|__builtins__)\b"),
     "replaces a testing function"),
    (re.compile(r"\b(builtins|__builtins__)\b"), "changes or reads Python's built-ins"),
    (re.compile(r"\bdef\s+__(eq|ne|lt|le|gt|ge|sub|rsub|array|array_ufunc|array_function|bool|float|getattr)__\b"
                r"|\bshape\s*=\s*property\b|@property\s+def\s+shape\b"),
     "defines an object that overrides comparison, arithmetic or shape"),
    (re.compile(r"\bsys\._getframe\b|\binspect\.(currentframe|stack|getouterframes)\b|\bf_back\b|\bgc\.get_objects\b"),
     "looks into the caller's frames or objects"),
    (re.compile(r"\bos\.(_exit|kill|killpg|abort)\b|\bsignal\.(SIGKILL|SIGTERM)\b|\bsys\.exit\b"),
     "tries to end or signal the kernel"),
    (re.compile(r"\bos\.(fork|system|spawn\w*|exec\w*|popen)\b|\bsubprocess\b|\bmultiprocessing\b|\bctypes\b"),
     "starts processes or loads native code"),
    (re.compile(r"\bsocket\b|\burllib\b|\brequests\b|\bhttp\.client\b"), "uses the network"),
    (re.compile(r"\bopen\s*\(|\bos\.(walk|listdir|scandir|remove|unlink|rename|chdir)\b|\bshutil\b|\bglob\b|\bPath\s*\("),
     "reads or writes files"),
    (re.compile(r"\bsys\.modules\b|\bimportlib\b|\b__import__\b"), "changes imported modules"),
    (re.compile(r"\bgradbook\.(conv|backprop|diagnostics|listings)\b"
                r"|\bfrom\s+gradbook\s+import\b[^\n]*\b(conv|backprop|diagnostics|listings)\b"),
     "imports the book's reference implementations"),
)


def suspicious(source: str) -> list[str]:
    """What in ``source`` (a student's cells) looks like an attempt to cheat or break the grader.

    A note for the instructor, not a verdict: the sandbox and the judge make these attempts
    fail whether or not they are noticed here.

    Parameters
    ----------
    source : str

    Returns
    -------
    list of str
        One phrase per kind of attempt found, e.g. ``"replaces a testing function"``.

    Examples
    --------
    >>> suspicious("np.testing.assert_allclose = lambda *a, **k: None")
    ['replaces a testing function']
    >>> suspicious("def f(x):\\n    return 2 * x")
    []
    """
    return [what for pattern, what in _ATTEMPTS if pattern.search(source)]


class _Kernel:
    """The judge's handle on one student kernel: started in a sandbox (or not), with its pipes."""

    def __init__(self, scratch: str, *, sandboxed: bool, limits: sandbox.Limits, user: int, readonly: Sequence[str]):
        to_kernel_r, self._to_kernel_w = os.pipe()
        self._from_kernel_r, from_kernel_w = os.pipe()
        argv = [sys.executable, "-m", "gradbook.grading", "kernel", str(to_kernel_r), str(from_kernel_w)]
        if shutil.which("nice"):
            # At the lowest priority: a submission that keeps many processes busy (a fork bomb)
            # until its cell is stopped then takes little from the judge and everything else.
            argv = ["nice", "-n", str(KERNEL_NICENESS), *argv]
        env = {"MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3", "OMP_NUM_THREADS": "1",
               "TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1",
               "KERAS_HOME": os.path.join(scratch, ".keras")}
        if readonly:  # the gradbook package, where it is not inside the Python environment
            env["PYTHONPATH"] = os.pathsep.join(readonly)
        fds = (to_kernel_r, from_kernel_w)
        if sandboxed:
            self.process = sandbox.start(argv, scratch=scratch, limits=limits, readonly=readonly, user=user,
                                         env=env, pass_fds=fds, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            self.process = subprocess.Popen(argv, cwd=scratch, env={**env, "PATH": os.environ.get("PATH", ""),
                                                                     "HOME": scratch},
                                            pass_fds=fds, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_kernel_r)
        os.close(from_kernel_w)
        self.channel = _Channel(self._from_kernel_r, self._to_kernel_w)

    def how_it_ended(self) -> str:
        try:
            code = self.process.wait(timeout=2)  # the pipe closes a moment before the process is reaped
        except subprocess.TimeoutExpired:
            code = None
        if code is None:
            return "it stopped answering"
        if code < 0 or 128 < code <= 192:
            number = -code if code < 0 else code - 128
            name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
            return f"it was killed by signal {number} ({name})"
        return f"it exited with status {code}"

    def close(self) -> None:
        for fd in (self._from_kernel_r, self._to_kernel_w):
            try:
                os.close(fd)
            except OSError:
                pass
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.process.wait()


class _Judge:
    """Runs one notebook: kernel cells in the student kernel, test cells here."""

    def __init__(self, *, scratch: str, cell_timeout: float, sandboxed: bool, limits: sandbox.Limits,
                 user: int, readonly: Sequence[str]):
        self.scratch, self.cell_timeout = scratch, cell_timeout
        self.kernel_options = dict(sandboxed=sandboxed, limits=limits, user=user, readonly=readonly)
        # The judge's own folder (models the kernel sends), beside scratch: a judge stopped from
        # outside leaves it where its caller cleans up.
        self.local = tempfile.mkdtemp(prefix="judge-", dir=os.path.dirname(scratch))
        self.kernel: _Kernel | None = None
        self.history: list[str] = []  # the kernel cells run so far, to replay after a restart
        self.restarts = 0
        self.notes: list[str] = []
        self.callbacks: dict[int, Callable] = {}
        self.in_call = False
        self.deadline = 0.0
        self.hidden_seen = self.tainted = False
        self.hidden_regions: dict[str, set[int]] = {}  # test cell file name -> its hidden lines

    # The kernel: start, restart with replay, requests.
    def _start(self) -> None:
        self.kernel = _Kernel(self.scratch, **self.kernel_options)
        for source in self.history:
            self._request({"kind": "run", "source": source}, time.monotonic() + self.cell_timeout)

    def _lost(self, what: str, err: KernelLost) -> None:
        reason = str(err)
        if reason == "timeout":
            ending = "it ran past the time limit"
        elif reason.startswith("a malformed message"):
            ending = f"it sent {reason}"
        else:
            ending = self.kernel.how_it_ended()
        self.kernel.close()
        self.kernel = None
        self.notes.append(f"{what}: the student kernel stopped ({ending}); it was started again without that cell")
        self.restarts += 1

    def _request(self, message: dict, deadline: float) -> dict:
        if self.kernel is None:
            if self.restarts > MAX_RESTARTS:
                note = (f"the student kernel stopped {self.restarts} times; the cells after that were not run "
                        "and the tests after that fail")
                if note not in self.notes:
                    self.notes.append(note)
                raise KernelLost("the kernel was stopped too often")
            self._start()
        channel = self.kernel.channel
        channel.send(message, deadline)
        while True:
            reply = channel.receive(deadline)
            if reply.get("kind") == "reply":
                return reply
            if (reply.get("kind") != "callback" or not self.in_call or type(reply.get("id")) is not int
                    or reply["id"] not in self.callbacks):  # a test's function runs only while the student's does
                raise KernelLost("a malformed message")
            try:
                args = decode(reply.get("args"), scratch=self.local)
                kwargs = decode(reply.get("kwargs"), scratch=self.local)
                result = self.callbacks[reply["id"]](*args, **kwargs)
                channel.send({"kind": "reply", "result": encode(result, callbacks=self.callbacks, scratch=self.local)},
                             deadline)
            except (KernelLost, CellTimeout):
                raise
            except Exception as err:  # noqa: BLE001 - the test's own function failed: the kernel hears of it
                channel.send({"kind": "reply", "error": {"type": type(err).__name__, "message": str(err)[:MAX_TEXT]}},
                             deadline)

    def run_kernel_cell(self, source: str, where: str) -> None:
        try:
            reply = self._request({"kind": "run", "source": source}, time.monotonic() + self.cell_timeout)
        except KernelLost as err:
            if self.kernel is not None:
                self._lost(where, err)
            return
        self.history.append(source)
        error = reply.get("error")
        if isinstance(error, dict) and error.get("type") == "MemoryError":
            self.notes.append(f"{where} ran out of memory (the limit is "
                              f"{self.kernel_options['limits'].memory_bytes / 2**30:g} GiB)")
        dropped = reply.get("dropped")
        if type(dropped) is int and dropped > 0:
            self.notes.append(f"{where} printed more than {OUTPUT_KEPT // 1024} KiB; the rest was dropped")

    def proxy(self, name: str) -> Callable:
        def call(*args, **kwargs):
            if not self.hidden_seen and self._called_from_hidden():
                self.hidden_seen = True  # from now on the kernel may hold a hidden test's inputs
            encoded_args = encode(list(args), callbacks=self.callbacks, scratch=self.local)
            encoded_kwargs = encode(kwargs, callbacks=self.callbacks, scratch=self.local)
            outer = self.in_call  # True in a call made by a callback, inside the student's call
            try:
                self.in_call = True
                reply = self._request({"kind": "call", "name": name, "args": encoded_args, "kwargs": encoded_kwargs},
                                      self.deadline)
                self.in_call = outer
            except KernelLost as err:
                self.in_call = outer
                if self.kernel is not None:
                    self._lost(f"a call of {name}", err)
                raise KernelLost(f"the student kernel stopped while {name} ran") from None
            if "error" in reply:
                raise _builtin_exception(reply["error"])
            return decode(reply.get("result"), scratch=self.local)
        call.__name__ = call.__qualname__ = name
        return call

    def _called_from_hidden(self) -> bool:
        """Whether any line of the running test cell on the call stack is in a hidden region."""
        frame = sys._getframe(1)
        while frame is not None:
            if frame.f_lineno in self.hidden_regions.get(frame.f_code.co_filename, ()):
                return True
            frame = frame.f_back
        return False

    def bind(self, namespace: dict, names: Sequence[str]) -> None:
        """Put the student's current answers into ``namespace`` (a missing one is removed)."""
        try:
            reply = self._request({"kind": "get", "names": list(names)}, time.monotonic() + self.cell_timeout)
        except KernelLost as err:
            if self.kernel is not None:
                self._lost("fetching the answers", err)
            reply = {}
        values = reply.get("values") if isinstance(reply.get("values"), dict) else {}
        for name in names:
            entry = values.get(name)
            namespace.pop(name, None)
            if not isinstance(entry, dict):
                continue
            if entry.get("kind") == "callable":
                namespace[name] = self.proxy(name)
            elif entry.get("kind") == "value":
                try:
                    namespace[name] = decode(entry.get("value"), scratch=self.local)
                except (NotPlainData, ValueError) as err:
                    self.notes.append(f"{name} could not be read: {err}")
            elif entry.get("kind") == "unsupported":
                self.notes.append(f"{name} is {str(entry.get('why'))[:300]}: graded as missing")

    def run_test(self, source: str, name: str, namespace: dict) -> str:
        """Run one test cell here; the failure message for the student, or "" if it passed.

        ``self.tainted`` says afterwards whether a visible failure's message may carry something of
        a hidden test: a hidden region had run before it (in an earlier cell, or earlier in this
        one), so what the student's code was given since may come from one.
        """
        filename = f"<test {name}>"
        code = compile(source, filename, "exec")
        hidden_here = self.hidden_regions[filename] = _hidden_lines(source)
        seen_before = self.hidden_seen
        self.deadline = time.monotonic() + self.cell_timeout
        self.tainted = False

        def on_alarm(signum, frame):
            raise CellTimeout(f"this test ran longer than {self.cell_timeout:g} s and was stopped")

        previous = signal.signal(signal.SIGALRM, on_alarm)
        signal.setitimer(signal.ITIMER_REAL, self.cell_timeout)
        try:
            exec(code, namespace)  # noqa: S102 - the instructor's test cell, in the judge's namespace
        except BaseException as err:  # noqa: BLE001 - every failure of a test is a failed test
            if isinstance(err, KeyboardInterrupt):
                raise
            # Every line of the cell the failure passed through: a hidden check that fails in a
            # helper the visible part defines is still a hidden test.
            # (of this test cell, or of an earlier one whose hidden helper this one calls).
            hidden = any(lineno in self.hidden_regions.get(f.f_code.co_filename, ())
                         for f, lineno in traceback.walk_tb(err.__traceback__))
            failed_at = next((lineno for f, lineno in traceback.walk_tb(err.__traceback__)
                              if f.f_code.co_filename == filename), 0)
            if hidden_here and failed_at > min(hidden_here):
                self.hidden_seen = True  # the cell got past the start of a hidden region
            if isinstance(err, CellTimeout):
                if self.in_call and self.kernel is not None:  # stopped mid-call: the kernel's state is unknown
                    self._lost(f"test {name}", KernelLost("timeout"))
                self.in_call = False
                return str(err)
            if hidden:
                return "a hidden test failed"
            self.tainted = seen_before or self.hidden_seen
            text = f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
            return text[:MAX_TEXT]
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if hidden_here:
            self.hidden_seen = True  # the whole cell ran, its hidden regions too
        return ""

    def close(self) -> None:
        if self.kernel is not None:
            self.kernel.close()
        shutil.rmtree(self.local, ignore_errors=True)


def _hidden_lines(source: str) -> set[int]:
    """The 1-based line numbers inside ``### BEGIN/END HIDDEN TESTS`` regions, delimiters included.

    As nbgrader reads them: any line containing ``BEGIN HIDDEN TESTS`` opens a region, any line
    containing ``END HIDDEN TESTS`` closes it.
    """
    hidden, inside = set(), False
    for number, line in enumerate(source.splitlines(), start=1):
        if _HIDDEN_BEGIN in line:
            inside = True
        if inside:
            hidden.add(number)
        if _HIDDEN_END in line:
            inside = False
            hidden.add(number)
    return hidden


def grade_notebook(source_nb: Mapping, submission_nb: Mapping, *, scratch, cell_timeout: float = 150,
                   sandboxed: bool = True, limits: sandbox.Limits | None = None, user: int = sandbox.SANDBOX_UID,
                   on_progress: Callable[[Report], None] | None = None) -> Report:
    """Grade ``submission_nb`` against the tests of ``source_nb``.

    The cells run in the submission's order. A test cell (``grade`` in the instructor's
    metadata) runs in the judge, from the instructor's notebook, hidden tests included; a locked
    cell (the assignment's setup) runs in both the judge and the kernel, from the instructor's
    notebook; every other code cell is the student's and runs in the kernel only. A kernel that
    dies or hangs is started again and the cells before are run again, without the culprit.

    Parameters
    ----------
    source_nb, submission_nb : mapping
        nbformat 4 JSON. The submission must have every graded cell (restore deleted ones first).
    scratch : path-like
        An empty folder: the kernel's working directory, and the only one it can write.
    cell_timeout : float, default 150
        Seconds any one cell may run (a test cell, or a cell of the kernel).
    sandboxed : bool, default True
        False runs the kernel as an ordinary process, with the grader's rights: only for a
        machine where no sandbox can be made, and only when the instructor asks for it.
    limits : sandbox.Limits, optional
        The kernel's limits; by default 4 GiB of memory, 256 processes, a private scratch
        folder of :data:`SCRATCH_BYTES`, and a wall limit that the judge does not use (it has
        its own per cell).
    user : int, default :data:`gradbook.sandbox.SANDBOX_UID`
        The user the kernel runs as when the grader is root.
    on_progress : callable, optional
        Called with the report so far after each test cell.

    Returns
    -------
    Report

    Raises
    ------
    gradbook.sandbox.SandboxUnavailable
        When ``sandboxed`` and no sandbox can be made here (the message says why and the fix).
    """
    limits = limits or sandbox.Limits(processes=256, scratch_bytes=SCRATCH_BYTES)
    scratch = os.path.realpath(scratch)
    if sandboxed and (reason := sandbox.unavailable()) is not None:
        raise sandbox.SandboxUnavailable(reason)
    options = dict(scratch=scratch, cell_timeout=cell_timeout, sandboxed=sandboxed, limits=limits, user=user)
    report, tainted = _run(source_nb, submission_nb, hidden=True, on_progress=on_progress, **options)
    if tainted:
        # A visible test failed after the student's code had been called with a hidden test's
        # inputs, so its message could carry them. The messages come instead from a second run
        # in which the hidden tests do not exist; the scores stay those of the first.
        for entry in os.listdir(scratch):
            path = os.path.join(scratch, entry)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
        visible, _ = _run(source_nb, submission_nb, hidden=False, on_progress=None, **options)
        messages = {q.name: q.message for q in visible.questions}
        for question in report.questions:
            if question.name in tainted:
                question.message = messages.get(question.name) or WITHHELD
        if on_progress is not None:
            on_progress(report)
    return report


def _run(source_nb: Mapping, submission_nb: Mapping, *, hidden: bool, scratch: str, cell_timeout: float,
         sandboxed: bool, limits: sandbox.Limits, user: int,
         on_progress: Callable[[Report], None] | None) -> tuple[Report, set[str]]:
    """One run of the notebook; the report, and the questions whose visible message is tainted."""
    package_root = str(Path(__file__).resolve().parents[1])
    readonly = [] if package_root.startswith(os.path.realpath(sys.prefix) + os.sep) else [package_root]
    names, imports = answer_names(source_nb)
    source_cells = {m["grade_id"]: c for c in source_nb["cells"] if (m := nbgrader_metadata(c)).get("grade_id")}
    judge = _Judge(scratch=scratch, cell_timeout=cell_timeout, sandboxed=sandboxed, limits=limits, user=user,
                   readonly=readonly)
    report = Report([])
    tainted: set[str] = set()
    done: set[str] = set()
    namespace: dict[str, Any] = {"__name__": "__main__"}
    student_code: list[str] = []
    try:
        exec("\n".join(imports), namespace)  # noqa: S102 - the instructor's imports
        for index, cell in enumerate(submission_nb["cells"], start=1):
            if cell.get("cell_type") != "code":
                continue
            grade_id = nbgrader_metadata(cell).get("grade_id")
            grade_id = grade_id if isinstance(grade_id, str) else None  # a student's odd metadata
            original = source_cells.get(grade_id)
            where = f"cell {index}" + (f" ({grade_id})" if grade_id else "")
            is_test = original is not None and nbgrader_metadata(original).get("grade") and not nbgrader_metadata(original).get("solution")
            if is_test and grade_id in done:
                judge.notes.append(f"{where} repeats the test {grade_id}, which ran once already; not run again")
            elif is_test:
                done.add(grade_id)
                meta = nbgrader_metadata(original)
                text = cell_source(original)
                judge.bind(namespace, names)
                try:
                    message = judge.run_test(text if hidden else _without_hidden(text), grade_id, namespace)
                except CellTimeout as err:  # the alarm went off just as the test ended
                    message = str(err)
                if judge.tainted:  # the second run gives the message; until then, none leaks
                    tainted.add(grade_id)
                    message = WITHHELD
                points = float(meta.get("points", 0))
                report.questions.append(Question(grade_id, 0.0 if message else points, points, message))
                report.notes = list(dict.fromkeys(judge.notes))
                if on_progress is not None:
                    on_progress(report)
            elif original is not None and nbgrader_metadata(original).get("locked"):
                text = cell_source(original)
                exec(compile(text, f"<setup {grade_id}>", "exec"), namespace)  # noqa: S102 - instructor's code
                judge.run_kernel_cell(text, where)
            else:
                text = cell_source(cell)
                student_code.append(text)
                judge.run_kernel_cell(text, where)
    finally:
        judge.close()
    report.notes = list(dict.fromkeys(judge.notes))
    report.attempts = suspicious("\n".join(student_code))
    if any("malformed" in n for n in report.notes):
        report.attempts.append("sent the grader malformed messages")
    return report, tainted


def _without_hidden(source: str) -> str:
    """``source`` with its hidden test regions blanked (line numbers kept)."""
    hidden = _hidden_lines(source)
    return "\n".join("" if number in hidden else line for number, line in enumerate(source.splitlines(), start=1))


# -- command line -----------------------------------------------------------------------------

def main(argv: Sequence[str] | None = None) -> int:
    """``python -m gradbook.grading judge SOURCE SUBMISSION SCRATCH REPORT [options]``.

    Grades one notebook and writes the :class:`Report` as JSON to ``REPORT`` after every test
    cell (so a judge stopped from outside leaves what it finished). ``kernel READ_FD WRITE_FD``
    is the student kernel's own entry point, started by the judge inside the sandbox.

    Parameters
    ----------
    argv : sequence of str, optional

    Returns
    -------
    int
        0 when graded; 2 when no sandbox can be made (the reason is printed).
    """
    import argparse

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["kernel"]:
        _serve(int(argv[1]), int(argv[2]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m gradbook.grading")
    sub = parser.add_subparsers(dest="command", required=True)
    judge = sub.add_parser("judge", help="grade one notebook")
    judge.add_argument("source", type=Path)
    judge.add_argument("submission", type=Path)
    judge.add_argument("scratch", type=Path)
    judge.add_argument("report", type=Path)
    judge.add_argument("--cell-timeout", type=float, default=150)
    judge.add_argument("--user", type=int, default=sandbox.SANDBOX_UID)
    judge.add_argument("--unsandboxed", action="store_true")
    args = parser.parse_args(argv)

    def write(report: Report) -> None:
        partial = args.report.with_suffix(".partial")
        partial.write_text(json.dumps(report.to_dict()))
        partial.replace(args.report)

    try:
        report = grade_notebook(json.loads(args.source.read_text()), json.loads(args.submission.read_text()),
                                scratch=args.scratch, cell_timeout=args.cell_timeout, sandboxed=not args.unsandboxed,
                                user=args.user, on_progress=write)
    except sandbox.SandboxUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    write(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
