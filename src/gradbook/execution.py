"""Executing notebooks headless without hanging on a missed kernel reply.

Running the chapters with ``nbclient`` (as the book build, the benchmarks and the grader do),
a cell that displays widgets now and then never finishes: the kernel has sent its
``execute_reply`` and gone idle, but the client's wait on the shell channel (an asyncio poll of
an edge-triggered ZeroMQ socket, with the cell's whole time limit as its timeout) is not woken,
so the client waits out the full limit (the upstream report is jupyter/nbclient#312). On the
2-core machines this book is built on, most headless runs of chapter 1 stalled on one such
cell; with the wait cut into short slices, none did.

:func:`sliced_shell_polling` cuts every asynchronous shell-channel wait into short slices, each
of which polls the socket afresh, so a reply that arrived unnoticed is read at the next slice.
The overall timeout a caller asked for is unchanged.

``python -m gradbook.execution MODULE ARGS...`` runs another tool's command line (nbgrader, say)
the same way: ``python -m gradbook.execution nbgrader autograde ...``.
"""

from __future__ import annotations

import contextlib
import runpy
import sys
import time
from queue import Empty
from typing import Iterator

from gradbook.validation import check_number

__all__ = ["POLL_SLICE_SECONDS", "main", "sliced_shell_polling"]

#: The longest single poll of a kernel channel while :func:`sliced_shell_polling` is active.
POLL_SLICE_SECONDS = 0.5


@contextlib.contextmanager
def sliced_shell_polling(slice_seconds: float = POLL_SLICE_SECONDS) -> Iterator[None]:
    """Within the block, kernel-channel waits poll at most ``slice_seconds`` at a time.

    Applies to ``jupyter_client``'s asynchronous socket channels, which ``nbclient`` uses for
    every cell. Leaving the block restores the original behaviour.

    Parameters
    ----------
    slice_seconds : float
        Positive length of one poll.

    Raises
    ------
    ValueError
        If ``slice_seconds`` is not a positive, finite number.

    Examples
    --------
    >>> from jupyter_client.channels import AsyncZMQSocketChannel
    >>> before = AsyncZMQSocketChannel.get_msg
    >>> with sliced_shell_polling(0.25):
    ...     AsyncZMQSocketChannel.get_msg is before
    False
    >>> AsyncZMQSocketChannel.get_msg is before
    True
    """
    slice_seconds = check_number(slice_seconds, "slice_seconds")
    from jupyter_client.channels import AsyncZMQSocketChannel

    original = AsyncZMQSocketChannel.get_msg

    async def get_msg(self, timeout: float | None = None):
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            step = slice_seconds if remaining is None else min(slice_seconds, remaining)
            try:
                return await original(self, step)
            except Empty:
                if remaining is not None and remaining <= slice_seconds:
                    raise

    get_msg.__doc__ = original.__doc__
    AsyncZMQSocketChannel.get_msg = get_msg
    try:
        yield
    finally:
        AsyncZMQSocketChannel.get_msg = original


def main(argv: list[str] | None = None) -> None:
    """Run ``python -m MODULE ARGS...`` (given as ``[MODULE, *ARGS]``) with sliced polling.

    Raises
    ------
    SystemExit
        With a usage message when no module is named, else with the module's own exit status.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit("usage: python -m gradbook.execution MODULE [ARGS...]  (for example: nbgrader autograde ...)")
    module, *args = argv
    saved = sys.argv
    sys.argv = [module, *args]
    try:
        with sliced_shell_polling():
            runpy.run_module(module, run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved


if __name__ == "__main__":
    main()

