"""Hadoop Streaming mapper: many files per task over one shared `transfer.Transfer`.

A map task pays its set-up (config, STS credentials, AWS clients, keyring)
once and then moves every file of its split. Hadoop retries failed tasks and
may run a second, speculative attempt at the same time, so everything here is
built to be repeated: a file already in S3 with the same source fingerprint
is `skipped`, and the upload itself is a conditional create, so of two
concurrent attempts exactly one writes each object.

Input lines (one file each):
    SRC                     TextInputFormat, default destination mapping
    SRC<TAB>DEST            explicit s3:// destination
    OFFSET<TAB>SRC[<TAB>DEST]  NLineInputFormat passes the byte offset as key
HDFS files are completed after a batched re-check (groupcommit, through
Transfer.start): lines come out in input order, each once its file is final, so
a line may wait up to groupcommit.MAX_WAIT_S for the files after it.

Output: one TSV line per file on stdout (see TSV_FIELDS; `bytes` is the
source length); counters (files_ok, files_skipped, files_denied, files_failed,
bytes = source bytes sent, bytes_uploaded = ciphertext) and a heartbeat as
`reporter:` lines on stderr, which Hadoop Streaming reads.
"""

import collections
import os
import sys
import threading
import time

from . import errors, signals, status

TSV_FIELDS = ("status", "src", "dest", "bytes", "xxh3_128", "seconds", "message")
COUNTER_GROUP = "hdfs2s3"
DEFAULT_HEARTBEAT_S = 30.0   # Hadoop kills a task silent for mapreduce.task.timeout (600 s)
DEFAULT_BATCH = 500          # lines read ahead so authz costs one `hadoop fs -stat` per batch


class Item:
    __slots__ = ("lineno", "src", "dest", "error")

    def __init__(self, lineno, src=None, dest=None, error=None):
        self.lineno, self.src, self.dest, self.error = lineno, src, dest, error

    def __repr__(self):
        return f"Item({self.lineno}, {self.src!r}, {self.dest!r}, {self.error!r})"


def parse_line(line, lineno=0):
    """One input line -> Item, or None for a blank line.

    OFFSET<TAB>SRC and SRC<TAB>DEST both have two fields; they are told apart
    by the second field: a destination is always an s3:// URL, a source never
    is (sources are HDFS or local paths), and an offset is all digits.
    """
    line = line[:-1] if line.endswith("\n") else line
    if not line.strip():
        return None
    if "\r" in line:
        # not trimmed: `x\r` is a name of its own (a CRLF listing, or a hostile one)
        return Item(lineno, src=line, error=f"line {lineno}: holds a carriage return, which a line listing "
                                            "cannot carry (use -0: NUL-separated)")
    fields = line.split("\t")
    if len(fields) == 2 and fields[0].isdigit() and not fields[1].startswith("s3://"):
        fields = fields[1:]
    elif len(fields) == 3 and fields[0].isdigit():
        fields = fields[1:]
    if len(fields) == 1:
        src, dest = fields[0], None
    elif len(fields) == 2:
        src, dest = fields
    else:
        return Item(lineno, src=line, error=f"line {lineno}: expected SRC, SRC<TAB>DEST or OFFSET<TAB>SRC, "
                                            f"got {len(fields)} tab-separated fields")
    src, dest = src.strip(), (dest.strip() or None) if dest is not None else None
    if not src:
        return Item(lineno, src=line, error=f"line {lineno}: empty source")
    if src.startswith("-"):
        # Refused: a source handed to `hadoop fs` could be read as an option.
        return Item(lineno, src=src, error=f"line {lineno}: source starts with '-': {src!r}")
    if dest is not None and not dest.startswith("s3://"):
        return Item(lineno, src=src, error=f"line {lineno}: destination is not an s3:// URL: {dest!r}")
    return Item(lineno, src, dest)


class Reporter:
    """`reporter:counter:` / `reporter:status:` lines on stderr, one writer at a time
    (the heartbeat thread and the main thread share stderr)."""

    def __init__(self, stream=None, group=COUNTER_GROUP):
        self.stream = stream or sys.stderr
        self.group = group
        self._lock = threading.Lock()

    def _write(self, line):
        with self._lock:
            try:
                self.stream.write(line + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr gone: the task is being torn down; nothing useful to do

    def counter(self, name, n=1):
        if n:
            self._write(f"reporter:counter:{self.group},{name},{int(n)}")

    def status(self, text):
        self._write("reporter:status:" + _one_line(text))

    def log(self, text):
        self._write("hdfs2s3kit map: " + _one_line(text))


class Heartbeat:
    """Every `interval` seconds, a `reporter:status:` line saying what the task is
    doing, so a long file never looks like a hung task to the framework."""

    def __init__(self, reporter, interval=DEFAULT_HEARTBEAT_S):
        self.reporter = reporter
        self.interval = float(interval)
        self._what = "starting"
        self._since = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def set(self, what):
        self._what, self._since = what, time.monotonic()

    def _run(self):
        while not self._stop.wait(self.interval):
            self.reporter.status(f"{self._what} ({time.monotonic() - self._since:.0f}s)")

    def __enter__(self):
        if self.interval > 0:
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)


def _one_line(text):
    return " ".join(str(text).split()) if text is not None else ""


def _cell(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.3f}"
    return str(v).replace("\t", " ").replace("\n", " ").replace("\r", " ")


def record_dest(rec):
    if rec.get("bucket") and rec.get("key"):
        return f"s3://{rec['bucket']}/{rec['key']}"
    return rec.get("dest") or ""


def source_bytes(rec):
    """The file's own length (what `hadoop fs -du` shows); the record's `bytes`
    is the ciphertext uploaded, a little larger."""
    return rec.get("src_bytes") if rec.get("src_bytes") is not None else rec.get("bytes")


def tsv_line(rec):
    cells = (rec.get("status"), rec.get("src"), record_dest(rec), source_bytes(rec), rec.get("xxh3_128"),
             rec.get("duration_s"), _one_line(rec.get("error")) or None)
    return "\t".join(_cell(c) for c in cells)


def counter_name(rec):
    st = rec.get("status")
    if st in ("ok", "skipped", "denied") or st in status.DRY_RUN_STATUSES:
        return "files_" + st
    return "files_failed"


def bad_line_record(item):
    rec = status.new_record("map", src=item.src)
    return status.finish(rec, "usage", errors.USAGE, item.error)


def crashed_record(item, exc):
    """Transfer.one() is documented never to raise for a per-file failure; if it
    does anyway, that file fails and the task goes on with the next one."""
    err = exc if isinstance(exc, errors.KitBase) else errors.KitError(f"{type(exc).__name__}: {exc}")
    rec = getattr(err, "record", None) or status.new_record("map", src=item.src)
    rec.setdefault("src", item.src)
    return status.finish(rec, err.status, err.code or 1, f"{item.src}: {err.message}")


def parse_record(record, n=0):
    """One record of a NUL-separated listing (`map -0`): a SRC exactly as given, nothing split
    or trimmed; destinations follow the default mapping (or --dest)."""
    if not record:
        return None
    if record.startswith("-"):
        return Item(n, src=record, error=f"record {n}: source starts with '-': {record!r}")
    return Item(n, record)


def read_batches(lines, size, parse=parse_line):
    batch = []
    for n, line in enumerate(lines, 1):
        item = parse(line, n)
        if item is None:
            continue
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


class Mapper:
    """Drives one task: `run(lines)` -> exit code.

    `transfer` follows the transfer.Transfer contract (`one(src, dest, force)`
    returns a status record and never raises for a per-file failure, only for
    SIGINT/SIGTERM, with the record attached; when it also has `start`, `flush`
    and `abort_pending`, files are started and their records taken in input order
    as they become final); `manifest` is a manifest.ManifestWriter or None.
    """

    def __init__(self, transfer, *, out=None, reporter=None, manifest=None, force=False,
                 heartbeat_s=DEFAULT_HEARTBEAT_S, batch=DEFAULT_BATCH, dest_root=None, null=False):
        self.transfer = transfer
        self.dest_root = dest_root   # (bucket, prefix): objects at PREFIX/<source path>
        self.out = out or sys.stdout
        self.reporter = reporter or Reporter()
        self.manifest = manifest
        self.force = force
        self.heartbeat_s = heartbeat_s
        self.batch = max(1, int(batch))
        self.parse = parse_record if null else parse_line   # `lines` are NUL-separated records
        self.counts = {"files_ok": 0, "files_skipped": 0, "files_denied": 0, "files_failed": 0, "bytes": 0,
                       "bytes_uploaded": 0}
        self.first_failure_code = 0
        self.done = 0
        self.started = 0

    def run(self, lines):
        interrupted = None
        slots = collections.deque()     # started files, in input order, until emitted
        with signals.CatchSignals(raise_now=True) as latch, Heartbeat(self.reporter, self.heartbeat_s) as hb:
            try:
                for batch in read_batches(lines, self.batch, self.parse):
                    batch = self._trees(batch, self._prepare(batch, hb), hb)
                    for item in batch:
                        latch.check()
                        self.started += 1
                        hb.set(f"file {self.started}: {item.src}")
                        try:
                            slots.append(self._start(item))
                        except errors.Interrupted as e:
                            if getattr(e, "record", None):
                                slots.append(_Done(e.record))
                            raise
                        self._drain(slots)
                latch.check()
                if slots:
                    hb.set(f"completing {len(slots)} file(s) after their re-check")
                self._call("flush")
                self._drain(slots)
                latch.check()
            except errors.Interrupted as e:
                interrupted = e
                self._call("abort_pending", e)   # every upload waiting for its re-check
                self._drain(slots, stopping=True)
            finally:
                hb.set("writing the run manifest")
                manifest_error = self._close_manifest()
        if interrupted is not None:
            raise interrupted
        self.reporter.status(
            f"done: {self.counts['files_ok']} ok, {self.counts['files_skipped']} skipped, "
            f"{self.counts['files_denied']} denied, {self.counts['files_failed']} failed")
        if manifest_error is not None:
            # The audit trail is part of the job: without it the task must be retried.
            self.reporter.log(f"run manifest not written: {manifest_error.message}")
            return self.first_failure_code or manifest_error.code or errors.TEMPFAIL
        return self.first_failure_code

    def _prepare(self, batch, hb):
        """Authorize a whole batch in one go (one `hadoop fs -stat` launch)."""
        prepare = getattr(self.transfer, "prepare", None)
        srcs = [i.src for i in batch if i.error is None]
        if prepare is None or not srcs:
            return
        hb.set(f"authorizing {len(srcs)} paths")
        try:
            return prepare(srcs)
        except errors.Interrupted:
            raise
        except errors.KitError:
            pass  # each file's own check reports it, in its own record

    def _trees(self, batch, decided, hb):
        """A directory line stands for the regular files below it: one listing per tree
        (listing.expand), their authz in one more batch."""
        from . import listing

        def is_dir(i):
            st = getattr((decided or {}).get(i.src), "stat", None)
            return i.error is None and getattr(st, "is_dir", False) and (not i.dest or i.dest.endswith("/"))

        if not any(is_dir(i) for i in batch):
            return batch
        out = []
        for i in batch:
            if is_dir(i):
                hb.set(f"listing {i.src}")
                out += [Item(i.lineno, s, d) for s, d in listing.expand([(i.src, i.dest)])]
            else:
                out.append(i)
        self._prepare(out, hb)
        return out

    def _start(self, item):
        """-> the item's slot (`.done`, `.record`)."""
        if item.error is not None:
            return _Done(bad_line_record(item))
        dest = item.dest or self._dest_under_root(item.src)
        start = getattr(self.transfer, "start", None)
        try:
            # Transfer skips a file whose fingerprint is already at DEST, and turns a
            # lost conditional create (a concurrent attempt won) into a skip.
            if start is None:
                return _Done(self.transfer.one(item.src, dest, force=self.force))
            return start(item.src, dest, force=self.force)
        except errors.Interrupted:
            raise
        except Exception as e:  # noqa: BLE001 - one file's crash must not stop the task
            return _Done(crashed_record(item, e))

    def _drain(self, slots, stopping=False):
        """Emit the finished files at the front, in input order. When stopping, every finished
        one (a file still completing after the stop has no final record to give)."""
        while slots and slots[0].done:
            self._emit(slots.popleft().record)
        if stopping:
            for s in slots:
                if s.done:
                    self._emit(s.record)
            slots.clear()

    def _call(self, name, *args):
        fn = getattr(self.transfer, name, None)
        if fn is not None:
            fn(*args)

    def _dest_under_root(self, src):
        if not self.dest_root:
            return None
        from . import transfer

        try:
            bucket, key = transfer.dest_for(src, None, bucket=self.dest_root[0], prefix=self.dest_root[1])
        except errors.KitError:
            return None  # the transfer reports the unusable source in the file's record
        return f"s3://{bucket}/{key}"

    def _emit(self, rec):
        self.done += 1
        self.out.write(tsv_line(rec) + "\n")
        self.out.flush()
        name = counter_name(rec)
        self.counts[name] = self.counts.get(name, 0) + 1
        self.reporter.counter(name, 1)
        if rec.get("status") == "ok":
            for counter, n in (("bytes", source_bytes(rec)), ("bytes_uploaded", rec.get("bytes"))):
                if n:
                    self.counts[counter] += n
                    self.reporter.counter(counter, n)
        if status.is_failure(rec):
            err = _one_line(rec.get("error"))
            where = "" if str(rec.get("src")) in err else f"{rec.get('src')}: "
            self.reporter.log(f"{rec.get('status')}: {where}{err}")
            if not self.first_failure_code:
                self.first_failure_code = rec.get("exit_code") or 1
        if self.manifest is not None:
            self.manifest.add(rec)

    def _close_manifest(self):
        if self.manifest is None:
            return None
        try:
            self.manifest.close()
            return None
        except errors.KitError as e:
            return e


class _Done:
    """The slot of a file whose record was final at once."""

    done = True

    def __init__(self, record):
        self.record = record


def task_identity(env=None):
    """(task_id, attempt_id) from Hadoop Streaming's environment (job conf keys
    with dots as underscores), else a unique local name."""
    env = os.environ if env is None else env
    attempt = env.get("mapreduce_task_attempt_id") or env.get("mapred_task_id")
    task = env.get("mapreduce_task_id") or env.get("mapred_tip_id")
    if attempt:
        return task or attempt.rsplit("_", 1)[0], attempt
    import socket
    import uuid

    local = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    return env.get("HDFS2S3_TASK_ID") or "local", local
