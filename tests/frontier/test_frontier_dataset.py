"""The partitioned RD dataset (issue 16): one file per trial, exactly once, O(1) adds,
a background writer, old single-file studies read and migrated, local and S3."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pytest
from rdlab.frontier.dataset import LEGACY_FILE, RDDataset, trial_points_path
from rdlab.frontier.io import RDPointsError, read_rd_points, write_rd_points
from rdlab.frontier.writer import PointsWriter, WriteError
from rdlab.storage import Storage


def trial_rows(
    trial_id: str, n_epochs: int = 2, rate: float = 1.0, status: str = "ok"
) -> list[dict[str, Any]]:
    base = {"study": "s", "trial_id": trial_id, "status": status, "sigma_policy": "fixed"}
    rows = [{**base, "split": "val", "epoch": e, "rate": rate + e} for e in range(n_epochs)]
    return [*rows, {**base, "split": "val", "rate": rate, "nll_opt": 10.0 - rate}]


class Recording(pafs.FileSystemHandler):
    """A pyarrow filesystem over the local disk that records every path it is asked
    about, so a test can assert which files an operation touched."""

    def __init__(self, slow_s: float = 0.0, fail: str = "") -> None:
        self.fs = pafs.LocalFileSystem()
        self.touched: list[tuple[str, str]] = []
        self.slow_s = slow_s
        self.fail = fail
        self.lock = threading.Lock()

    def _log(self, op: str, path: str) -> None:
        with self.lock:
            self.touched.append((op, path))

    def get_type_name(self) -> str:
        return "recording"

    def normalize_path(self, path: str) -> str:
        return path

    def __eq__(self, other: object) -> bool:
        return self is other

    def __ne__(self, other: object) -> bool:
        return self is not other

    def get_file_info(self, paths: list[str]) -> list[pafs.FileInfo]:
        for p in paths:
            self._log("info", p)
        return list(self.fs.get_file_info(paths))

    def get_file_info_selector(self, selector: pafs.FileSelector) -> list[pafs.FileInfo]:
        self._log("list", selector.base_dir)
        return list(self.fs.get_file_info(selector))

    def create_dir(self, path: str, recursive: bool) -> None:
        self._log("mkdir", path)
        self.fs.create_dir(path, recursive=recursive)

    def delete_dir(self, path: str) -> None:
        self._log("rmdir", path)
        self.fs.delete_dir(path)

    def delete_dir_contents(self, path: str, missing_dir_ok: bool = False) -> None:
        self._log("rmdir", path)
        self.fs.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self) -> None:
        raise NotImplementedError

    def delete_file(self, path: str) -> None:
        self._log("delete", path)
        self.fs.delete_file(path)

    def move(self, src: str, dest: str) -> None:
        self._log("move", src)
        self.fs.move(src, dest)

    def copy_file(self, src: str, dest: str) -> None:
        self._log("copy", src)
        self.fs.copy_file(src, dest)

    def open_input_stream(self, path: str) -> Any:
        self._log("read", path)
        return self.fs.open_input_stream(path)

    def open_input_file(self, path: str) -> Any:
        self._log("read", path)
        return self.fs.open_input_file(path)

    def open_output_stream(self, path: str, metadata: Any) -> Any:
        self._log("write", path)
        time.sleep(self.slow_s)
        if self.fail and self.fail in path:
            raise OSError(f"simulated outage writing {path}")
        return self.fs.open_output_stream(path)

    def open_append_stream(self, path: str, metadata: Any) -> Any:
        raise NotImplementedError


def recorded(root: Path, handler: Recording) -> RDDataset:
    return RDDataset(Storage(root.as_posix(), pafs.PyFileSystem(handler), root.as_posix()))


def test_a_retried_trial_replaces_its_own_file(tmp_path: Path) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    data.write_trial("t1", trial_rows("t1", n_epochs=3))
    data.write_trial("t2", trial_rows("t2"))
    data.write_trial("t1", trial_rows("t1", n_epochs=1, rate=5.0))  # the retry
    back = data.read()
    assert sorted(back.groupby("trial_id").size().items()) == [("t1", 2), ("t2", 3)]
    assert back.loc[back["trial_id"] == "t1", "rate"].min() == 5.0
    assert data.trial_ids() == ["t1", "t2"]
    assert sorted(p.name for p in (tmp_path / "rd_points").iterdir()) == [
        "t1.parquet",
        "t2.parquet",
    ]
    assert (tmp_path / trial_points_path("t2")).is_file()


def test_a_file_holds_only_its_trial(tmp_path: Path) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    with pytest.raises(ValueError, match=r"rows of trial\(s\) \['t2'\] given for 't1'"):
        data.write_trial("t1", trial_rows("t1") + trial_rows("t2"))


def test_odd_trial_ids_round_trip(tmp_path: Path) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    ids = ["a/b", "_hidden", ".dot", "β 1"]
    for tid in ids:
        data.write_trial(tid, trial_rows(tid))
    assert data.trial_ids() == sorted(ids)
    assert set(read_rd_points(tmp_path / "rd_points")["trial_id"]) == set(ids)


def test_writer_adds_trial_k_without_opening_the_others(tmp_path: Path) -> None:
    handler = Recording()
    data = recorded(tmp_path, handler)
    with PointsWriter(data) as writer:
        for k in range(1, 6):
            writer.submit(f"t{k}", trial_rows(f"t{k}"))
        assert writer.flush(timeout=30)
        handler.touched.clear()
        writer.submit("t6", trial_rows("t6"))
        assert writer.flush(timeout=30)
    own = (tmp_path / "rd_points" / "t6.parquet").as_posix()
    files = {path for op, path in handler.touched if op != "mkdir"}
    assert files == {own}, handler.touched  # no read, list or write of trials 1..5
    assert {op for op, _ in handler.touched} <= {"write", "mkdir"}
    assert len(RDDataset(Storage.parse(tmp_path)).read()) == 6 * 3


def test_submit_never_waits_for_a_slow_store(tmp_path: Path) -> None:
    data = recorded(tmp_path, Recording(slow_s=0.3))
    writer = PointsWriter(data)
    t0 = time.perf_counter()
    for k in range(4):
        writer.submit(f"t{k}", trial_rows(f"t{k}"))
    assert time.perf_counter() - t0 < 0.1  # four writes take ≥ 1.2 s
    assert not writer.flush(timeout=0.05) and writer.pending > 0
    assert writer.close(timeout=30) == []
    assert writer.written == 4 and writer.pending == 0


def test_a_resubmitted_trial_is_written_once_with_its_newest_rows(tmp_path: Path) -> None:
    handler = Recording(slow_s=0.2)
    writer = PointsWriter(recorded(tmp_path, handler))
    writer.submit("busy", trial_rows("busy"))  # occupies the thread while we resubmit
    time.sleep(0.05)
    for rate in (1.0, 2.0, 3.0):
        writer.submit("t", trial_rows("t", rate=rate))
    writer.close(timeout=30)
    writes = [p for op, p in handler.touched if op == "write" and p.endswith("/t.parquet")]
    assert len(writes) == 1
    back = RDDataset(Storage.parse(tmp_path)).read()
    assert back.loc[back["trial_id"] == "t", "rate"].min() == 3.0
    assert writer.written_ids == {"busy", "t"}


def test_failures_are_reported_with_the_trial_and_path_not_raised(tmp_path: Path) -> None:
    seen: list[WriteError] = []
    writer = PointsWriter(
        recorded(tmp_path, Recording(fail="down")),
        retries=2,
        retry_delay_s=0.01,
        on_error=seen.append,
    )
    writer.submit("down", trial_rows("down"))
    writer.submit("bad", [{**trial_rows("bad")[0], "status": "exploded"}])
    writer.submit("ok", trial_rows("ok"))
    errors = writer.close(timeout=30)
    assert [e.trial_id for e in errors] == ["down", "bad"] and seen == errors
    assert "simulated outage" in errors[0].reason and "2 attempts" in errors[0].reason
    assert errors[0].uri.endswith("rd_points/down.parquet")
    assert "bad rows" in errors[1].reason and "'exploded'" in errors[1].reason
    assert "trial down" in str(errors[0]) and str(tmp_path) in str(errors[0])
    assert RDDataset(Storage.parse(tmp_path)).trial_ids() == ["ok"]
    assert writer.written_ids == {"ok"}  # what the driver need not write again at the end


def test_default_error_report_is_a_warning_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    writer = PointsWriter(recorded(tmp_path, Recording(fail="x")), retries=1)
    writer.submit("x", trial_rows("x"))
    writer.close(timeout=30)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("warning: could not write RD points of trial x")


def legacy_study(root: Path) -> pd.DataFrame:
    rows = trial_rows("t1") + trial_rows("t2") + trial_rows("t3")
    write_rd_points(rows, root / LEGACY_FILE)
    return pd.DataFrame(rows)


def test_old_single_file_studies_are_read_and_migrated(tmp_path: Path) -> None:
    legacy_study(tmp_path)
    data = RDDataset(Storage.parse(tmp_path))
    assert data.trial_ids() == ["t1", "t2", "t3"] and len(data.read()) == 9
    data.write_trial("t2", trial_rows("t2", n_epochs=0, rate=7.0))  # resumed: newer rows
    before = data.read().sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    assert len(before) == 7 and before.loc[before["trial_id"] == "t2", "rate"].tolist() == [7.0]
    assert data.migrate() == 2
    assert not (tmp_path / LEGACY_FILE).exists()
    after = data.read().sort_values(["trial_id", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(before, after)
    assert data.migrate() == 0  # idempotent


def test_an_interrupted_migration_loses_nothing_and_finishes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    legacy_study(tmp_path)
    data = RDDataset(Storage.parse(tmp_path))
    real = RDDataset.write_trial
    calls = {"n": 0}

    def crash_on_second(self: RDDataset, trial_id: str, rows: Any) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("killed mid-migration")
        return real(self, trial_id, rows)

    monkeypatch.setattr(RDDataset, "write_trial", crash_on_second)
    with pytest.raises(OSError):
        data.migrate()
    monkeypatch.setattr(RDDataset, "write_trial", real)
    assert (tmp_path / LEGACY_FILE).exists() and len(data.read()) == 9
    assert data.migrate() == 2 and len(data.read()) == 9


def test_an_empty_study_folder_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(RDPointsError, match=r"no RD points: neither rd_points/"):
        RDDataset(Storage.parse(tmp_path)).read()


def test_projection_and_filters(tmp_path: Path) -> None:
    legacy_study(tmp_path)
    data = RDDataset(Storage.parse(tmp_path))
    data.write_trial("t4", trial_rows("t4"))
    got = data.read(columns=["rate", "nll_opt"], filters=pc.field("nll_opt") > 0)
    assert list(got.columns) == ["rate", "nll_opt"] and len(got) == 4  # one final row each
    val = data.read(filters=[("trial_id", "in", ["t1", "t4"])])
    assert sorted(set(val["trial_id"])) == ["t1", "t4"] and len(val) == 6


@pytest.mark.server
def test_dataset_on_s3(s3_prefix: str) -> None:
    uri = f"{s3_prefix}/runs/study"
    data = RDDataset.open(uri)
    with PointsWriter(data, gather_every=2) as writer:
        for k in range(3):  # t1 fails first: it keeps its file when t0 is gathered
            writer.submit(f"t{k}", trial_rows(f"t{k}", status="failed" if k == 1 else "ok"))
    assert writer.errors == [] and writer.gathered == 1
    assert data.chunks() == ["rd_points/+chunk-000001.parquet"]
    assert data.trial_files() == ["rd_points/t1.parquet", "rd_points/t2.parquet"]
    writer2 = PointsWriter(data)
    writer2.submit("t1", trial_rows("t1", n_epochs=0, rate=9.0))
    writer2.close(timeout=30)
    assert data.trial_ids() == ["t0", "t1", "t2"]
    for frame in (data.read(), read_rd_points(f"{uri}/rd_points")):
        assert len(frame) == 3 + 1 + 3
        assert frame.loc[frame["trial_id"] == "t1", "rate"].tolist() == [9.0]
    one = read_rd_points(f"{uri}/rd_points/t2.parquet")
    assert set(one["trial_id"]) == {"t2"}


@pytest.mark.server
def test_migration_on_s3(s3_prefix: str, tmp_path: Path) -> None:
    storage = Storage.parse(f"{s3_prefix}/old")
    local = write_rd_points(trial_rows("a") + trial_rows("b"), tmp_path / LEGACY_FILE)
    storage.write_bytes(LEGACY_FILE, local.read_bytes())
    data = RDDataset(storage)
    assert data.migrate() == 2 and not storage.exists(LEGACY_FILE)
    assert data.trial_ids() == ["a", "b"] and len(data.read()) == 6


def _sorted(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["trial_id", "epoch"]).reset_index(drop=True)


def test_compaction_gathers_the_study_and_a_resume_keeps_it(tmp_path: Path) -> None:
    legacy_study(tmp_path)  # t1..t3 in the old single file
    data = RDDataset(Storage.parse(tmp_path))
    for k in (3, 4, 5):
        data.write_trial(f"t{k}", trial_rows(f"t{k}", rate=float(k)))  # t3 is newer here
    before = _sorted(data.read())
    assert data.compact() == 3
    assert [p.name for p in (tmp_path / "rd_points").iterdir()] == ["+compacted.parquet"]
    assert not (tmp_path / LEGACY_FILE).exists()
    pd.testing.assert_frame_equal(_sorted(data.read()), before)
    assert len(pd.read_parquet(tmp_path / "rd_points")) == len(before)  # exactly once
    assert data.compact() == 0
    assert data.migrate() == 0  # on --resume: the compacted file stays
    data.write_trial("t2", trial_rows("t2", n_epochs=0, rate=8.0))  # a retry after it
    assert data.read().query("trial_id == 't2'")["rate"].tolist() == [8.0]
    assert data.trial_ids() == ["t1", "t2", "t3", "t4", "t5"]
    assert data.compact() == 1  # the study ends again
    assert data.read().query("trial_id == 't2'")["rate"].tolist() == [8.0]
    assert len(data.read()) == len(before) - 2  # t2's epochs replaced by its one row


def chunk_names(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "rd_points").iterdir())


def test_gathered_chunks_read_as_the_trial_files_did_and_newer_rows_win(tmp_path: Path) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    for k in range(5):
        data.write_trial(f"t{k}", trial_rows(f"t{k}", rate=float(k)))
    before = _sorted(data.read())
    first = data.gather([trial_points_path(f"t{k}") for k in range(3)])
    assert first == "rd_points/+chunk-000001.parquet"
    assert chunk_names(tmp_path) == ["+chunk-000001.parquet", "t3.parquet", "t4.parquet"]
    pd.testing.assert_frame_equal(_sorted(data.read()), before)
    data.write_trial("t1", trial_rows("t1", n_epochs=0, rate=7.0))  # a retry: its file wins
    assert data.read().query("trial_id == 't1'")["rate"].tolist() == [7.0]
    # the retried trial lands in a newer chunk, which wins over the first one
    second = data.gather([trial_points_path("t1"), trial_points_path("t3")])
    assert second == "rd_points/+chunk-000002.parquet"
    assert data.read().query("trial_id == 't1'")["rate"].tolist() == [7.0]
    assert data.trial_ids() == [f"t{k}" for k in range(5)]
    assert len(data.read()) == len(before) - 2
    assert data.compact() == 1  # t4's file; both chunks go too
    assert chunk_names(tmp_path) == ["+compacted.parquet"]
    assert data.read().query("trial_id == 't1'")["rate"].tolist() == [7.0]


def layered_study(root: Path) -> RDDataset:
    """t1's rows three times, oldest to newest: in chunk 1, in chunk 2, in its own file."""
    data = RDDataset(Storage.parse(root))
    for k in range(4):
        data.write_trial(f"t{k}", trial_rows(f"t{k}"))
    data.gather([trial_points_path("t0"), trial_points_path("t1")])
    data.write_trial("t1", trial_rows("t1", n_epochs=0, rate=5.0))
    data.gather([trial_points_path("t1")])
    data.write_trial("t1", trial_rows("t1", n_epochs=0, rate=6.0))
    return data


def die_at_delete(monkeypatch: pytest.MonkeyPatch, n: int, message: str = "killed") -> None:
    """The process dies at its n-th ``Storage.delete``: that one raises, the rest delete.
    ``monkeypatch.undo()`` brings the real delete back (the driver runs again)."""
    real = Storage.delete
    calls = {"n": 0}

    def delete(self: Storage, rel: str) -> None:
        calls["n"] += 1
        if calls["n"] == n:
            raise OSError(message)
        real(self, rel)

    monkeypatch.setattr(Storage, "delete", delete)


@pytest.mark.parametrize("op", ["gather", "compact"])
def test_an_interrupted_gathering_or_compaction_never_lets_old_rows_win(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    want = _sorted(layered_study(tmp_path / "ref").read())
    assert want.query("trial_id == 't1'")["rate"].tolist() == [6.0]
    deletes = 2 if op == "gather" else 5  # chunks 1, 2 and the files of t1, t2, t3
    for crash_at in range(1, deletes + 1):  # die at every one of its deletes
        data = layered_study(tmp_path / f"{op}-{crash_at}")
        die_at_delete(monkeypatch, crash_at)
        with pytest.raises(OSError):
            if op == "gather":
                data.gather([trial_points_path("t2"), trial_points_path("t3")])
            else:
                data.compact()
        monkeypatch.undo()
        pd.testing.assert_frame_equal(_sorted(data.read()), want)  # none lost, none old
        data.compact()  # and it finishes later
        pd.testing.assert_frame_equal(_sorted(data.read()), want)
        assert chunk_names(data.storage.local_path()) == ["+compacted.parquet"]


def test_the_writer_gathers_every_n_files_reading_only_those(tmp_path: Path) -> None:
    handler = Recording()
    data = recorded(tmp_path, handler)
    with PointsWriter(data, gather_every=3) as writer:
        for k in range(1, 8):
            handler.touched.clear()
            writer.submit(f"t{k}", trial_rows(f"t{k}"))
            assert writer.flush(timeout=30)
            reads = {Path(p).name for op, p in handler.touched if op == "read"}
            if k % 3:
                assert reads == set(), (k, handler.touched)  # an add reads nothing
            else:  # the third add gathers the three files just written, and only them
                assert reads == {f"t{j}.parquet" for j in range(k - 2, k + 1)}, handler.touched
        assert writer.gathered == 2
    assert chunk_names(tmp_path) == ["+chunk-000001.parquet", "+chunk-000002.parquet", "t7.parquet"]
    assert RDDataset(Storage.parse(tmp_path)).trial_ids() == [f"t{k}" for k in range(1, 8)]


def test_failed_trials_keep_their_files_so_a_plain_reader_sees_each_row_once(
    tmp_path: Path,
) -> None:
    """A failed trial may be retried (by Tune, or on --resume): gathering and compaction
    leave its file for the retry to replace, so pandas on the folder never sees it twice."""
    data = RDDataset(Storage.parse(tmp_path))
    data.write_trial("t0", trial_rows("t0"))
    data.write_trial("t1", trial_rows("t1", status="failed"))
    assert data.gather([trial_points_path("t1")]) is None  # nothing settled to gather
    assert data.gather([trial_points_path("t0"), trial_points_path("t1")]) is not None
    assert chunk_names(tmp_path) == ["+chunk-000001.parquet", "t1.parquet"]
    data.write_trial("t1", trial_rows("t1", rate=4.0))  # the retry
    plain = pd.read_parquet(tmp_path / "rd_points")
    assert plain.groupby("trial_id").size().to_dict() == {"t0": 3, "t1": 3}
    assert set(plain.query("trial_id == 't1'")["status"]) == {"ok"}
    data.write_trial("t2", trial_rows("t2", status="failed"))
    assert data.compact() == 1  # t1's file (now ok); t2 failed: its file stays
    assert chunk_names(tmp_path) == ["+compacted.parquet", "t2.parquet"]
    plain = pd.read_parquet(tmp_path / "rd_points")
    assert plain.groupby("trial_id").size().to_dict() == {"t0": 3, "t1": 3, "t2": 3}
    pd.testing.assert_frame_equal(_sorted(data.read()), _sorted(plain))


def test_a_resume_undoes_the_leftovers_of_an_interrupted_gathering(tmp_path: Path) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    for k in range(3):
        data.write_trial(f"t{k}", trial_rows(f"t{k}"))
    rel = trial_points_path("t0")
    kept = (tmp_path / rel).read_bytes()
    data.gather([rel, trial_points_path("t1")])
    (tmp_path / rel).write_bytes(kept)  # as if killed before the delete
    assert len(pd.read_parquet(tmp_path / "rd_points")) == 12  # t0 twice to a plain reader
    before = _sorted(data.read())
    assert len(before) == 9  # never to rdlab
    assert data.migrate() == 0
    assert chunk_names(tmp_path) == ["+chunk-000001.parquet", "t0.parquet", "t2.parquet"]
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(tmp_path / "rd_points")), before)
    pd.testing.assert_frame_equal(_sorted(data.read()), before)


def test_a_trial_that_ran_again_after_a_crash_keeps_only_its_new_rows(tmp_path: Path) -> None:
    """A trial ended (stopped early), was gathered, and the driver died before Tune saved
    that: on --resume it runs again and writes its own file. The new rows win, now and
    after any number of resumes, and tidy() takes the old ones out of the chunk."""
    data = RDDataset(Storage.parse(tmp_path))
    data.write_trial("t0", trial_rows("t0", status="stopped_early", rate=1.0))
    data.write_trial("t1", trial_rows("t1"))
    data.gather([trial_points_path("t0"), trial_points_path("t1")])
    assert data.migrate() == 0  # the resume
    data.write_trial("t0", trial_rows("t0", n_epochs=0, rate=5.0))  # the rerun, now ok
    for _ in range(2):  # the driver dies again before gathering; resumed twice
        assert data.migrate() == 0
        got = data.read().query("trial_id == 't0'")
        assert got[["status", "rate"]].values.tolist() == [["ok", 5.0]]
    plain = pd.read_parquet(tmp_path / "rd_points")
    assert plain.groupby("trial_id").size().to_dict() == {"t0": 1, "t1": 3}
    assert data.tidy() == 0  # nothing left twice


def test_a_resume_after_an_interrupted_compaction_reads_every_row_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = layered_study(tmp_path)
    want = _sorted(data.read())
    die_at_delete(monkeypatch, 2)
    with pytest.raises(OSError):
        data.compact()  # chunk 1 went, chunk 2 and the trial files are still there
    monkeypatch.undo()
    data.migrate()
    pd.testing.assert_frame_equal(_sorted(data.read()), want)
    pd.testing.assert_frame_equal(_sorted(pd.read_parquet(tmp_path / "rd_points")), want)


def test_failed_gatherings_warn_leave_the_files_and_stop_after_three(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = recorded(tmp_path, Recording(fail="+chunk-"))
    with PointsWriter(data, gather_every=2, retry_delay_s=0.0) as writer:
        for k in range(9):
            writer.submit(f"t{k}", trial_rows(f"t{k}"))
    assert writer.errors == [] and writer.gathered == 0 and writer.gather_every is None
    err = capsys.readouterr().err
    assert err.count("could not gather") == 2 and "simulated outage" in err  # first, last
    assert err.count("no more are gathered") == 1
    assert chunk_names(tmp_path) == [f"t{k}.parquet" for k in range(9)]


def test_a_reader_racing_a_gathering_lists_and_reads_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    for k in range(4):
        data.write_trial(f"t{k}", trial_rows(f"t{k}"))
    want = _sorted(data.read())
    real = RDDataset._resolve
    raced = {"n": 0}

    def racing(self: RDDataset, files: list[str], *rest: Any) -> Any:
        if not raced["n"]:  # the writer gathers between this reader's listing and reads
            raced["n"] += 1
            RDDataset(self.storage).gather(files[:3])
        return real(self, files, *rest)

    monkeypatch.setattr(RDDataset, "_resolve", racing)
    pd.testing.assert_frame_equal(_sorted(data.read()), want)
    assert raced["n"] == 1 and chunk_names(tmp_path) == ["+chunk-000001.parquet", "t3.parquet"]


def test_an_interrupted_compaction_reads_right_and_finishes_later(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = RDDataset(Storage.parse(tmp_path))
    for k in range(4):
        data.write_trial(f"t{k}", trial_rows(f"t{k}"))
    before = _sorted(data.read())
    die_at_delete(monkeypatch, 2, "killed mid-compaction")
    with pytest.raises(OSError):
        data.compact()
    monkeypatch.undo()
    pd.testing.assert_frame_equal(_sorted(data.read()), before)  # no row twice, none lost
    assert data.compact() == 3
    pd.testing.assert_frame_equal(_sorted(data.read()), before)


def test_the_end_of_a_study_writes_only_what_is_missing_and_compacts_a_large_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """StudyOutputs.finish: trials already stored (by this driver's writer or an earlier
    driver's) are not written again, a trial the writer missed is, and from COMPACT_FROM
    trials the dataset becomes one file, read ~10x faster."""
    import yaml
    from rdlab.driver import outputs as O
    from rdlab.study.spec import parse_spec
    from rdlab.tune.outcome import TrialOutcome

    root = Path(__file__).resolve().parents[2]
    spec = parse_spec(yaml.safe_load((root / "studies/specs/default.yaml").read_text()))
    outcomes = [
        TrialOutcome(f"t{k}", {"objective.beta": float(k)}, "ok", final={"val": {"rate": 1.0}})
        for k in (1, 2, 3)
    ]
    handler = Recording()
    out = O.StudyOutputs(
        Storage(tmp_path.as_posix(), pafs.PyFileSystem(handler), tmp_path.as_posix())
    )
    out.open(resume=False)
    sink = out.sink(spec)
    for o in outcomes[:2]:
        sink(o)
    says: list[str] = []
    out.close()
    handler.touched.clear()
    out.finish(spec, outcomes, says.append)
    written = {Path(p).name for op, p in handler.touched if op == "write"}
    assert written == {"t3.parquet"}, handler.touched  # only the one the writer missed
    assert says == []  # 3 trials: below COMPACT_FROM, the trial files stay
    assert RDDataset(Storage.parse(tmp_path)).trial_ids() == ["t1", "t2", "t3"]

    monkeypatch.setattr(O, "COMPACT_FROM", 3)
    out.open(resume=True)  # a second driver: its writer wrote nothing
    handler.touched.clear()
    out.finish(spec, outcomes, says.append)
    assert not any(op == "write" and p.endswith("/t1.parquet") for op, p in handler.touched)
    assert says == ["compacting 3 trials' RD points into one file"]
    assert sorted(p.name for p in (tmp_path / "rd_points").iterdir()) == ["+compacted.parquet"]
    back = RDDataset(Storage.parse(tmp_path)).read()
    assert sorted(back["trial_id"].unique()) == ["t1", "t2", "t3"]
