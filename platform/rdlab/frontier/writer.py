"""A background writer for a study's per-trial RD files (issue 16).

The study driver hands each finished trial's rows to :meth:`PointsWriter.submit` from
Tune's callback, on the event loop that schedules every trial. ``submit`` only puts the
rows in a queue: encoding and the write (a local disk, a shared volume or an object store
that may be slow or briefly unreachable) happen on one writer thread, so scheduling never
waits for storage. A trial submitted again before its file was written is written once,
with its newest rows.

Every ``gather_every`` files it wrote, the thread gathers them into one chunk
(:meth:`RDDataset.gather`; a failed trial, which may be retried, keeps its file): reading
a large study's dataset stays fast, and adding a trial still reads nothing but, once in
``gather_every`` trials, the files just written.

Failures never raise into the caller's thread: each one is retried a few times, then
reported once (``on_error``, by default a ``warning:`` line on stderr naming the trial
and the file) and kept in :attr:`PointsWriter.errors`, so the driver can write those trials
again (or say so) at the end of the study.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rdlab.frontier.dataset import GATHER_EVERY, RDDataset, trial_points_path
from rdlab.frontier.io import Rows


@dataclass(frozen=True)
class WriteError:
    """A trial whose rows could not be written: which trial, where, and why."""

    trial_id: str
    uri: str
    reason: str

    def __str__(self) -> str:
        return f"could not write RD points of trial {self.trial_id} to {self.uri}: {self.reason}"


GATHER_FAILURES = 3  # gatherings failed in a row before the writer stops trying


def _warn(err: WriteError) -> None:
    print(f"warning: {err}", file=sys.stderr, flush=True)


class PointsWriter:
    """Writes ``rd_points/<trial_id>.parquet`` files of one study on a background thread.

    Use as a context manager, or call :meth:`close` at the end of the study; rows must not
    be changed after they were submitted.
    """

    def __init__(
        self,
        dataset: RDDataset,
        *,
        retries: int = 3,
        retry_delay_s: float = 0.5,
        on_error: Callable[[WriteError], None] = _warn,
        gather_every: int | None = GATHER_EVERY,
    ) -> None:
        self.dataset = dataset
        self.gather_every = gather_every  # None: leave every trial file as it is
        self.gathered = 0  # chunks written
        self._loose: dict[str, None] = {}  # trial files written since the last chunk
        self._gather_failures = 0  # in a row
        self.retries = max(1, retries)
        self.retry_delay_s = retry_delay_s
        self.on_error = on_error
        self.written = 0
        self._cond = threading.Condition()
        self._queue: dict[str, Rows] = {}  # insertion-ordered; resubmitting replaces rows
        self._writing: str | None = None
        self._closed = False
        self._errors: list[WriteError] = []
        self._done: set[str] = set()  # trials whose newest submitted rows are written
        self._thread = threading.Thread(target=self._run, name="rdlab-points-writer", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ caller's side
    def submit(self, trial_id: str, rows: Rows) -> None:
        """Queue the trial's rows (all of them) to replace its file; returns at once."""
        snapshot = rows if not isinstance(rows, list) else list(rows)
        with self._cond:
            if self._closed:
                raise RuntimeError("PointsWriter.submit after close()")
            self._queue.pop(trial_id, None)  # the newest rows go to the back of the queue
            self._done.discard(trial_id)
            self._queue[trial_id] = snapshot
            self._cond.notify_all()

    @property
    def pending(self) -> int:
        """Trials submitted and not yet written (or failed)."""
        with self._cond:
            return len(self._queue) + (self._writing is not None)

    @property
    def written_ids(self) -> frozenset[str]:
        """Trials whose newest submitted rows are in their file."""
        with self._cond:
            return frozenset(self._done)

    @property
    def errors(self) -> list[WriteError]:
        """Every write that failed for good so far, oldest first."""
        with self._cond:
            return list(self._errors)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every trial submitted so far is written or has failed; False if
        ``timeout`` seconds passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._writing is not None:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
            return True

    def close(self, timeout: float | None = None) -> list[WriteError]:
        """Write what is queued, stop the thread, and return every failed write."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join(timeout)
        return self.errors

    def __enter__(self) -> PointsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return  # closed and drained
                trial_id = next(iter(self._queue))
                rows = self._queue.pop(trial_id)
                self._writing = trial_id
            err = self._write(trial_id, rows)
            if err is None:
                self._loose[trial_id] = None
                if self.gather_every and len(self._loose) >= self.gather_every:
                    self._gather()  # still "writing": flush() waits for it
            with self._cond:
                self._writing = None
                if err is None:
                    self.written += 1
                    if trial_id not in self._queue:  # else newer rows wait: not done yet
                        self._done.add(trial_id)
                else:
                    self._errors.append(err)
                self._cond.notify_all()
            if err is not None:
                self.on_error(err)

    def _gather(self) -> None:
        """The files written since the last chunk become the next chunk. Optional: if it
        fails, those files stay as they are (the dataset reads right either way; the
        study's end tidies and compacts), one warning says so, and after
        ``GATHER_FAILURES`` failures in a row the writer stops gathering."""
        rels = [trial_points_path(t) for t in self._loose]
        self._loose.clear()
        try:
            if self.dataset.gather(rels) is not None:  # None: every one was a failed trial
                self.gathered += 1
            self._gather_failures = 0
        except Exception as err:
            self._gather_failures += 1
            stop = self._gather_failures >= GATHER_FAILURES
            if stop:
                self.gather_every = None
            if self._gather_failures == 1 or stop:
                print(
                    f"warning: could not gather {len(rels)} RD point files of "
                    f"{self.dataset.storage.uri} into one ({type(err).__name__}: "
                    f"{_first_line(err)}); they stay one file per trial"
                    + (", and no more are gathered" if stop else ""),
                    file=sys.stderr,
                    flush=True,
                )

    def _write(self, trial_id: str, rows: Rows) -> WriteError | None:
        reason = ""
        for attempt in range(self.retries):
            try:
                self.dataset.write_trial(trial_id, rows)
                return None
            except ValueError as err:  # rows that break the contract: retrying cannot help
                return WriteError(trial_id, self._uri(trial_id), f"bad rows: {err}")
            except Exception as err:  # storage errors, and anything else: never kill the thread
                reason = f"{type(err).__name__}: {_first_line(err)}"
            if attempt + 1 < self.retries:
                time.sleep(self.retry_delay_s * 2**attempt)
        return WriteError(trial_id, self._uri(trial_id), f"{reason} ({self.retries} attempts)")

    def _uri(self, trial_id: str) -> str:
        try:
            return self.dataset.trial_uri(trial_id)
        except ValueError:
            return self.dataset.storage.uri


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else "(no message)"
