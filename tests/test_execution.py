"""Tests for gradbook.execution: kernel-channel waits polled in slices."""

from __future__ import annotations

import asyncio
import time
import types
from queue import Empty

import nbformat
import pytest
from jupyter_client.channels import AsyncZMQSocketChannel
from nbclient import NotebookClient

from gradbook import execution
from gradbook.execution import POLL_SLICE_SECONDS, sliced_shell_polling


class FakeChannel:
    """Stands in for a socket channel: a message becomes visible only to a poll that starts
    after it arrived (a missed wake-up leaves a running poll asleep until its timeout)."""

    def __init__(self, arrives_after: float | None):
        self.arrives_at = None if arrives_after is None else time.monotonic() + arrives_after
        self.polls: list[float | None] = []

    async def original(self, timeout):
        self.polls.append(timeout)
        started = time.monotonic()
        if self.arrives_at is not None and started >= self.arrives_at:
            return {"msg": "reply"}
        await asyncio.sleep(timeout if timeout is not None else 3600)
        raise Empty


def run_get_msg(channel, timeout, monkeypatch, slice_seconds=0.05):
    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", lambda self, t=None: channel.original(t))
    with sliced_shell_polling(slice_seconds):
        return asyncio.run(AsyncZMQSocketChannel.get_msg(object(), timeout))


def test_a_reply_missed_by_one_poll_is_read_by_the_next_slice(monkeypatch):
    channel = FakeChannel(arrives_after=0.12)
    assert run_get_msg(channel, 30.0, monkeypatch) == {"msg": "reply"}
    # Read by a later slice, not by one wait of the 30 s the caller allowed: every poll is short.
    assert all(p is not None and p <= 0.05 + 1e-9 for p in channel.polls)
    assert len(channel.polls) >= 3


def test_the_callers_timeout_still_ends_the_wait(monkeypatch):
    """On a clock that only the polls move, the wait lasts exactly the caller's timeout."""
    clock = {"now": 0.0}
    monkeypatch.setattr(execution, "time", types.SimpleNamespace(monotonic=lambda: clock["now"]))
    polls = []

    async def never_answers(self, timeout):
        polls.append(timeout)
        clock["now"] += timeout
        raise Empty

    monkeypatch.setattr(AsyncZMQSocketChannel, "get_msg", never_answers)
    with sliced_shell_polling(0.05), pytest.raises(Empty):
        asyncio.run(AsyncZMQSocketChannel.get_msg(object(), 0.2))
    # Four slices, the last one what was left: it gives up at the deadline, not before or after.
    assert polls == pytest.approx([0.05] * 4)
    assert clock["now"] == pytest.approx(0.2)


def test_no_timeout_waits_in_slices_until_the_reply(monkeypatch):
    channel = FakeChannel(arrives_after=0.1)
    assert run_get_msg(channel, None, monkeypatch) == {"msg": "reply"}
    assert None not in channel.polls


def test_leaving_the_block_restores_the_channel():
    original = AsyncZMQSocketChannel.get_msg
    with sliced_shell_polling():
        assert AsyncZMQSocketChannel.get_msg is not original
    assert AsyncZMQSocketChannel.get_msg is original
    with pytest.raises(RuntimeError):
        with sliced_shell_polling():
            raise RuntimeError("boom")
    assert AsyncZMQSocketChannel.get_msg is original
    assert POLL_SLICE_SECONDS == 0.5


@pytest.mark.parametrize("bad", [0, -1, float("nan"), "1", True])
def test_a_bad_slice_is_rejected_with_its_value(bad):
    with pytest.raises(ValueError, match="slice_seconds must be a positive number"):
        with sliced_shell_polling(bad):
            pass


def test_a_notebook_with_widgets_runs_through_a_real_kernel():
    cells = ["import ipywidgets as w\nout = w.Output()\nout", "with out:\n    print('in the widget')\n1 + 1"] * 3
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    with sliced_shell_polling():
        NotebookClient(nb, timeout=60, kernel_name="python3").execute()
    assert nb.cells[-1].outputs[-1]["data"]["text/plain"] == "2"


def test_main_runs_a_module_with_its_arguments_and_exit_status(tmp_path):
    import subprocess
    import sys

    script = tmp_path / "probe_module.py"
    script.write_text(
        "import sys\n"
        "from jupyter_client.channels import AsyncZMQSocketChannel\n"
        "print(AsyncZMQSocketChannel.get_msg.__qualname__, sys.argv[1:])\n"
        "sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-m", "gradbook.execution", "probe_module", "a", "--b=1"],
                          cwd=tmp_path, capture_output=True, text=True, env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)})
    assert done.returncode == 3
    assert "sliced_shell_polling.<locals>.get_msg ['a', '--b=1']" in done.stdout


def test_main_without_a_module_says_how_to_call_it():
    from gradbook.execution import main

    with pytest.raises(SystemExit, match="usage: python -m gradbook.execution MODULE"):
        main([])
