"""Group commit: uploads wait, read and sent but not completed, for one batched re-check.

An HDFS source must be re-checked after its read and before anything is completed
in S3 (binding). One `hadoop fs -stat` per file would cost a JVM start (about a
second of CPU) per file, as much as the `-cat` itself for small files. So
`transfer` (also with -j N) and the mapper hand each file whose upload is read and
sent (upload(..., defer=True): every part acknowledged, or a small file's single
PutObject body held) to one GroupCommit and go on with the next file. Its thread
runs one `-stat` batch (binding.recheck_many: hdfs.stat_many, sized for the command
line, bisected around a path Hadoop refuses) for everything waiting, then
completes the files that passed and aborts the others, each with its own record.

A batch starts when any of these holds (the rest keep waiting, bounded):
- MAX_FILES are waiting, or MAX_BYTES of single-PUT bodies are held, or a
  producer is blocked for room (memory and open uploads stay bounded: `submit`
  waits while MAX_FILES items or MAX_BYTES are held, queued or being completed;
  one item bigger than MAX_BYTES is taken alone);
- the oldest has waited MAX_WAIT_S (environment: HDFS2S3_RECHECK_WAIT, seconds):
  at most one re-check JVM per MAX_WAIT_S of run time, plus one per MAX_FILES
  files; with small files arriving one a second, one JVM per ~30 files;
- no file has been in progress for IDLE_S (nothing more would join: the last
  file of a run, a single big file, a mapper between input batches);
- flush() (the end of a run; Transfer.one for a single file).

Nothing is completed unless its own re-check passed: an error of the batch as a
whole (the Hadoop client broken) fails every file in it. A stop (abort_all, on
SIGINT/SIGTERM/SIGHUP/QUIT or an error in the run) aborts everything not yet
being completed, kills a running re-check JVM, waits for the completions already
sent (their answers decide their records), and fails every later submit: no
multipart upload of ours is left open and every record says what happened.

An item is anything with `src`, `check` (a binding.Recheck), `held` (bytes of
memory), `complete()`, `fail(err)` and `done()` (called once, after either);
`complete`/`fail` finish the item's record and never raise for a per-file reason.
"""

import collections
import concurrent.futures
import os
import threading
import time

from . import binding, errors, hdfs, signals

MAX_FILES = 256                # waiting at once: open multipart uploads or held bodies
MAX_BYTES = 64 << 20           # single-PUT bodies held while they wait
MAX_WAIT_S = 30.0              # the longest a file waits for others to share its re-check
WAIT_ENV = "HDFS2S3_RECHECK_WAIT"
IDLE_S = 0.5                   # no file in progress this long: re-check what waits now
STOP_WAIT_S = 60               # a stop waits this long for completions already sent
_POLL_S = 0.2                  # waits wake this often (the main thread must see signals)


class GroupCommit:
    def __init__(self, hadoop_cmd=None, *, workers=2, max_files=MAX_FILES, max_bytes=MAX_BYTES,
                 max_wait_s=None, idle_s=IDLE_S):
        self.hadoop_cmd = hadoop_cmd
        self.max_files, self.max_bytes = max(1, int(max_files)), int(max_bytes)
        self.max_wait_s = max_wait() if max_wait_s is None else max_wait_s
        self.idle_s = idle_s
        self._workers = max(1, int(workers))
        self._cv = threading.Condition()
        self._queue = collections.deque()    # submitted, waiting for a batch
        self._state = {}                     # id(item) -> queued | checking | ready | completing | aborting
        self._held = 0                       # items not done yet (queued ... completing)
        self._held_bytes = 0
        self._blocked = 0                    # producers waiting in submit() for room
        self._flush = 0                      # flush() calls waiting
        self._active = 0                     # files in progress (producing())
        self._idle_since = time.monotonic()
        self._stopped = None                 # the error that stopped it (abort_all)
        self._cancel = hdfs.Cancel()
        self._by_id = {}                     # id(item) -> item, for everything in _state
        self._thread = None
        self._pool = None
        self.batches = 0                     # re-check batches run (one -stat JVM each, normally)
        self.checked = 0                     # files re-checked

    # -- producers ---------------------------------------------------------------------
    def producing(self):
        """`with gc.producing():` around one file's read and upload: while any is in progress,
        the idle trigger waits (its file may join the batch)."""
        return _Producing(self)

    def submit(self, item):
        """Queue item for the next batch; blocks while the bounds are reached. After a stop
        the item is failed at once with the stop's error (its record says so)."""
        with self._cv:
            self._blocked += 1
            try:
                while self._stopped is None and self._held and (
                        self._held >= self.max_files or self._held_bytes + item.held > self.max_bytes):
                    self._cv.notify_all()
                    self._cv.wait(_POLL_S)
            finally:
                self._blocked -= 1
            stopped = self._stopped
            if stopped is None:
                self._queue.append(item)
                self._state[id(item)] = "queued"
                self._by_id[id(item)] = item
                item.queued_at = time.monotonic()
                self._held += 1
                self._held_bytes += item.held
                self._start()
                self._cv.notify_all()
                return
        self._settle(item, stopped)

    def flush(self):
        """Re-check and complete everything submitted; returns when each item is done."""
        with self._cv:
            self._flush += 1
            try:
                self._cv.notify_all()
                while self._held and self._stopped is None:
                    if self._thread is not None and not self._thread.is_alive():
                        raise errors.KitError("internal error: the re-check thread ended with files waiting")
                    self._cv.wait(_POLL_S)
            finally:
                self._flush -= 1

    @property
    def waiting(self):
        with self._cv:
            return self._held

    # -- a stop -------------------------------------------------------------------------
    def abort_all(self, err):
        """Fail everything not yet being completed with err (an Interrupted on a signal), kill
        a running re-check, wait for completions already sent. Later submits fail at once."""
        with signals.CatchSignals(raise_now=False):      # a second signal must not cut the aborts short
            with self._cv:
                if self._stopped is None:
                    self._stopped = err
                taken = list(self._queue)
                self._queue.clear()
                taken += [self._by_id[key] for key, st in self._state.items() if st in ("checking", "ready")]
                for it in taken:
                    self._state[id(it)] = "aborting"
                self._cv.notify_all()
            self._cancel.cancel(err if isinstance(err, errors.KitBase) else errors.KitError(str(err)))
            for it in taken:
                self._settle(it, err, counted=True)
            deadline = time.monotonic() + STOP_WAIT_S
            with self._cv:
                while self._held and time.monotonic() < deadline:
                    self._cv.wait(_POLL_S)
            if self._pool is not None:
                self._pool.shutdown(wait=False)

    def close(self):
        """The end of the run: anything still waiting (a caller that did not flush) is failed,
        never completed unchecked."""
        if self.waiting:
            self.abort_all(errors.KitError("internal error: the run ended before its re-check", status="failed"))
        elif self._pool is not None:
            self._pool.shutdown(wait=True)
        with self._cv:
            if self._stopped is None:
                self._stopped = errors.KitError("internal error: submitted after the run ended")
            self._cv.notify_all()

    # -- the re-check thread -------------------------------------------------------------
    def _start(self):
        if self._thread is None:
            self._pool = concurrent.futures.ThreadPoolExecutor(self._workers, thread_name_prefix="commit")
            self._thread = threading.Thread(target=self._run, name="recheck", daemon=True)
            self._thread.start()

    def _due(self, now):
        if not self._queue:
            return False
        if self._flush or self._blocked or len(self._queue) >= self.max_files:
            return True
        if sum(it.held for it in self._queue) >= self.max_bytes:
            return True
        if now - self._queue[0].queued_at >= self.max_wait_s:
            return True
        return self._active == 0 and now - self._idle_since >= self.idle_s

    def _run(self):
        try:
            while True:
                with self._cv:
                    while self._stopped is None and not self._due(time.monotonic()):
                        self._cv.wait(_POLL_S)
                    if self._stopped is not None:
                        return
                    batch = list(self._queue)
                    self._queue.clear()
                    for it in batch:
                        self._state[id(it)] = "checking"
                self._check(batch)
        except BaseException as e:  # noqa: BLE001 - never leave files waiting on a dead thread
            self.abort_all(errors.KitError(f"internal error in the re-check: {type(e).__name__}: {e}"))

    def _check(self, batch):
        self.batches += 1
        self.checked += len(batch)
        try:
            verdicts = binding.recheck_many([it.check for it in batch], self.hadoop_cmd, cancel=self._cancel)
        except errors.KitError as e:
            # The batch as a whole could not be re-checked (no Hadoop client, cluster down):
            # nothing in it may be completed.
            err = errors.KitError(f"re-check after reading failed: {e.message}; not stored", code=e.code,
                                  status=e.status)
            verdicts = [err] * len(batch)
        except errors.KitBase:
            return                              # cancelled by abort_all, which owns the batch now
        with self._cv:
            mine = [(it, v) for it, v in zip(batch, verdicts) if self._state.get(id(it)) == "checking"]
            for it, _v in mine:
                self._state[id(it)] = "ready"
        for it, v in mine:
            try:
                self._pool.submit(self._complete, it, v)
            except RuntimeError:                # shut down by abort_all, which takes what is ready
                return

    def _complete(self, item, verdict):
        with self._cv:
            if self._state.get(id(item)) != "ready":
                return                          # abort_all took it
            stopped = self._stopped
            self._state[id(item)] = "completing"
        if stopped is not None:
            verdict = stopped
        self._settle(item, verdict, counted=True)

    def _settle(self, item, err, counted=False):
        """Complete (err None) or fail the item, then done(); never raises."""
        try:
            if err is None:
                item.complete()
            else:
                item.fail(err)
        except BaseException as e:  # noqa: BLE001 - complete/fail finish their record; this is a bug
            try:
                item.fail(errors.KitError(f"internal error completing {item.src}: {type(e).__name__}: {e}"))
            except BaseException:  # noqa: BLE001
                pass
        finally:
            try:
                item.done()            # before it stops counting: flush() returns after every done()
            finally:
                if counted:
                    with self._cv:
                        self._state.pop(id(item), None)
                        self._by_id.pop(id(item), None)
                        self._held -= 1
                        self._held_bytes -= item.held
                        self._cv.notify_all()


def max_wait(env=None):
    """MAX_WAIT_S, or HDFS2S3_RECHECK_WAIT (seconds, > 0) when set."""
    text = (os.environ if env is None else env).get(WAIT_ENV)
    if text is None or text == "":
        return MAX_WAIT_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise errors.ConfigError(f"{WAIT_ENV}={text!r}: not a number of seconds above 0")
    return value


class _Producing:
    __slots__ = ("_gc",)

    def __init__(self, gc):
        self._gc = gc

    def __enter__(self):
        with self._gc._cv:
            self._gc._active += 1
        return self

    def __exit__(self, *exc):
        gc = self._gc
        with gc._cv:
            gc._active -= 1
            if gc._active == 0:
                gc._idle_since = time.monotonic()
                gc._cv.notify_all()
        return False
