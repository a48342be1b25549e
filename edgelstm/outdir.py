"""Output folders (-o): checked before any work, locked against a second run, replaced whole.

``check_writable``    a folder written in place (profile reports, demo): it is a folder, or can be
                      created, and it is writable.
``check_replaceable`` a folder replaced whole (convert, export): as above, its parent is writable, and
                      it is empty, new, or marked as ours by ``marker`` (manifest.json, export.json),
                      so a user's unrelated folder is never deleted.
``locked``            an exclusive lock on ``.<name>.edgelstm-lock`` beside the folder (fcntl.flock):
                      a second run writing the same folder fails at once, naming the lock.
``Replacement``       lock, build in a staging folder ``.edgelstm-<name>.XXXXXXXX`` beside the output,
                      then swap: rename the old folder into the staging folder, rename the new one in,
                      delete the staging folder (old output included). Killed at any point, the janitor
                      (procs.py) removes the staging folder and moves the old output back if needed.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Iterator

from . import procs
from .errors import OutputError

STAGING_PREFIX = ".edgelstm-"
_WRITABLE = os.W_OK | os.X_OK
_held: dict[Path, list[int]] = {}  # lock file -> [fd, depth]: locks are re-entrant within a process


def _abs(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(path))


def _refuse_file(out: Path, shown: str) -> None:
    if out.exists() and not out.is_dir():
        raise OutputError(f"-o {shown} is a file, not a folder; pass a folder path (edgelstm creates it, or "
                          "replaces its own earlier output there)")


def _need_writable(folder: Path, shown: str, why: str) -> None:
    if not os.access(folder, _WRITABLE):
        raise OutputError(f"-o {shown}: {folder} is not writable (permissions or a read-only file system), so {why}; "
                          "make it writable or pass another -o")


def _check_creatable(out: Path, shown: str) -> None:
    ancestor = out.parent
    while not ancestor.exists():
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"-o {shown}: {ancestor} is a file, so the folder cannot be created; pass another -o")
    _need_writable(ancestor, shown, "the output folder cannot be created")


def check_writable(path: str | os.PathLike) -> Path:
    """For output written into the folder in place. Returns the absolute path."""
    out, shown = _abs(path), str(path)
    _refuse_file(out, shown)
    if out.exists():
        _need_writable(out, shown, "nothing can be written into it")
    else:
        _check_creatable(out, shown)
    return out


_KIND = {"manifest.json": "edgelstm convert", "export.json": "edgelstm export"}


def _check_ours(out: Path, shown: str, marker: str) -> None:
    if out.is_dir() and not (out / marker).is_file() and any(out.iterdir()):
        raise OutputError(f"-o {shown} holds files but no {marker}, so it is not the output of an earlier "
                          f"{_KIND.get(marker, 'edgelstm run')} and will not be replaced; pass a new or empty folder, "
                          "or move those files away yourself")


def check_replaceable(path: str | os.PathLike, marker: str, shown: str | None = None) -> Path:
    """For output that replaces the folder whole. Returns the absolute path."""
    out, shown = _abs(path), str(path) if shown is None else shown
    if out.is_symlink():
        raise OutputError(f"-o {shown} is a symbolic link; pass the folder it points to")
    _refuse_file(out, shown)
    if not out.exists():
        _check_creatable(out, shown)
        return out
    _check_ours(out, shown, marker)
    _need_writable(out.parent, shown, "the folder cannot be replaced")
    _need_writable(out, shown, "its old contents cannot be removed")
    return out


def lock_path(out: Path) -> Path:
    return out.parent / f".{out.name}.edgelstm-lock"


def _acquire(lock: Path, shown: str) -> int:
    """flock the lock file; retry if its holder deleted it while we waited for the lock."""
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise OutputError(f"-o {shown}: cannot create the lock file {lock} ({exc.strerror}); pass another "
                              "-o in a writable folder") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise OutputError(f"another edgelstm run is writing {shown} (it holds the lock {lock}); wait for it to "
                              "finish, or pass another -o") from None
        mine = os.fstat(fd)
        try:
            now = os.stat(lock)
        except FileNotFoundError:
            now = None
        if now is not None and (now.st_dev, now.st_ino) == (mine.st_dev, mine.st_ino):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            return fd
        os.close(fd)


def _make_parents(folder: Path) -> list[Path]:
    """mkdir -p, returning the folders it created (outermost first)."""
    missing = []
    while not folder.exists():
        missing.append(folder)
        folder = folder.parent
    for f in reversed(missing):
        f.mkdir()
    return list(reversed(missing))


def _remove_if_empty(folders: list[Path]) -> None:
    for f in reversed(folders):
        if f.is_dir() and not any(f.iterdir()):
            f.rmdir()


def _staging_pattern(out: Path) -> re.Pattern[str]:
    return re.compile(re.escape(f"{STAGING_PREFIX}{out.name}.") + r"[a-z0-9_]{8}")


def _remove_stale_staging(out: Path) -> None:
    """Staging folders of a run killed together with its janitor (we hold the lock: nobody uses them)."""
    pattern = _staging_pattern(out)
    for p in out.parent.iterdir():
        if p.is_dir() and not p.is_symlink() and pattern.fullmatch(p.name):
            if (p / "old").is_dir() and not out.exists():
                os.rename(p / "old", out)
            shutil.rmtree(p)


@contextlib.contextmanager
def locked(path: str | os.PathLike) -> Iterator[Path]:
    """Hold the folder's lock (creating its parent folders; removed again if left empty)."""
    out, shown = _abs(path), str(path)
    lock = lock_path(out)
    if lock in _held:
        _held[lock][1] += 1
        try:
            yield out
        finally:
            _held[lock][1] -= 1
        return
    created = _make_parents(out.parent)
    try:
        fd = _acquire(lock, shown)
        _held[lock] = [fd, 1]
        try:
            _remove_stale_staging(out)
            yield out
        finally:
            del _held[lock]
            os.unlink(lock)  # while still holding it: a waiter that opened it re-checks the inode
            os.close(fd)
    finally:
        _remove_if_empty(created)


class Replacement:
    """``with Replacement(out, marker) as rep:`` write the new folder at ``rep.new``, then ``rep.commit()``.

    Without commit (an error, an interrupt) the output folder is left exactly as it was."""

    def __init__(self, path: str | os.PathLike, marker: str) -> None:
        self.shown, self.marker = str(path), marker
        self.out = _abs(path)
        self._stack = contextlib.ExitStack()
        self.staging = self.new = Path()

    def open(self) -> "Replacement":
        """Check, lock, create the staging folder (``with`` calls this; close() undoes it)."""
        check_replaceable(self.out, self.marker, self.shown)
        with contextlib.ExitStack() as stack:
            stack.enter_context(locked(self.shown))
            self.staging = Path(tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{self.out.name}.", dir=self.out.parent))
            stack.callback(self._remove_staging)
            procs.register(self.staging, restore=(self.staging / "old", self.out))
            self.new = self.staging / "new"
            self._stack = stack.pop_all()
        return self

    def commit(self, built: Path | None = None) -> None:
        """Swap the new folder (``built``, a folder inside the staging folder, default ``new``) in:
        old -> staging/old, new -> out, with SIGTERM/SIGINT held back in between."""
        built = self.new if built is None else built
        if not built.is_dir() or built.parent != self.staging:
            raise OutputError(f"nothing was built for -o {self.shown}; this is an edgelstm bug, please report it")
        old = self.staging / "old"
        with procs.critical():
            if self.out.exists():
                check_replaceable(self.out, self.marker, self.shown)  # still ours, after the minutes the work took
                os.rename(self.out, old)
            try:
                os.rename(built, self.out)
            except OSError as exc:
                if old.exists():
                    os.rename(old, self.out)
                raise OutputError(f"cannot move the new output into {self.shown} ({exc.strerror}); the old "
                                  "output is unchanged, check the folder's permissions") from None

    def _remove_staging(self) -> None:
        shutil.rmtree(self.staging, ignore_errors=True)
        if not self.staging.exists():  # otherwise the janitor tries again when edgelstm exits
            procs.unregister(self.staging)

    def close(self) -> None:
        """Remove the staging folder (and the old output after a commit), release the lock."""
        self._stack.close()

    def __enter__(self) -> "Replacement":
        return self.open()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
