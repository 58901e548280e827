"""Many files through one `transfer.Transfer`: `transfer -j N` and the batch view.

The set-up is shared, never repeated per file or per worker: one authz batch
(one `hadoop fs -stat` JVM for all the files), one config read, one set of
STS credentials, one S3 client (its connection pool sized for N files x
their part concurrency), one keyring. Then N files move at once, each
through its own bounded uploader.

Memory bound with -j N: each file in flight holds its part buffers
(s3put.buffer_limit / memory_plan: at most concurrency + 1, 48 MiB in all
while two parts fit in that, then ONE part of ceil(size / 10,000)) plus the
encryptor's frames (threads + 2 frames of 1 MiB), so about
    N x (max(48 MiB, part_size) + (threads + 2) MiB)
on top of the one process's own client; e.g. -j 4 with the defaults (6 buffers
of 8 MiB): 4 x (48 MiB + the frames). Past 234 GiB a file holds one part
(its reading waits while that part is sent); past 468 GiB that part is more
than 48 MiB (1 TiB: 105 MiB).

HDFS files are completed after their batched re-check (transfer.Transfer.start,
groupcommit): a worker hands a file read and sent to the group commit and takes
the next one; records come out as files become final, and at the end the run
flushes what still waits.

Interruption: SIGINT/SIGTERM arrive in the main thread; it aborts every upload
waiting for its re-check, tells the workers to stop (each in-flight file's next
read raises Interrupted, so its upload aborts exactly as a single file's does),
waits for them, then re-raises.
"""

import concurrent.futures
import time

from . import errors, progress, status, transfer

STOP_WAIT_S = 60


def _pairs(items):
    return [(i, None) if isinstance(i, str) else (i[0], i[1] if len(i) > 1 else None) for i in items]


def _authorize(t, pairs):
    good = []
    for src, _d in pairs:
        try:
            good.append(transfer.check_src(src))
        except errors.KitError:
            pass
    if not good:
        return {}
    try:
        return t.authorize(good)
    except errors.Interrupted:
        raise
    except errors.KitError:
        return {}     # each file's own check reports it


def _total_bytes(decisions):
    total = 0
    for d in decisions.values():
        st = getattr(d, "stat", None)
        if getattr(d, "allowed", False) and st is not None and not st.is_dir:
            total += int(st.length)
    return total


def _warm(t):
    """Build the shared set-up once, in this thread, before workers race for it.
    A failure is left for each file's record to report."""
    for name in ("identity", "s3", "keyring"):
        try:
            getattr(t.setup, name)
        except errors.Interrupted:
            raise
        except errors.KitError:
            pass


def run(t, items, *, jobs=1, force=False, show_progress=False):
    """Yield each file's finished status record (in completion order when jobs > 1)."""
    pairs = _pairs(items)
    t.scope_for(pairs)           # the STS session policy: this run's destinations only
    decisions = _authorize(t, pairs)
    batch = None
    if len(pairs) > 1 or jobs > 1:
        batch = progress.Batch(len(pairs), _total_bytes(decisions) or None, enabled=show_progress)
        t.progress = batch
    else:
        t.progress = show_progress
    try:
        if jobs <= 1:
            for rec in t.ordered(pairs, force=force):
                if batch is not None:
                    batch.file_done(not status.is_failure(rec))
                yield rec
        else:
            yield from _parallel(t, pairs, jobs, force, batch)
    finally:
        if batch is not None:
            batch.close()


def _parallel(t, pairs, jobs, force, batch):
    t.setup.jobs = jobs          # the S3 client's pool: room for every file's parts
    _warm(t)
    pool = concurrent.futures.ThreadPoolExecutor(jobs, thread_name_prefix="transfer")
    futures = [pool.submit(t.start, src, dest, force=force) for src, dest in pairs]
    pending = set(futures)
    waiting = []                 # slots of files waiting for their re-check
    flushed = False

    def ready():
        for s in [s for s in waiting if s.done]:
            waiting.remove(s)
            batch.file_done(not status.is_failure(s.record))
            yield s.record

    try:
        while pending or waiting:
            if not pending and not flushed:
                t.flush()        # every file is read: re-check and complete what waits
                flushed = True
            done, pending = concurrent.futures.wait(pending, timeout=0.2,
                                                    return_when=concurrent.futures.FIRST_COMPLETED)
            for f in done:
                slot = _result(f)
                if slot is not None:
                    waiting.append(slot)
            yield from ready()
    except errors.Interrupted as e:
        batch.stop_signum = e.signum
        t.abort_pending(e)       # nothing waiting is completed; later arrivals are failed at once
        for f in pending:
            f.cancel()
        deadline = time.monotonic() + STOP_WAIT_S
        for f in pending:
            if f.cancelled():
                continue
            try:
                f.result(timeout=max(0.0, deadline - time.monotonic()))
            except (errors.KitBase, concurrent.futures.TimeoutError, concurrent.futures.CancelledError):
                pass
        raise
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


class _Done:
    """The slot of a worker that saw the stop: its record is final."""

    done = True

    def __init__(self, record):
        self.record = record


def _result(f):
    try:
        return f.result()
    except errors.Interrupted as e:     # a worker that saw the stop: its record says interrupted
        return _Done(e.record) if e.record is not None else None
    except concurrent.futures.CancelledError:
        return None
