"""One driver per study (issue 17 §1): an exclusive lease on the study folder, taken before
the driver writes anything and held for its lifetime.

- **Local storage**: ``<study>/.rdlab-lease.lock`` locked with ``flock`` (released by the
  kernel however the driver dies), beside ``.rdlab-lease.json`` naming the holder.
- **Object store**: the lease object ``<study>/.rdlab-lease.json`` (holder, expiry), renewed
  by a heartbeat thread every third of ``$RDLAB_LEASE_S`` (default 60 s). A driver that died
  without releasing it blocks a later ``--resume`` until the expiry passes, not longer.
  Object stores offer no compare-and-swap to pyarrow, so a taker writes its lease, waits a
  moment and reads it back: of two drivers started within that moment, the one whose
  write landed last keeps the study and the other steps back.

A second driver, with or without ``--resume``, is refused with one line naming the holder
(host, pid, since when): exit 2, nothing written.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from rdlab.errors import SpecError
from rdlab.storage import Storage

LOCK_FILE = ".rdlab-lease.lock"
INFO_FILE = ".rdlab-lease.json"
LEASE_ENV = "RDLAB_LEASE_S"
SETTLE_S = 1.0  # how long a taker waits before reading its lease back (object stores)


def lease_seconds() -> float:
    return float(os.environ.get(LEASE_ENV, "60"))


@dataclass(frozen=True)
class Holder:
    owner: str
    host: str
    pid: int
    since: str  # ISO time, UTC
    expires: float  # unix time; 0 for a local lock (held as long as the process lives)

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.since}"

    @classmethod
    def me(cls, expires: float = 0.0) -> Holder:
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        return cls(uuid.uuid4().hex, socket.gethostname(), os.getpid(), now, expires)


def _refusal(study: Storage, holder: Holder) -> SpecError:
    return SpecError(
        "--storage",
        f"{study.uri} is being run by another driver ({holder.describe()}); wait for it "
        "to end or stop it, then rerun with --resume",
    )


def _read(study: Storage) -> Holder | None:
    try:
        data = json.loads(study.read_bytes(INFO_FILE))
        return Holder(**data)
    except (OSError, ValueError, TypeError):
        return None


class Lease:
    """Held from :meth:`acquire` to :meth:`release` (also on interpreter exit)."""

    def __init__(self, study: Storage) -> None:
        self.study = study
        self.holder: Holder | None = None
        self._lock: IO[str] | None = None
        self._stop = threading.Event()
        self._beat: threading.Thread | None = None

    # ------------------------------------------------------------------ checking
    def check_free(self) -> None:
        """Refuse if another driver holds the study; writes nothing."""
        if self.study.is_local:
            lock = Path(self.study.path(LOCK_FILE))
            if not lock.exists():
                return
            with open(lock, "a") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    holder = _read(self.study)
                    raise _refusal(self.study, holder or Holder("", "?", 0, "?", 0)) from None
                fcntl.flock(fh, fcntl.LOCK_UN)
            return
        holder = _read(self.study)
        if holder is not None and holder.expires > time.time():
            raise _refusal(self.study, holder)

    # ------------------------------------------------------------------ holding
    def acquire(self) -> Lease:
        if self.study.is_local:
            self._acquire_local()
        else:
            self._acquire_remote()
        return self

    def _acquire_local(self) -> None:
        self.study.makedirs()
        fh = open(self.study.path(LOCK_FILE), "a")  # noqa: SIM115 (held for the lifetime)
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            holder = _read(self.study)
            raise _refusal(self.study, holder or Holder("", "?", 0, "?", 0)) from None
        self._lock = fh
        self.holder = Holder.me()
        self.study.write_bytes(INFO_FILE, json.dumps(self.holder.__dict__).encode())

    def _acquire_remote(self) -> None:
        self.check_free()
        me = Holder.me(expires=time.time() + lease_seconds())
        self.study.write_bytes(INFO_FILE, json.dumps(me.__dict__).encode())
        time.sleep(SETTLE_S)
        now = _read(self.study)
        if now is None or now.owner != me.owner:
            raise _refusal(self.study, now or me)
        self.holder = me
        self._beat = threading.Thread(target=self._heartbeat, name="rdlab-lease", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        period = lease_seconds() / 3.0
        while not self._stop.wait(period):
            assert self.holder is not None
            renewed = Holder(**{**self.holder.__dict__, "expires": time.time() + lease_seconds()})
            with contextlib.suppress(OSError):  # a missed beat: the next one catches up
                self.study.write_bytes(INFO_FILE, json.dumps(renewed.__dict__).encode())
                self.holder = renewed

    def release(self) -> None:
        self._stop.set()
        if self._beat is not None:
            self._beat.join(timeout=10)
            self._beat = None
        if self.holder is not None:
            with contextlib.suppress(OSError):
                current = _read(self.study)
                if current is not None and current.owner == self.holder.owner:
                    self.study.delete(INFO_FILE)
            self.holder = None
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
                self._lock.close()
            self._lock = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()
