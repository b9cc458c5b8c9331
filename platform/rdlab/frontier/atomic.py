"""Atomic file replacement: a reader sees the old file or the new one, never half of one.

The new content goes to a hidden temp file in the target's directory (same filesystem, so
``os.replace`` is an atomic rename on POSIX), is fsync'ed, renamed over the target, and the
directory is fsync'ed so the rename survives a crash. Hidden (``.``-prefixed) names are also
what pyarrow's dataset discovery skips, so a write in progress inside a partitioned
directory is invisible to readers.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden temp path beside ``path``; on success it is fsync'ed and renamed over it.

    On any error the temp file is removed and ``path`` keeps its previous content.
    """
    target = Path(path)
    if target.is_dir():
        raise IsADirectoryError(f"{target} is a directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file ordinary perms
        os.close(fd)
        yield Path(tmp)
        _fsync_file(tmp)
        os.replace(tmp, target)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)  # make the rename itself durable


@contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[IO[bytes]]:
    """Like ``atomic_path`` but yields the temp file opened for binary writing."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh
