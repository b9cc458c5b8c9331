"""Storage through URIs (STYLE §15): a local folder, ``s3://bucket/prefix`` or any other URI
pyarrow's filesystems understand, behind one small class.

Everything a trial or the driver writes for someone else to read (RD points, the report,
pictures, final reports, checkpoints, the Fréchet classifier) goes through a
:class:`Storage`, so the same code runs on a laptop, on a shared volume and on an object
store. S3-compatible endpoints (MinIO, moto) come from the standard AWS variables
(``AWS_ENDPOINT_URL_S3`` or ``AWS_ENDPOINT_URL``) and credentials from the usual AWS
chain; nothing secret is ever part of a URI rdlab stores or prints.

Writes are atomic for readers: locally a temp file beside the target is renamed over it;
on an object store a single PUT replaces the object whole. What needs a POSIX disk (sqlite
files, file locks) says so by name and is refused for a remote storage by the driver.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs

from rdlab.errors import SpecError

# Schemes that name a remote store; anything else with "://" is handed to pyarrow as is.
REMOTE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "mock")


class StorageUnavailable(RuntimeError):
    """The storage could not be reached or written; the message names the URI and why."""


NO_SPACE_TEXTS = ("No space left on device", "database or disk is full", "ENOSPC")


def is_no_space(err: BaseException | str) -> bool:
    """A full disk, however it surfaced: ``OSError(ENOSPC)``, sqlite's "database or disk is
    full" (through SQLAlchemy, Optuna or MLflow), or an error text that quotes either."""
    seen: set[int] = set()
    e: BaseException | None = err if isinstance(err, BaseException) else None
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, OSError) and e.errno == errno.ENOSPC:
            return True
        if any(s in str(e) for s in NO_SPACE_TEXTS):
            return True
        e = e.__cause__ or e.__context__
    return isinstance(err, str) and any(s in err for s in NO_SPACE_TEXTS)


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def is_uri(text: str) -> bool:
    """``s3://…``, ``file://…`` and the like; a plain path (even ``C:``-less ``a:b``) is not."""
    scheme = urlsplit(text).scheme
    return len(scheme) > 1 and "://" in text


def _check_local(text: str) -> Path:
    path = Path(text).expanduser()
    for parent in (path, *path.parents):
        if parent.exists():  # the nearest existing ancestor must be a folder we can fill
            if not parent.is_dir():
                raise SpecError("--storage", f"{parent} exists and is not a directory")
            break
    return path.resolve()


@dataclass(frozen=True)
class Storage:
    """A storage root. ``uri`` is what a user would type (an absolute local path, or the
    URI); ``fs``/``root`` are pyarrow's filesystem and the root's path on it. Picklable:
    trials on other nodes get the same object and re-resolve nothing."""

    uri: str
    fs: pafs.FileSystem = field(compare=False, repr=False)
    root: str

    # ------------------------------------------------------------------ construction
    @classmethod
    def parse(cls, text: str | os.PathLike[str], field_name: str = "--storage") -> Storage:
        """A local path or a URI, checked without touching the network; SpecError if the
        text cannot name a storage (an unknown scheme, a file where a folder must be)."""
        text = os.fspath(text)
        if not text:
            raise SpecError(field_name, "is empty")
        if text.startswith("file://"):
            text = urlsplit(text).path
        if not is_uri(text):
            path = _check_local(text)
            return cls(str(path), pafs.LocalFileSystem(), path.as_posix())
        try:
            fs, root = pafs.FileSystem.from_uri(text)
        except (pa.ArrowException, ValueError) as err:
            raise SpecError(
                field_name, f"{text!r} is not a storage URI pyarrow can open ({err})"
            ) from None
        return cls(text.rstrip("/"), fs, root.rstrip("/"))

    @property
    def is_local(self) -> bool:
        return isinstance(self.fs, pafs.LocalFileSystem)

    def child(self, *parts: str) -> Storage:
        rel = PurePosixPath(*parts).as_posix()
        return Storage(_join_uri(self.uri, rel), self.fs, _join(self.root, rel))

    def path(self, rel: str = "") -> str:
        """``rel``'s path on :attr:`fs`."""
        return _join(self.root, rel) if rel else self.root

    def uri_of(self, rel: str = "") -> str:
        """``rel`` as a URI (or absolute local path): safe to print, log and store."""
        return _join_uri(self.uri, rel) if rel else self.uri

    def local_path(self, rel: str = "") -> Path:
        """``rel`` on the local disk; only for a local storage."""
        if not self.is_local:
            raise ValueError(f"{self.uri} is not a local folder")
        return Path(self.path(rel))

    # ------------------------------------------------------------------ reading
    def exists(self, rel: str = "") -> bool:
        return bool(self.fs.get_file_info(self.path(rel)).type != pafs.FileType.NotFound)

    def is_file(self, rel: str) -> bool:
        return bool(self.fs.get_file_info(self.path(rel)).type == pafs.FileType.File)

    def read_bytes(self, rel: str) -> bytes:
        with self.fs.open_input_stream(self.path(rel)) as fh:
            data: bytes = fh.read()
        return data

    def list(self, rel: str = "", recursive: bool = False) -> list[str]:
        """Files under ``rel`` (relative to it, sorted); [] when it does not exist."""
        base = self.path(rel)
        sel = pafs.FileSelector(base, recursive=recursive, allow_not_found=True)
        out = [
            PurePosixPath(i.path).relative_to(PurePosixPath(base)).as_posix()
            for i in self.fs.get_file_info(sel)
            if i.type == pafs.FileType.File
        ]
        return sorted(out)

    def download(self, rel: str, dest: Path) -> Path:
        """Copy the file ``rel`` to ``dest`` (atomically), or a folder's files into ``dest``."""
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.Directory:
            for name in self.list(rel, recursive=True):
                self.download(f"{rel}/{name}", dest / name)
            return dest
        data = self.read_bytes(rel)
        _atomic_local(dest, data)
        return dest

    # ------------------------------------------------------------------ writing
    def write_bytes(self, rel: str, data: bytes) -> str:
        """Write ``data`` to ``rel`` so a reader sees the old content or the new, never half;
        returns the written URI."""
        if self.is_local:
            _atomic_local(self.local_path(rel), data)
        else:
            self.fs.create_dir(_parent(self.path(rel)), recursive=True)
            with self.fs.open_output_stream(self.path(rel)) as fh:  # one PUT: whole or none
                fh.write(data)
        return self.uri_of(rel)

    def upload(self, src: Path, rel: str) -> str:
        """Copy a local file, or a folder's files, to ``rel``; returns its URI."""
        src = Path(src)
        if src.is_dir():
            for p in sorted(q for q in src.rglob("*") if q.is_file()):
                self.upload(p, f"{rel}/{p.relative_to(src).as_posix()}")
            return self.uri_of(rel)
        if self.is_local and Path(self.path(rel)).resolve() == src.resolve():
            return self.uri_of(rel)  # already in place
        return self.write_bytes(rel, src.read_bytes())

    def delete(self, rel: str) -> None:
        info = self.fs.get_file_info(self.path(rel))
        if info.type == pafs.FileType.Directory:
            self.fs.delete_dir(self.path(rel))
        elif info.type == pafs.FileType.File:
            self.fs.delete_file(self.path(rel))

    def makedirs(self, rel: str = "") -> None:
        self.fs.create_dir(self.path(rel), recursive=True)

    # ------------------------------------------------------------------ health
    def free_bytes(self) -> int | None:
        """Free space under the root for a local storage (its nearest existing ancestor);
        None for an object store, which has no such number."""
        if not self.is_local:
            return None
        p = Path(self.root)
        while not p.exists() and p != p.parent:
            p = p.parent
        return shutil.disk_usage(p).free

    def probe(self) -> None:
        """Write, read back and delete a marker under the root: StorageUnavailable with the
        reason if the storage cannot be reached or written (wrong endpoint, no bucket,
        no credentials, a read-only volume)."""
        rel = f".rdlab-probe-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            self.makedirs()
            self.write_bytes(rel, b"ok")
            if self.read_bytes(rel) != b"ok":
                raise OSError("read back a different content")
            self.delete(rel)
        except (OSError, pa.ArrowException) as err:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise StorageUnavailable(f"cannot write to {self.uri} ({first[:300]})") from None


def _join(root: str, rel: str) -> str:
    return PurePosixPath(root, rel).as_posix() if rel else root


def _join_uri(uri: str, rel: str) -> str:
    if not rel:
        return uri
    if is_uri(uri):
        head, _, query = uri.partition("?")
        joined = head.rstrip("/") + "/" + rel.lstrip("/")
        return f"{joined}?{query}" if query else joined
    return (Path(uri) / rel).as_posix()


def _parent(path: str) -> str:
    return PurePosixPath(path).parent.as_posix()


def atomic_write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """Call ``write(file)`` on a temp file beside ``path``, fsync, rename it into place: a
    kill mid-write leaves the previous good file (and a hidden ``.*.tmp`` readers skip)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; outputs get the usual mode
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_local(path: Path, data: bytes) -> None:
    atomic_write(path, lambda fh: fh.write(data))


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def describe(storage: Storage) -> dict[str, Any]:
    """What a log line or an MLflow param may say about a storage (no credentials)."""
    return {"uri": storage.uri, "local": storage.is_local}
