"""Tests for gradbook.sandbox: each test is an attack by sandboxed code that must do no harm.

A fake course folder holds a secret; the sandboxed ``python -c`` code runs in a scratch folder
beside it and tries to read it, change it, reach the network, exhaust the machine or hang.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gradbook import sandbox
from gradbook.sandbox import Limits, SandboxUnavailable, command, run, unavailable

ROOT = Path(__file__).resolve().parents[1]
SECRET = "the hidden tests' answer is 42, token 7f3a9c"
SHORT = Limits(wall_seconds=60)


@pytest.fixture(autouse=True)
def sandbox_available():
    reason = unavailable()
    if reason is not None:
        pytest.fail(f"These tests need a working sandbox: {reason}")


@pytest.fixture
def course(tmp_path) -> Path:
    folder = tmp_path / "course"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    return folder


@pytest.fixture
def scratch(tmp_path) -> Path:
    folder = tmp_path / "scratch"
    folder.mkdir()
    return folder


def python(code: str, scratch: Path, limits: Limits = SHORT, **kwargs) -> sandbox.Result:
    return run([sys.executable, "-c", textwrap.dedent(code)], scratch=scratch, limits=limits, **kwargs)


def test_a_plain_run_prints_and_exits_zero(scratch):
    result = python("print('hello from inside')", scratch)
    assert (result.returncode, result.stdout, result.reason, result.truncated) == (0, "hello from inside\n", None, False)


def test_the_secret_cannot_be_read_by_absolute_or_relative_path(course, scratch):
    result = python(f"""
        for path in [{str(course / "secret.txt")!r}, "../course/secret.txt", {str(course)!r}]:
            try:
                print(path, "READ", open(path).read())
            except (FileNotFoundError, PermissionError, IsADirectoryError) as err:
                print(path, type(err).__name__)
        """, scratch)
    assert result.returncode == 0, result.stderr
    assert "READ" not in result.stdout and SECRET not in result.stdout + result.stderr
    assert result.stdout.count("FileNotFoundError") == 3, result.stdout


def test_nothing_of_the_repository_or_the_grader_home_is_visible(scratch):
    result = python(f"""
        import os
        print(os.path.exists({str(ROOT / "README.md")!r}), os.path.exists({str(Path.home() / ".bashrc")!r}))
        print(sorted(os.listdir("/")))
        """, scratch)
    assert result.returncode == 0, result.stderr
    visible, top = result.stdout.splitlines()
    assert visible == "False False"
    assert "home" not in top and "mnt" not in top, top


def test_files_outside_scratch_cannot_be_written_or_deleted(course, scratch, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("echo hi\n")
    monkeypatch.setenv("HOME", str(home))
    targets = [course / "secret.txt", course / "planted.py", home / ".bashrc", home / "planted.py",
               Path(sys.prefix) / "planted.py"]
    result = python(f"""
        import os
        for path in {[str(t) for t in targets]!r} + ["../course/secret.txt"]:
            for attempt in ("write", "delete"):
                try:
                    if attempt == "write":
                        open(path, "w").write("print('owned')")
                    else:
                        os.remove(path)
                    print(path, attempt, "DONE")
                except OSError as err:
                    print(path, attempt, type(err).__name__)
        """, scratch)
    assert result.returncode == 0, result.stderr
    assert "DONE" not in result.stdout, result.stdout
    assert (course / "secret.txt").read_text() == SECRET and (home / ".bashrc").read_text() == "echo hi\n"
    assert sorted(p.name for p in course.iterdir()) == ["secret.txt"]
    assert sorted(p.name for p in home.iterdir()) == [".bashrc"]
    assert not (Path(sys.prefix) / "planted.py").exists()


def test_scratch_is_writable_and_home_points_there(scratch):
    result = python("""
        import os
        open("answer.txt", "w").write("42")
        open(os.path.expanduser("~/from_home.txt"), "w").write("ok")
        print(os.getcwd() == os.environ["HOME"])
        """, scratch)
    assert (result.returncode, result.stdout) == (0, "True\n"), result.stderr
    assert (scratch / "answer.txt").read_text() == "42" and (scratch / "from_home.txt").read_text() == "ok"


def test_a_private_scratch_is_bounded_and_leaves_nothing_behind(scratch):
    (scratch / "before.txt").write_text("the caller's")
    limits = Limits(wall_seconds=60, scratch_bytes=4 * 2**20)  # room for four files of 1 MiB, not five
    result = python("""
        import os
        print(sorted(os.listdir(".")))
        written = 0
        try:
            for i in range(100):
                with open(f"part{i}", "wb") as f:
                    f.write(b"x" * 2**20)
                written += 1
        except OSError as err:
            print(written, err.strerror)
        """, scratch, limits)
    assert result.stdout.splitlines() == ["[]", "4 No space left on device"], result.stderr
    assert [p.name for p in scratch.iterdir()] == ["before.txt"]


def test_the_network_is_unreachable(scratch):
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(0.5)
        port = listener.getsockname()[1]
        result = python(f"""
            import socket
            try:
                socket.create_connection(("127.0.0.1", {port}), timeout=5)
                print("CONNECTED")
            except OSError as err:
                print("connect", type(err).__name__)
            try:
                print("RESOLVED", socket.getaddrinfo("pypi.org", 443))
            except OSError as err:
                print("resolve", type(err).__name__)
            """, scratch)
        with pytest.raises(socket.timeout):
            listener.accept()
    assert result.returncode == 0, result.stderr
    assert "CONNECTED" not in result.stdout and "RESOLVED" not in result.stdout, result.stdout
    assert result.stdout.startswith("connect ") and "\nresolve " in result.stdout


def test_memory_beyond_the_limit_is_refused(scratch):
    result = python("""
        hog = bytearray(512 * 2**20)
        print("ALLOCATED", len(hog))
        """, scratch, Limits(memory_bytes=256 * 2**20, wall_seconds=60))
    assert result.returncode != 0 and "ALLOCATED" not in result.stdout
    assert "MemoryError" in result.stderr


def test_processes_beyond_the_limit_cannot_be_started(scratch):
    result = python("""
        import os, time
        started = 0
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError:
                break
            if pid == 0:
                time.sleep(2)
                os._exit(0)
            started += 1
        print(started)
        """, scratch, Limits(processes=16, wall_seconds=60))
    assert result.returncode == 0, result.stderr
    assert 0 < int(result.stdout) < 16


def test_a_fork_bomb_is_contained_and_killed_at_the_wall_limit(scratch):
    marker = "forkbomb-marker-" + scratch.parent.name
    started = time.monotonic()
    result = python(f"""
        import os, sys
        sys.argv.append({marker!r})
        while True:
            try:
                os.fork()
            except OSError:
                pass
        """, scratch, Limits(processes=16, wall_seconds=2))
    assert result.reason == "timeout" and time.monotonic() - started < 10
    time.sleep(0.5)
    assert not [pid for pid in os.listdir("/proc") if pid.isdigit() and marker in _cmdline(pid)]


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return ""


def test_endless_output_is_cut_at_the_limit(scratch):
    limit = 64 * 1024
    result = python("""
        import sys
        while True:
            sys.stdout.write("x" * 65536)
            sys.stderr.write("y" * 1000)
        """, scratch, Limits(output_bytes=limit, wall_seconds=60))
    assert result.truncated and result.reason == "output limit"
    assert len(result.stdout) + len(result.stderr) == limit
    assert result.seconds < 5


def test_exit_status_and_death_by_signal_are_reported(scratch):
    assert python("import os; os._exit(3)", scratch).returncode == 3
    killed = python("import os, signal; os.kill(os.getpid(), signal.SIGKILL)", scratch)
    assert killed.reason == "killed by signal 9 (SIGKILL)"


def test_an_endless_loop_ends_at_the_wall_limit(scratch):
    result = python("while True: pass", scratch, Limits(wall_seconds=2))
    assert result.reason == "timeout" and result.returncode != 0
    assert 2 <= result.seconds < 5


def test_cpu_time_is_limited(scratch):
    result = python("while True: pass", scratch, Limits(cpu_seconds=1, wall_seconds=30))
    assert result.reason == "killed by signal 24 (SIGXCPU)" and result.seconds < 5


def test_files_beyond_the_size_limit_cannot_be_written(scratch):
    result = python("""
        import os, tempfile
        for path in ("big.bin", os.path.join(tempfile.gettempdir(), "big.bin")):  # scratch, the private /tmp
            try:
                with open(path, "wb") as f:
                    f.write(b"0" * 2**21)
                print(path, "WRITTEN")
            except OSError as err:
                print(path, type(err).__name__, err.errno)
        """, scratch, Limits(file_bytes=2**20, wall_seconds=60))
    assert result.returncode == 0, result.stderr
    assert "WRITTEN" not in result.stdout and result.stdout.count("OSError 27") == 2, result.stdout  # EFBIG
    assert (scratch / "big.bin").stat().st_size <= 2**20


def test_no_variable_of_the_grader_leaks_in(scratch, monkeypatch):
    monkeypatch.setenv("GRADBOOK_GRADER_TOKEN", "s3cr3t-token")
    result = python("import os; print(sorted(os.environ)); print(os.environ.get('GRADBOOK_GRADER_TOKEN'))", scratch)
    assert result.returncode == 0, result.stderr
    names, token = result.stdout.splitlines()
    assert set(eval(names)) <= {"HOME", "LANG", "PATH", "PWD", "LC_CTYPE"} and token == "None"
    assert "s3cr3t-token" not in result.stdout


def test_without_bwrap_unavailable_names_the_fix_and_run_refuses(scratch, monkeypatch):
    assert unavailable() is None
    which = shutil.which
    monkeypatch.setattr(sandbox.shutil, "which", lambda name, *a, **k: None if name == "bwrap" else which(name, *a, **k))
    reason = unavailable()
    assert "bwrap" in reason and "apt-get install bubblewrap" in reason
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        python("print(1)", scratch)
    assert list(scratch.iterdir()) == []


def test_outside_linux_unavailable_says_so(monkeypatch):
    monkeypatch.setattr(sandbox.sys, "platform", "darwin")
    assert "needs Linux" in unavailable() and "darwin" in unavailable()


def test_command_checks_its_arguments(scratch, tmp_path):
    with pytest.raises(ValueError, match="argv must be a non-empty list"):
        command([], scratch=scratch)
    with pytest.raises(ValueError, match="scratch must be an existing folder"):
        command(["true"], scratch=tmp_path / "missing")
    with pytest.raises(ValueError, match="readonly paths must exist"):
        command(["true"], scratch=scratch, readonly=[tmp_path / "missing"])
    with pytest.raises(ValueError, match="wall_seconds must be a positive number"):
        Limits(wall_seconds=0)


def test_readonly_paths_can_be_read_but_not_written(course, scratch):
    result = python(f"""
        print(open({str(course / "secret.txt")!r}).read())
        try:
            open({str(course / "secret.txt")!r}, "w")
        except OSError as err:
            print(type(err).__name__)
        """, scratch, readonly=[course])
    assert result.stdout == f"{SECRET}\nOSError\n", result.stderr
    assert (course / "secret.txt").read_text() == SECRET


def test_dev_is_read_only_and_dev_shm_is_as_small_as_tmp(scratch):
    # Memory-backed folders count against no process's limit: each writable one is bounded.
    result = python("""
        import os
        try:
            open("/dev/planted", "w")
        except OSError as err:
            print("dev:", err.strerror)
        written = 0
        try:
            for i in range(64):  # files of 1 MiB, each under the file-size limit: only the folder's size stops them
                with open(f"/dev/shm/fill{i}", "wb") as f:
                    f.write(b"x" * 2**20)
                written += 1
        except OSError as err:
            print("shm:", written, "MiB,", err.strerror)
        """, scratch, Limits(wall_seconds=60, file_bytes=8 * 2**20))
    assert result.stdout.splitlines() == ["dev: Read-only file system", "shm: 8 MiB, No space left on device"], \
        (result.stdout, result.stderr)
