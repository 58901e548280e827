"""The group commit (groupcommit): uploads read and sent wait, not completed, for one batched
re-check; only those whose re-check passed are completed; the bounds hold; a stop aborts all.

Unit tier: the re-check is the real binding.recheck_many over real files (file:// paths are
stat'ed locally, so no JVM), items are real s3put Pendings against the moto server where the S3
side matters. The same behaviour through the real commands and the real HDFS is in
test_real_hdfs_recheck.py."""

import os
import signal
import threading
import time

import pytest

from harness.proc import alive
from hdfs2s3kit import binding, errors, groupcommit, hdfs, identity, s3put, sitepolicy, status

MiB = 1 << 20
BUCKET = "gc-bucket"


class Item:
    """A groupcommit item over a real file, recording what happened to it."""

    def __init__(self, path, held=0, log=None):
        self.src = f"file://{path}"
        self.check = binding.Recheck(self.src, hdfs.stat_local(self.src), identity.lookup(), sitepolicy.effective())
        self.held = held
        self.log = log if log is not None else []
        self.outcome = None
        self.finished = threading.Event()

    def complete(self):
        self.outcome = "completed"
        self.log.append(("complete", self.src))

    def fail(self, err):
        self.outcome = err
        self.log.append(("fail", self.src))

    def done(self):
        self.finished.set()


def files(tmp_path, n, size=10):
    out = []
    for i in range(n):
        p = tmp_path / f"f{i}"
        p.write_bytes(b"x" * size)
        out.append(p)
    return out


def test_files_are_completed_only_after_one_batch_and_a_changed_one_is_not(tmp_path):
    paths = files(tmp_path, 4)
    gc = groupcommit.GroupCommit(max_wait_s=600)
    with gc.producing():                  # a file in progress: nothing is due before the flush
        items = [Item(p) for p in paths]
        for it in items:
            gc.submit(it)
        os.chmod(paths[1], 0o600)         # after its read, before its completion
        with open(paths[2], "ab") as f:   # appended
            f.write(b"more")
        time.sleep(0.5)
        assert [it.outcome for it in items] == [None] * 4 and gc.batches == 0
    gc.flush()
    assert gc.batches == 1 and gc.checked == 4
    assert items[0].outcome == items[3].outcome == "completed"
    for it, what in ((items[1], "mode"), (items[2], "length")):
        assert isinstance(it.outcome, errors.DataError) and it.outcome.code == errors.DATAERR
        assert f"changed while being read ({what}" in it.outcome.message
    gc.close()


def test_the_oldest_waits_at_most_max_wait_and_an_idle_run_does_not_wait(tmp_path):
    (a, b) = files(tmp_path, 2)
    gc = groupcommit.GroupCommit(max_wait_s=0.5)
    with gc.producing():
        it = Item(a)
        gc.submit(it)
        assert it.finished.wait(10) and it.outcome == "completed"       # no flush: its age did it
    gc2 = groupcommit.GroupCommit(max_wait_s=600, idle_s=0.3)
    it2 = Item(b)
    gc2.submit(it2)                                                     # nobody producing: idle
    assert it2.finished.wait(10) and it2.outcome == "completed"
    gc.close()
    gc2.close()


def test_waiting_files_and_held_bytes_stay_bounded(tmp_path):
    paths = files(tmp_path, 9)
    gc = groupcommit.GroupCommit(max_wait_s=600, max_files=3, max_bytes=100)
    high = [0, 0]
    lock = threading.Lock()

    class Counting(Item):
        def complete(self):
            with lock:
                high[0] = max(high[0], gc._held)
                high[1] = max(high[1], gc._held_bytes)
            super().complete()

    with gc.producing():
        items = [Counting(p, held=40) for p in paths]
        for it in items:
            gc.submit(it)                 # blocks while 3 files or > 100 bytes are held
    gc.flush()
    assert [it.outcome for it in items] == ["completed"] * 9
    assert high[0] <= 3 and high[1] <= 100 and gc.batches >= 4
    big = Counting(paths[0], held=1000)   # bigger than the bound on its own: taken alone
    gc.submit(big)
    gc.flush()
    assert big.outcome == "completed"
    gc.close()


def test_a_broken_hadoop_client_fails_the_whole_batch_and_completes_nothing(tmp_path):
    (a,) = files(tmp_path, 1)
    gc = groupcommit.GroupCommit("/bin/false", max_wait_s=600)
    local = Item(a)
    remote = []
    for name in ("r1.csv", "r2.csv"):
        it = Item(a)
        it.src = f"/user/x/{name}"
        it.check = binding.Recheck(it.src, local.check.stat, local.check.identity, local.check.policy)
        remote.append(it)
    with gc.producing():
        for it in [local, *remote]:
            gc.submit(it)
    gc.flush()
    for it in [local, *remote]:
        assert isinstance(it.outcome, errors.KitError) and it.outcome.code == errors.UNAVAILABLE, it.outcome
        assert "re-check after reading failed" in it.outcome.message
    gc.close()


def test_a_stop_fails_everything_waiting_kills_the_running_recheck_and_every_later_file(tmp_path):
    (a,) = files(tmp_path, 1)
    hung = tmp_path / "hadoop-hung"
    pidfile = tmp_path / "pid"
    hung.write_text(f"#!/bin/sh\necho $$ > {pidfile}\nexec sleep 120\n")
    hung.chmod(0o755)
    gc = groupcommit.GroupCommit(str(hung), max_wait_s=600)
    first = Item(a)
    first.src = "/user/x/a.csv"
    first.check = binding.Recheck(first.src, hdfs.stat_local(f"file://{a}"), identity.lookup(),
                                  sitepolicy.effective())
    gc.submit(first)                     # nobody producing: due once idle
    second = Item(a)
    deadline = time.monotonic() + 20
    while not pidfile.exists() or not pidfile.read_text().strip():
        assert time.monotonic() < deadline, "the re-check never started"
        time.sleep(0.05)
    pid = int(pidfile.read_text())
    gc.submit(second)                    # arrives while the re-check runs: waits for the next batch
    t0 = time.monotonic()
    gc.abort_all(errors.Interrupted(signal.SIGTERM))
    assert time.monotonic() - t0 < 10
    for it in (first, second):
        assert isinstance(it.outcome, errors.Interrupted) and it.finished.is_set()
    late = Item(a)
    gc.submit(late)                      # after the stop: failed at once, never completed
    assert isinstance(late.outcome, errors.Interrupted)
    deadline = time.monotonic() + 10
    while alive(pid):                   # the re-check JVM (here: the hung client) is gone
        assert time.monotonic() < deadline, "the running re-check was not killed"
        time.sleep(0.05)
    gc.close()


def test_recheck_wait_comes_from_the_environment_and_bad_values_are_refused():
    assert groupcommit.max_wait({}) == groupcommit.MAX_WAIT_S
    assert groupcommit.max_wait({groupcommit.WAIT_ENV: "2.5"}) == 2.5
    for bad in ("0", "-1", "soon", "nan", "inf"):
        with pytest.raises(errors.ConfigError) as e:
            groupcommit.max_wait({groupcommit.WAIT_ENV: bad})
        assert e.value.code == errors.CONFIG and groupcommit.WAIT_ENV in e.value.message


# -- the S3 side: a deferred upload is not an object until committed --------------------------

@pytest.fixture
def s3(boto):
    from hdfs2s3kit import aws

    c = aws.s3_client(boto)        # the uploader's own client (it sends its own checksums)
    c.create_bucket(Bucket=BUCKET)
    return c


def _uploads(s3):
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def _keys(s3):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def _deferred(s3, key, data):
    import io

    rec = status.new_record("test")
    return s3put.upload(io.BytesIO(data), BUCKET, key, s3=s3, framed=False, part_size=5 * MiB, record=rec,
                        defer=True), rec


def test_a_deferred_multipart_upload_stays_open_until_committed_and_abort_leaves_nothing(s3):
    data = os.urandom(6 * MiB)
    pend, rec = _deferred(s3, "big.bin", data)
    assert pend.held == 0 and [u["UploadId"] for u in _uploads(s3)] == [pend.upload_id]
    assert _keys(s3) == [] and rec["status"] == "started"
    pend.commit()
    assert rec["status"] == "ok" and rec["parts"] == 2 and rec["checksum_verified"] is True
    assert s3.get_object(Bucket=BUCKET, Key="big.bin")["Body"].read() == data and _uploads(s3) == []

    pend, rec = _deferred(s3, "gone.bin", data)
    err = pend.abort(errors.DataError("x: changed while being read (group); not stored", status="changed"))
    assert err.code == errors.DATAERR and err.record is rec
    assert (rec["status"], rec["aborted"], rec["object_exists"]) == ("changed", True, False)
    assert _uploads(s3) == [] and "gone.bin" not in _keys(s3)
    with pytest.raises(errors.KitError):
        pend.commit()                    # once: an aborted upload is never completed


def test_a_deferred_small_file_holds_its_body_and_sends_nothing_before_the_commit(s3):
    pend, rec = _deferred(s3, "small.txt", b"hello\n")
    assert pend.held == 6 and _uploads(s3) == [] and _keys(s3) == []
    pend.commit()
    assert rec["status"] == "ok" and rec["upload_id"] is None
    assert s3.get_object(Bucket=BUCKET, Key="small.txt")["Body"].read() == b"hello\n"
