"""Child processes that die with edgelstm, and temporary paths that never outlive it.

Children (converter workers, interpreter runs, QEMU) are started through this module's guard,
``python -m edgelstm.procs MODULE ARGS`` (run a Python module) or ``python -m edgelstm.procs --exec
PROGRAM ARGS`` (exec a program). The guard asks Linux to SIGKILL the child when its parent dies
(prctl PR_SET_PDEATHSIG, kept across exec) and exits at once if the parent died before that.

Temporary folders (and the staging folders beside an output, see outdir.py) are registered with a
janitor: one small process per edgelstm run, started on first use, in its own session, reading
registrations on a pipe. When the pipe closes (edgelstm exited, normally or killed, even by SIGKILL)
it removes whatever is still registered, after moving a folder back where a swap had taken it from.

SIGTERM and SIGINT of edgelstm (``install_signal_handlers``) kill every running child, refuse to
start new ones and raise Interrupted in the main thread, so every ``finally`` and ``with`` cleans up
and the CLI prints one ``error: interrupted ...`` line.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import FrameType
from typing import IO, Any, Iterator

from .errors import Interrupted

PARENT_ENV = "EDGELSTM_PARENT_PID"
_PR_SET_PDEATHSIG = 1

_lock = threading.RLock()
_children: set[subprocess.Popen] = set()
_interrupted: list[int] = []  # the signal that interrupted this run, once it happened
_deferred: list[int] = []  # a signal held back by critical()
_critical_depth = [0]


# ---------------------------------------------------------------- parent side: children

def _check_not_interrupted() -> None:
    if _interrupted:
        raise Interrupted(_interrupted[0])


def guarded_command(module_or_program: str, args: list[str], python_module: bool = True) -> list[str]:
    """The command line that runs a Python module (or execs a program) under the guard."""
    head = [module_or_program] if python_module else ["--exec", module_or_program]
    return [sys.executable, "-m", "edgelstm.procs", *head, *args]


def run(command: list[str], *, input: bytes | str | None = None, timeout: float | None = None,
        env: dict[str, str] | None = None, capture_output: bool = False, **popen: Any) -> subprocess.CompletedProcess:
    """subprocess.run for a guarded command: the child is killed on timeout, on any exception
    (Interrupted included) and when edgelstm dies. Raises subprocess.TimeoutExpired like run()."""
    child_env = dict(os.environ if env is None else env)
    child_env[PARENT_ENV] = str(os.getpid())
    if input is not None:
        popen["stdin"] = subprocess.PIPE
    if capture_output:
        popen["stdout"] = popen["stderr"] = subprocess.PIPE
    with _lock:
        _check_not_interrupted()
        proc = subprocess.Popen(command, env=child_env, **popen)
        _children.add(proc)
    try:
        out, err = proc.communicate(input, timeout=timeout)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    finally:
        with _lock:
            _children.discard(proc)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def _kill_children() -> None:
    with _lock:
        for proc in list(_children):
            if proc.poll() is None:
                proc.kill()


# ---------------------------------------------------------------- parent side: signals

def _on_signal(signum: int, _frame: FrameType | None) -> None:
    if _interrupted:
        return  # already unwinding: let the clean-up finish
    with _lock:
        _interrupted.append(signum)
    _kill_children()
    if _critical_depth[0]:
        _deferred.append(signum)
        return
    raise Interrupted(signum)


def install_signal_handlers() -> None:
    """SIGTERM and SIGINT: kill the children, then raise Interrupted in the main thread."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _on_signal)


@contextlib.contextmanager
def critical() -> Iterator[None]:
    """Hold SIGTERM/SIGINT back while a few renames must happen together; raise afterwards."""
    _critical_depth[0] += 1
    try:
        yield
    finally:
        _critical_depth[0] -= 1
    if not _critical_depth[0] and _deferred:
        raise Interrupted(_deferred.pop())


# ---------------------------------------------------------------- parent side: janitor

class _Janitor:
    """The parent's end of the janitor's pipe (started on first registration, restarted if it died)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen | None = None
        self._pid = 0
        self._records: dict[str, list[str]] = {}

    def _start(self) -> IO[str]:
        self._proc = subprocess.Popen([sys.executable, "-m", "edgelstm.procs", "--janitor"],
                                      stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True, text=True)
        self._pid = os.getpid()
        assert self._proc.stdin is not None
        for path, extra in self._records.items():
            self._proc.stdin.write(json.dumps(["add", path, *extra]) + "\n")
        return self._proc.stdin

    def send(self, op: str, path: str, *extra: str) -> None:
        with _lock:
            if op == "add":
                self._records[path] = list(extra)
            else:
                self._records.pop(path, None)
            line = json.dumps([op, path, *extra]) + "\n"
            if self._proc is None or self._pid != os.getpid() or self._proc.poll() is not None:
                self._start().flush()  # (re)started with every record, this one included
                return
            assert self._proc.stdin is not None
            try:
                self._proc.stdin.write(line)
                self._proc.stdin.flush()
            except BrokenPipeError:  # someone killed the janitor: a new one gets every record
                self._start().flush()


_janitor = _Janitor()


def register(path: Path, restore: tuple[Path, Path] | None = None) -> None:
    """Remove path when edgelstm exits, however it exits; first move restore[0] to restore[1]
    if restore[1] is missing then (an output folder caught in the middle of a swap)."""
    extra = [str(restore[0]), str(restore[1])] if restore else []
    _janitor.send("add", str(Path(path).absolute()), *extra)


def unregister(path: Path) -> None:
    _janitor.send("drop", str(Path(path).absolute()))


@contextlib.contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    """tempfile.TemporaryDirectory that the janitor removes if edgelstm is killed."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        register(path)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():  # otherwise the janitor tries again when edgelstm exits
            unregister(path)


# ---------------------------------------------------------------- child side

def _set_parent_death_signal(sig: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def _guard(argv: list[str]) -> int:
    """Die with the parent, then exec the program or run the module in this process."""
    parent = int(os.environ.pop(PARENT_ENV, "0") or 0)
    if sys.platform.startswith("linux"):
        _set_parent_death_signal(signal.SIGKILL)
    if parent and os.getppid() != parent:
        return 1  # the parent died before we asked to die with it
    if argv[0] == "--exec":
        os.execvp(argv[1], argv[1:])
    import runpy

    sys.argv = [argv[0], *argv[1:]]
    runpy.run_module(argv[0], run_name="__main__", alter_sys=True)
    return 0


def _remove(path: Path, restore: list[str]) -> None:
    if restore:
        src, dst = Path(restore[0]), Path(restore[1])
        if src.exists() and not dst.exists():
            os.rename(src, dst)
    for _ in range(20):  # children killed with the parent may still be closing files
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            return
        time.sleep(0.1)


def _janitor_main() -> int:
    """Collect registrations until the pipe closes, then remove what is still registered."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    paths: dict[str, list[str]] = {}
    for line in sys.stdin:
        op, path, *restore = json.loads(line)
        if op == "add":
            paths[path] = restore
        else:
            paths.pop(path, None)
    for path, restore in reversed(list(paths.items())):
        try:
            _remove(Path(path), restore)
        except OSError as exc:  # nobody to report to but our stderr (devnull): try the rest
            print(f"edgelstm janitor: {path}: {exc}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--janitor"]:
        sys.exit(_janitor_main())
    sys.exit(_guard(sys.argv[1:]))
