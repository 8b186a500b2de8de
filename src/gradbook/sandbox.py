"""Running untrusted code (a student's Python) inside a bubblewrap sandbox, with limits.

:func:`run` starts a command in a sandbox made by `bubblewrap <https://github.com/containers/bubblewrap>`_
(``bwrap``, Debian package ``bubblewrap``): it sees the system's programs and libraries, the
Python installation, the paths the caller names in ``readonly`` (all read-only) and one writable
folder, ``scratch``; nothing else of the file system (no home folder, no course folder), no
network, no other process. ``prlimit`` bounds its memory, processes, CPU time and file size;
:func:`run` itself bounds its wall time and the output it keeps, and always returns.
:func:`start` starts one and returns at once, for a caller that talks to it through pipes
(the grader's student kernel); :func:`kill` ends it.

When the grader runs as root (as in CI), the sandboxed process does not: root's process count
is never limited by the kernel, so the sandbox drops to :data:`SANDBOX_UID` (``nobody``) first,
and :func:`start` hands ``scratch`` to that user. All sandboxes of one machine then share the
process limit of that one user unless each gets a ``user`` of its own (as parallel grading does).
Run as an ordinary user, the sandbox gets its own user namespace, and on Linux 5.14 and later
the process limit counts its own processes only.

:func:`unavailable` says why no sandbox can be made here (not Linux, no ``bwrap``, no user
namespaces) and how to fix it; :func:`run` then raises :class:`SandboxUnavailable`.
"""

from __future__ import annotations

import dataclasses
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from gradbook.validation import check_number, check_whole

__all__ = ["SANDBOX_UID", "Limits", "Result", "SandboxUnavailable", "command", "kill", "run", "start", "unavailable"]

#: The user a sandbox started by root runs as (``nobody`` on Debian).
SANDBOX_UID = 65534

#: What to install where a program is missing.
INSTALL = {
    "bwrap": "install bubblewrap: `sudo apt-get install bubblewrap` (Debian, Ubuntu), "
             "`sudo dnf install bubblewrap` (Fedora)",
    "prlimit": "install util-linux: `sudo apt-get install util-linux`",
    "setpriv": "install util-linux: `sudo apt-get install util-linux`",
}

# The system paths a Python process needs, read-only, and why. A path that is a symbolic link
# on this machine (``/bin -> usr/bin`` on merged-/usr systems) becomes the same link inside.
SYSTEM_PATHS = (
    "/usr",                       # the programs (prlimit, setpriv) and the shared libraries
    "/bin", "/sbin",              # links into /usr on merged-/usr systems, folders elsewhere
    "/lib", "/lib64", "/lib32",   # the dynamic loader and the C library
    "/etc/ld.so.cache",           # where the dynamic loader finds libraries
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/ssl/openssl.cnf",       # read by OpenSSL when hashlib or ssl starts
    "/etc/localtime",             # the time zone
)

# The namespaces: no network, no other processes, no host name, no shared memory. As root,
# no user namespace (it would map the sandbox to root itself); the sandbox drops to nobody.
_UNSHARE_AS_USER = ("--unshare-all",)
_UNSHARE_AS_ROOT = ("--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try")


class SandboxUnavailable(RuntimeError):
    """No sandbox can be made on this machine; the message says why and how to fix it."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one sandboxed run may use. The defaults suit grading one notebook.

    Parameters
    ----------
    memory_bytes : int, default 4 GiB
        Address space of each process (``RLIMIT_AS``): an allocation beyond it fails
        (Python raises ``MemoryError``).
    processes : int, default 64
        Processes and threads of the sandbox's user (``RLIMIT_NPROC``); a fork beyond fails.
    cpu_seconds : int, default 600
        CPU time of each process (``RLIMIT_CPU``); the kernel kills it with ``SIGXCPU`` then
        (and with ``SIGKILL`` a second later if it ignores that).
    file_bytes : int, default 64 MiB
        Largest file a process may write (``RLIMIT_FSIZE``; Python raises ``OSError``), and the
        size of the sandbox's private ``/tmp``.
    output_bytes : int, default 1 MiB
        Standard output and error kept, together; the process is killed once it writes more.
    wall_seconds : float, default 900
        Real time before the whole sandbox is killed.
    scratch_bytes : int or None, default None
        None: ``scratch`` is the caller's folder, and what the command writes there stays.
        A number: ``scratch`` is a fresh private folder of at most that many bytes in memory
        (a tmpfs) at the same path, which bounds the disk the command can fill; the caller's
        folder is hidden, and nothing written there stays.

    Examples
    --------
    >>> Limits().processes, Limits(wall_seconds=2).wall_seconds
    (64, 2.0)
    >>> Limits(processes=0)
    Traceback (most recent call last):
    ...
    ValueError: processes must be a positive whole number, got 0.
    """

    memory_bytes: int = 4 * 2**30
    processes: int = 64
    cpu_seconds: int = 600
    file_bytes: int = 64 * 2**20
    output_bytes: int = 2**20
    wall_seconds: float = 900.0
    scratch_bytes: int | None = None

    def __post_init__(self):
        for name in ("memory_bytes", "processes", "cpu_seconds", "file_bytes", "output_bytes"):
            object.__setattr__(self, name, check_whole(getattr(self, name), name))
        object.__setattr__(self, "wall_seconds", check_number(self.wall_seconds, "wall_seconds"))
        object.__setattr__(self, "scratch_bytes", check_whole(self.scratch_bytes, "scratch_bytes", allow_none=True))


@dataclasses.dataclass(frozen=True)
class Result:
    """How a sandboxed run ended.

    Attributes
    ----------
    returncode : int
        The command's exit status; ``128 + N`` when signal ``N`` killed it (as bubblewrap
        reports it), negative when :func:`run` killed the sandbox.
    stdout, stderr : str
        What it wrote (UTF-8, undecodable bytes replaced), at most ``Limits.output_bytes`` together.
    truncated : bool
        Whether output was cut at the limit.
    reason : str or None
        Why it ended other than by exiting: ``"timeout"``, ``"output limit"``,
        ``"killed by signal 9 (SIGKILL)"``; None when it exited by itself.
    seconds : float
        Wall time of the run.
    """

    returncode: int
    stdout: str
    stderr: str
    truncated: bool
    reason: str | None
    seconds: float


def _as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _namespaces() -> tuple[str, ...]:
    if _as_root():
        # Every capability dropped but the two setpriv needs to become SANDBOX_UID.
        return (*_UNSHARE_AS_ROOT, "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID")
    return _UNSHARE_AS_USER


def unavailable() -> str | None:
    """Why no sandbox can be made on this machine, with the fix; None when one can.

    Checks the platform, the programs (``bwrap``, ``prlimit``, and ``setpriv`` as root) and
    then starts one empty sandbox (``bwrap ... true``), which fails where namespaces are off.

    Returns
    -------
    str or None

    Examples
    --------
    >>> reason = unavailable()
    >>> reason is None or "sandbox" in reason
    True
    """
    if not sys.platform.startswith("linux"):
        return (f"The grading sandbox needs Linux (bubblewrap and its namespaces); this is {sys.platform}. "
                "Grade on a Linux machine, or in a Linux container or virtual machine.")
    programs = ["bwrap", "prlimit"] + (["setpriv"] if _as_root() else [])
    for program in programs:
        if shutil.which(program) is None:
            return f"The grading sandbox needs `{program}`, which is not on PATH; {INSTALL[program]}."
    probe = [shutil.which("bwrap"), "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
             *_namespaces(), "--die-with-parent", "--new-session", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"bubblewrap could not start a sandbox ({err}). Check the bwrap installation."
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip() or f"exit status {done.returncode}"
        return (f"bubblewrap cannot create a sandbox here: {message}. User namespaces are probably off: "
                "enable them (`sudo sysctl kernel.unprivileged_userns_clone=1`; on Ubuntu 24.04 also "
                "`sudo sysctl kernel.apparmor_restrict_unprivileged_userns=0`), or in a container run it "
                "with user namespaces allowed (for Docker, `--security-opt seccomp=unconfined "
                "--security-opt apparmor=unconfined`).")
    return None


def _mounts(paths: Sequence[tuple[str, str]]) -> list[str]:
    """bwrap arguments mounting ``(option, path)`` pairs in order, each folder above a mount
    point made first with mode 0755 (bwrap would make it 0700 as root, hiding what is below)."""
    args: list[str] = []
    mounted: list[Path] = []  # nothing is made inside a bound folder (they are read-only)
    made: set[Path] = {Path("/tmp")}  # the private /tmp, mounted first
    for option, path in paths:
        target = Path(path)
        for parent in reversed(target.parents):
            if parent == Path("/") or parent in made or any(parent == m or m in parent.parents for m in mounted):
                continue
            args += ["--perms", "0755", "--dir", str(parent)]
            made.add(parent)
        if option == "--symlink":
            args += [option, os.readlink(path), path]
        elif option.startswith("--tmpfs="):  # a private folder of that many bytes, writable by anyone
            args += ["--perms", "0777", "--size", option.split("=", 1)[1], "--tmpfs", path]
        else:
            args += [option, path, path]
        mounted.append(target)
    return args


def command(argv: Sequence[str], *, scratch, readonly: Sequence = (), limits: Limits = Limits(),
            user: int = SANDBOX_UID, env: Mapping[str, str] | None = None) -> list[str]:
    """The bubblewrap command line that runs ``argv`` in a sandbox.

    Read-only: :data:`SYSTEM_PATHS` that exist here, ``sys.prefix`` and ``sys.base_prefix`` (the
    virtual environment and the Python it was made from), and ``readonly``. Writable: ``scratch``
    alone (and a private ``/tmp`` of ``limits.file_bytes``). The command starts in ``scratch``
    with only ``PATH``, ``HOME`` (= ``scratch``) and ``LANG`` set, in new namespaces (no network,
    no other process), and ``prlimit`` applies ``limits``. As root, ``setpriv`` first turns it
    into ``user`` (:data:`SANDBOX_UID` unless told), so ``scratch`` must be writable by that user
    (:func:`start` sees to it).

    Parameters
    ----------
    argv : sequence of str
        The command and its arguments, as the sandbox sees them (``sys.executable`` works).
    scratch : str or path
        An existing folder: the only writable place, at the same path inside.
    readonly : sequence of str or path
        More existing paths the command may read (a package's source, say).
    limits : Limits
    user : int, default :data:`SANDBOX_UID`
        The user the command runs as when the caller is root (ignored otherwise). Sandboxes
        that run at once should each get their own, so that one's processes do not count
        against another's limit.
    env : mapping of str to str, optional
        Environment variables to set inside, besides ``PATH``, ``HOME`` and ``LANG``.

    Returns
    -------
    list of str

    Raises
    ------
    ValueError
        If ``argv`` is empty or not strings, or a path does not exist.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as scratch:
    ...     argv = command(["python3", "-c", "print(1)"], scratch=scratch, limits=Limits(processes=8))
    ...     ["--bind", os.path.realpath(scratch), os.path.realpath(scratch)] == argv[argv.index("--bind"):][:3]
    True
    >>> argv[0].endswith("bwrap"), "--clearenv" in argv, "--nproc=8" in argv, argv[-3:]
    (True, True, True, ['python3', '-c', 'print(1)'])
    """
    argv = list(argv)
    if not argv or not all(isinstance(a, str) for a in argv):
        raise ValueError(f"argv must be a non-empty list of strings, got {argv!r}.")
    if not isinstance(limits, Limits):
        raise ValueError(f"limits must be a Limits, got {limits!r}.")
    scratch = os.path.realpath(scratch)
    if not os.path.isdir(scratch):
        raise ValueError(f"scratch must be an existing folder, got {scratch!r}.")
    extra = []
    for path in readonly:
        real = os.path.realpath(path)
        if not os.path.exists(real):
            raise ValueError(f"readonly paths must exist, got {str(path)!r}.")
        extra.append(real)

    system = [("--symlink" if os.path.islink(p) else "--ro-bind", p) for p in SYSTEM_PATHS if os.path.lexists(p)]
    prefixes = dict.fromkeys(os.path.realpath(p) for p in (sys.prefix, sys.base_prefix))
    own = ("--bind", scratch) if limits.scratch_bytes is None else (f"--tmpfs={limits.scratch_bytes}", scratch)
    mounts = [*system, *(("--ro-bind", p) for p in (*prefixes, *extra)), own]
    bin_path = ":".join(dict.fromkeys([os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]))
    args = [shutil.which("bwrap") or "bwrap",
            "--perms", "1777", "--size", str(limits.file_bytes), "--tmpfs", "/tmp",  # first: scratch may be below
            *_mounts(mounts),
            # A minimal /dev, read-only but for a /dev/shm as small as /tmp (tmpfs pages count
            # against no process's memory limit, so an unbounded one could fill the machine's).
            "--dev", "/dev", "--perms", "1777", "--size", str(limits.file_bytes), "--tmpfs", "/dev/shm",
            "--remount-ro", "/dev", "--proc", "/proc",
            *_namespaces(), "--die-with-parent", "--new-session",
            "--chdir", scratch,
            "--clearenv", "--setenv", "PATH", bin_path, "--setenv", "HOME", scratch, "--setenv", "LANG", "C.UTF-8"]
    for name, value in (env or {}).items():
        if not (isinstance(name, str) and isinstance(value, str) and name and "=" not in name):
            raise ValueError(f"env must map variable names to strings, got {name!r}: {value!r}.")
        args += ["--setenv", name, value]
    if _as_root():
        user = check_whole(user, "user", minimum=1)
        args += ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", "--no-new-privs"]
    args += ["prlimit", f"--as={limits.memory_bytes}", f"--nproc={limits.processes}",
             f"--cpu={limits.cpu_seconds}:{limits.cpu_seconds + 1}", f"--fsize={limits.file_bytes}", "--core=0", "--"]
    return args + argv


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return "unknown"


def start(argv: Sequence[str], *, scratch, limits: Limits = Limits(), readonly: Sequence = (),
          user: int = SANDBOX_UID, env: Mapping[str, str] | None = None, pass_fds: Sequence[int] = (),
          stdout=subprocess.PIPE, stderr=subprocess.PIPE) -> subprocess.Popen:
    """Start ``argv`` in a sandbox (see :func:`command`) and return at once.

    The caller owns the process: it bounds its wall time (``limits.wall_seconds`` is not
    enforced here) and ends it with :func:`kill`. The sandbox is the leader of a process group
    of its own, and everything inside dies with it. As root, ``scratch`` and everything in it
    are first given to ``user`` (and ``scratch`` made mode 0755).

    Parameters
    ----------
    argv, scratch, limits, readonly, user, env
        As for :func:`command`.
    pass_fds : sequence of int
        Open file descriptors the command inherits, at the same numbers (pipes to talk to it).
    stdout, stderr
        As for :class:`subprocess.Popen`; pipes by default.

    Returns
    -------
    subprocess.Popen

    Raises
    ------
    SandboxUnavailable
        When :func:`unavailable` gives a reason; the message names it and the fix.
    """
    reason = unavailable()
    if reason is not None:
        raise SandboxUnavailable(reason)
    args = command(argv, scratch=scratch, readonly=readonly, limits=limits, user=user, env=env)
    if _as_root():
        for folder, _, files in os.walk(scratch):
            for name in (folder, *(os.path.join(folder, f) for f in files)):
                os.chown(name, user, user, follow_symlinks=False)
        os.chmod(scratch, 0o755)  # bwrap enters it as a root without capabilities, before setpriv
    return subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            pass_fds=tuple(pass_fds), start_new_session=True)


def kill(process: subprocess.Popen) -> None:
    """Kill a sandbox that :func:`start` started, and everything in it, and reap it.

    Parameters
    ----------
    process : subprocess.Popen
    """
    try:
        os.killpg(process.pid, signal.SIGKILL)  # the processes inside die with bwrap (--die-with-parent)
    except ProcessLookupError:
        pass
    process.wait()


def run(argv: Sequence[str], *, scratch, limits: Limits = Limits(), readonly: Sequence = (),
        user: int = SANDBOX_UID) -> Result:
    """Run ``argv`` in a sandbox (see :func:`command`) and return how it ended; never hangs.

    Output is read as it comes; past ``limits.output_bytes`` (stdout and stderr together) the
    sandbox is killed. After ``limits.wall_seconds`` it is killed too.

    Parameters
    ----------
    argv : sequence of str
    scratch : str or path
        An existing folder, the only one the command can write.
    limits : Limits
    readonly : sequence of str or path
    user : int, default :data:`SANDBOX_UID`
        As for :func:`command`.

    Returns
    -------
    Result

    Raises
    ------
    SandboxUnavailable
        When :func:`unavailable` gives a reason; the message names it and the fix.

    Examples
    --------
    >>> import sys, tempfile
    >>> with tempfile.TemporaryDirectory() as scratch:
    ...     result = run([sys.executable, "-c", "print(6 * 7)"], scratch=scratch, limits=Limits(wall_seconds=60))
    >>> result.returncode, result.stdout, result.reason
    (0, '42\\n', None)
    """
    started = time.monotonic()
    process = start(argv, scratch=scratch, limits=limits, readonly=readonly, user=user)
    deadline = started + limits.wall_seconds
    chunks = {"stdout": [], "stderr": []}
    kept, truncated, why = 0, False, None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ, "stdout")
        selector.register(process.stderr, selectors.EVENT_READ, "stderr")
        while selector.get_map() and why is None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = "timeout"
                break
            for key, _ in selector.select(timeout=min(remaining, 1.0)):
                data = os.read(key.fd, 65536)
                if not data:
                    selector.unregister(key.fileobj)
                    continue
                room = limits.output_bytes - kept
                chunks[key.data].append(data[:room])
                kept += min(len(data), room)
                if len(data) > room:
                    truncated, why = True, "output limit"
                    break
    if why is not None:
        kill(process)
    try:
        process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        why = "timeout"
        kill(process)
    process.stdout.close()
    process.stderr.close()

    code = process.returncode
    if why is None and code < 0:
        why = f"killed by signal {-code} ({_signal_name(-code)})"
    elif why is None and 128 < code <= 128 + 64:  # bubblewrap's report of a command killed by a signal
        why = f"killed by signal {code - 128} ({_signal_name(code - 128)})"
    text = {name: b"".join(parts).decode("utf-8", errors="replace") for name, parts in chunks.items()}
    return Result(code, text["stdout"], text["stderr"], truncated, why, time.monotonic() - started)
