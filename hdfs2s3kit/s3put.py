"""Bounded, gated, checksummed streaming upload to S3.

A stream of unknown length goes up as a multipart upload that is completed
only when the input proved whole: a framed (fernet-encrypt) stream must end
exactly after its final frame, a raw one must match --expected-size when
given. Anything else -- an error, a signal, a short read -- aborts the upload,
so no partial object and no orphaned parts are left behind.

Memory is bounded: at most `concurrency + 1` part buffers exist (one being
filled, the rest in flight), fewer once they pass BUFFER_CAP, and a single one
when even two parts would pass it (buffer_limit): then a part is read, sent
and acknowledged (retries from that same buffer) before the next is read, so
the reader waits while a part is on the wire -- slower, but the bound is one
part. The buffers are page-aligned anonymous maps, allocated once and reused,
because fresh multi-MiB allocations cost page faults and unaligned buffers
make pipe reads slower.
"""

import base64
import hashlib
import mmap
import os
import queue
import signal
import sys
import threading
import time

from . import aws, bwlimit, checksums, errors, fastio, framing, objmeta, s3create, s3readback, signals, sizes, status
from . import progress as progress_mod

MiB = 1 << 20
GiB = 1 << 30
MIN_PART = 5 * MiB                 # S3 minimum for every part but the last
MAX_PART = 5 * GiB                 # S3 maximum part size
MAX_PARTS = 10_000
DEFAULT_PART_SIZE = 8 * MiB
DEFAULT_CONCURRENCY = 6
# Unknown length: the part size doubles whenever the bytes already read reach
# GROWTH_PARTS parts of the current size (8 MiB up to 8 GiB, 16 MiB up to
# 16 GiB, ...), so a stream never runs out of parts before ~25 TiB.
GROWTH_PARTS = 1024
# Above this much buffer memory, fewer parts go up at once (big parts still
# saturate a link with few streams). Two buffers (one being filled while the
# other is sent and held for a retry) while two parts fit in the cap; past that
# ONE: the part is read, then sent (and retried from the same buffer), and only
# then is the next part read -- the reader blocks meanwhile. Parts must be
# >= size/10,000 and a part has to be held until S3 acknowledged it, so one part
# is the least any uploader can hold. Peak RSS (bench/bench_memory.py, into a discarding stand-in):
#   peak = client + buffers x part + crc, where
#     client  = the process's own before any part: 21-22 MiB for s3-put-sts (interpreter, lean S3
#               client; 57-67 MiB with botocore, as transfer/the mapper may still use),
#     buffers x part = memory_plan's bound: <= BUFFER_CAP (48 MiB) while two parts fit in it (known
#               sizes up to 234 GiB, reading overlaps sending; measured 55/66/77 MiB peak at 1/16/128
#               GiB known, 71 MiB at 16 GiB unknown), the same with one part up to 48 MiB (468 GiB),
#               then 1 x ceil(size / 10,000) rounded up to a MiB,
#     crc     = ~1.3 MiB: awscrt's CRC code mapped (not its runtime: checksums._native_crcs).
#   In one-buffer mode nothing else is per part: the part goes out from the reading thread (no part
#   threads, whose malloc arenas, stacks and connections cost ~1 MiB), zero-copy (_Body), and S3's
#   flat answers are parsed without ElementTree. 1 TiB: 21.2 + 105 + 1.3 -> measured 127.2-127.8
#   MiB (was 133 MiB: awscrt's runtime initialised ~4.7 MiB, six idle part threads, ElementTree).
#   That is <= 128 MiB with well under 1 MiB to spare: anything the client adds at start-up
#   comes out of it. A map task's container must allow the bound for its largest file.
# HDFS2S3_TEST_BUFFER_CAP (bytes or a size such as 8MiB) replaces the cap, for
# tests and bench/bench_memory.py only (not a user option).
def _test_buffer_cap(default):
    text = os.environ.get("HDFS2S3_TEST_BUFFER_CAP")
    if not text:
        return default
    try:
        return max(1, sizes.parse_size(text, "HDFS2S3_TEST_BUFFER_CAP"))
    except errors.UsageError:
        return default


BUFFER_CAP = _test_buffer_cap(48 * MiB)
READ_CHUNK = 1 * MiB
PART_RETRIES = 4                   # on top of botocore's own retries
RETRY_BASE_DELAY = 0.5
LIFECYCLE_HINT = ("the bucket lifecycle rule AbortIncompleteMultipartUpload removes it, "
                  "or run `hdfs2s3kit cleanup s3://{bucket}/{key}`")


def choose_part_size(expected_size=None, part_size=None):
    """First part size: the requested one, or the smallest that fits expected_size in 10,000 parts."""
    if part_size is not None:
        if not MIN_PART <= part_size <= MAX_PART:
            raise errors.UsageError(f"part size {part_size} outside S3's {MIN_PART}..{MAX_PART} bytes")
    if expected_size is not None:
        if expected_size < 0:
            raise errors.UsageError("expected size must not be negative")
        if expected_size > MAX_PARTS * MAX_PART:
            raise errors.UsageError(f"expected size {expected_size} exceeds S3's maximum object size")
        need = -(-expected_size // MAX_PARTS)
        need = -(-need // MiB) * MiB
        base = max(part_size or DEFAULT_PART_SIZE, need)
        return min(base, MAX_PART)
    return part_size or DEFAULT_PART_SIZE


def next_part_size(current, bytes_so_far, *, grow=True):
    """The schedule for a stream of unknown length (see GROWTH_PARTS)."""
    size = current
    if grow:
        while size < MAX_PART and bytes_so_far >= GROWTH_PARTS * size:
            size *= 2
    return min(size, MAX_PART)


def buffer_limit(part_size, concurrency):
    """How many part buffers may exist: concurrency + 1, fewer once they pass BUFFER_CAP, and
    one when even two parts would pass it (reading then waits while that part is sent)."""
    return max(1, min(concurrency + 1, BUFFER_CAP // part_size))


def memory_plan(expected_size, concurrency=DEFAULT_CONCURRENCY, *, stream_bytes=None, part_size=None):
    """(part size, buffers) at the end of a stream, and the bytes of part buffers it may hold at
    most on the way (the stated bound).

    Peak RSS = the client's own (interpreter, boto3: see bench/bench_memory.py) + this. Parts must
    be >= size/10,000 (S3's part limit) and a part is held until S3 acknowledged it (to retry it),
    so the bound is buffers x part size with buffers = max(1, min(concurrency + 1, BUFFER_CAP //
    part)): <= BUFFER_CAP while one part fits in it, 1 x ceil(size / 10,000) (rounded up to a
    MiB) beyond. With two or more buffers reading overlaps sending; with one (2 x part >
    BUFFER_CAP: known sizes past 234 GiB with the 48 MiB cap) the reader waits while each part
    is sent and acknowledged -- the price of holding a single part."""
    conc = max(1, int(concurrency or DEFAULT_CONCURRENCY))
    size = choose_part_size(expected_size, part_size)
    peak = buffer_limit(size, conc) * size
    if expected_size is None and part_size is None and stream_bytes:
        # the schedule's parts grow: the bound is the largest of its phases (with one buffer from
        # 32 MiB parts on, the 3 x 16 MiB before them can be more than the last phase holds)
        total = 0
        while total < stream_bytes:
            size = next_part_size(size, total)
            peak = max(peak, buffer_limit(size, conc) * size)
            total += size
    bufs = buffer_limit(size, conc)
    return size, bufs, peak


def schedule_capacity(base=DEFAULT_PART_SIZE):
    """Bytes a stream of unknown length can carry within 10,000 parts (for docs/tests)."""
    total, size = 0, base
    for _ in range(MAX_PARTS):
        size = next_part_size(size, total)
        total += size
    return total


class _Body:
    """A zero-copy request body over part of a buffer.

    http.client/urllib3 call read(blocksize) in a loop; returning the whole
    remaining view at once sends a part with one sendall() instead of
    hundreds. seek/tell let botocore rewind it for a retry. Under --bwlimit
    it hands out slices, each paid for in the shared limiter first.
    """

    __slots__ = ("_mv", "_pos", "_limit")

    def __init__(self, mv, limit=None):
        self._mv = mv
        self._pos = 0
        self._limit = limit

    def __len__(self):
        return len(self._mv) - self._pos

    def read(self, n=-1):
        end = len(self._mv)
        if self._limit is not None:
            end = min(end, self._pos + bwlimit.SLICE)
            self._limit.take(end - self._pos)
        mv = self._mv[self._pos:end]
        self._pos = end
        return mv

    def seek(self, pos, whence=0):
        self._pos = pos if whence == 0 else (self._pos + pos if whence == 1 else len(self._mv) + pos)
        return self._pos

    def tell(self):
        return self._pos


class _BufferPool:
    """At most `limit` page-aligned buffers; smaller ones are dropped when parts grow."""

    def __init__(self, limit):
        self.limit = limit
        self._free = []
        self._count = 0
        self._cv = threading.Condition()

    def acquire(self, size, limit, failed):
        with self._cv:
            self.limit = limit
            while True:
                if failed():
                    return None
                while self._free:
                    buf = self._free.pop()
                    if len(buf) >= size:
                        return buf
                    self._count -= 1
                    try:
                        buf.close()
                    except BufferError:
                        pass    # a view still referenced: the GC frees it later
                if self._count < self.limit:
                    self._count += 1
                    return mmap.mmap(-1, size)
                # a timeout keeps the main thread responsive to signals
                self._cv.wait(0.2)

    def release(self, buf):
        with self._cv:
            self._free.append(buf)
            self._cv.notify()

    def wake(self):
        with self._cv:
            self._cv.notify_all()

    def close(self):
        with self._cv:
            for b in self._free:
                try:
                    b.close()
                except BufferError:
                    pass    # a view still referenced (e.g. by a traceback): the GC frees it later
            self._free.clear()


class _Source:
    """readinto() over anything with readinto() or read()."""

    def __init__(self, src):
        self._readinto = getattr(src, "readinto", None)
        self._read = getattr(src, "read", None)
        if self._readinto is None and self._read is None:
            raise TypeError("upload source needs readinto() or read()")

    def readinto(self, mv):
        if self._readinto is not None:
            n = self._readinto(mv)
            return 0 if n is None else n
        data = self._read(len(mv))
        n = len(data)
        mv[:n] = data
        return n


class _Uploader:
    """One upload: the calling thread reads and gates, worker threads checksum and send parts
    (in one-buffer mode the calling thread sends too: _dispatch)."""

    def __init__(self, src, bucket, key, *, s3, framed, expected_size, part_size, concurrency,
                 checksum_algorithm, overwrite, metadata, progress, record, precheck=True, bwlimit=None,
                 extra=None):
        self.src = _Source(src)
        self.bucket, self.key, self.s3 = bucket, key, s3
        self.url = aws.s3_url(bucket, key)
        self.framed = framed
        self.expected = expected_size
        self.part_size = choose_part_size(expected_size, part_size)
        self.grow = expected_size is None and part_size is None
        self.concurrency = max(1, int(concurrency or DEFAULT_CONCURRENCY))
        self.algo = checksums.get(checksum_algorithm)
        self.overwrite = overwrite
        # With --overwrite a bad result must never replace the good object: every upload goes
        # multipart and each part's ETag (the MD5 of what S3 received) is checked before Complete.
        self.part_md5 = bool(overwrite)
        self.precheck = precheck and not overwrite
        self.metadata = dict(metadata or {})
        # a meter passed in (transfer's, counting source bytes) or our own
        self.progress = progress if hasattr(progress, "phase") else progress_mod.Meter(
            self.url, expected_size, enabled=progress)
        self.bwlimit = bwlimit
        self.extra = dict(extra or {})     # StorageClass, Tagging, ServerSideEncryption, SSEKMSKeyId
        self.rec = record
        self.gate = None
        self.head = b""
        self.md5_hex = None        # single PUT only
        self.completing = False    # CompleteMultipartUpload sent: an abort may come too late
        self.put_in_flight = False # PutObject sent, answer not seen: S3 may have stored it
        self._single_crc = None
        self.aborted = False       # our multipart upload was aborted (nothing of it left)
        self.written = None        # s3readback.Written once S3 accepted our PUT/Complete
        self.created = False       # our object exists whole at the key
        self.notes = []            # what happened besides the outcome (lost responses, ...)
        self.completeness = None   # how the input was proven whole (docs/STATUS.md)
        self.total = 0
        self.sent = 0              # bytes of parts S3 acknowledged (progress)
        self.upload_id = None
        self.parts = {}            # part number -> (etag, crc, size)
        self.part_sizes = []
        self.jobs = queue.Queue()
        self.error = None          # first worker failure
        self.cancelled = threading.Event()
        self.lock = threading.Lock()
        self.workers = []
        self.pool = _BufferPool(self.concurrency + 1)

    # -- reading ---------------------------------------------------------
    def _fill(self, buf, want):
        """Read up to `want` bytes into buf; returns (n, eof). Feeds the gate."""
        mv = memoryview(buf)
        n = 0
        try:
            while n < want:
                got = self.src.readinto(mv[n : min(want, n + READ_CHUNK)])
                if not got:
                    return n, True
                if self.total == 0 and n < len(framing.MAGIC):
                    self.head = bytes(mv[: min(n + got, len(framing.MAGIC))])
                    if self.framed is None and len(self.head) == len(framing.MAGIC):
                        self._detect(self.head)
                        if self.gate is not None and n:
                            self.gate.feed(mv[:n])    # bytes read before the magic was complete
                if self.gate is not None:
                    self.gate.feed(mv[n : n + got])
                n += got
                if self.expected is not None and self.total + n > self.expected:
                    raise errors.DataError(
                        f"input is longer than the expected size of {self.expected} bytes")
                if self.error is not None:
                    raise self.error
            return n, False
        finally:
            mv.release()

    def _detect(self, first):
        self.framed = framing.looks_framed(first)
        if self.framed:
            self.gate = framing.FrameGate()

    def _check_end(self):
        """At EOF: is the input whole? Raises with status `truncated` when not."""
        if self.total == 0 and not self.framed and self.expected != 0:
            # An upstream that died before writing anything looks exactly like this.
            raise errors.NoInputError(
                f"empty input: not creating an empty {self.url} (pass --expected-size 0 to allow it)")
        if self.framed is None:          # ended before the magic could be seen
            if self.head and framing.MAGIC.startswith(self.head):
                raise errors.KitIOError("stream truncated inside the header", status="truncated")
            self.framed = False
        if self.gate is not None:
            try:
                self.gate.finish()
            except errors.DataError as e:
                raise errors.KitIOError(e.message, status="truncated") from None
        if self.expected is not None and self.total != self.expected:
            raise errors.KitIOError(
                f"input ended after {self.total} of the expected {self.expected} bytes", status="truncated")
        if self.expected is not None:
            self.completeness = "expected_size"
        elif self.gate is not None:
            self.completeness = "final_frame" if self.gate.header.length is None else "announced_length"
        else:
            self.completeness = "unproven"   # raw input, no --expected-size: EOF is all we know

    # -- parts -----------------------------------------------------------
    def _limit(self, size):
        return buffer_limit(size, self.concurrency)

    def _start_workers(self, n):
        for i in range(len(self.workers), n):
            t = threading.Thread(target=self._worker, name=f"s3put-part-{i}", daemon=True)
            t.start()
            self.workers.append(t)

    def _dispatch(self, number, buf, size, part_size):
        """Send a part: in this thread when it is the one buffer there may be (nothing else is in
        flight then: the pool gave it out only once every other buffer was back and dropped), else
        by the workers. With `limit` buffers at most limit - 1 parts are in flight (one is being
        filled), so no more workers are started than that. In one-buffer mode no part thread
        exists at all: each costs a glibc malloc arena, a stack and a connection of its own,
        ~1 MiB of RSS next to the one part at 1 TiB (issue 12)."""
        limit = self._limit(part_size)
        if limit == 1:
            try:
                if self.error is None:
                    self._send_part(number, buf, size)
            except Exception as e:  # noqa: BLE001 - the same error a worker would have reported
                raise self._part_error(number, e) from None
            finally:
                self.pool.release(buf)
            return
        self._start_workers(min(self.concurrency, limit - 1))
        self.jobs.put((number, buf, size))

    def _worker(self):
        while True:
            job = self.jobs.get()
            if job is None:
                return
            number, buf, size = job
            try:
                if not self.cancelled.is_set() and self.error is None:
                    self._send_part(number, buf, size)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                with self.lock:
                    if self.error is None:
                        self.error = self._part_error(number, e)
                self.pool.wake()
            finally:
                self.pool.release(buf)
                self.jobs.task_done()

    def _part_error(self, number, e):
        """A part's failure as the run reports it, from a worker or (one buffer) the reader."""
        return aws.as_kit_error(e, f"UploadPart {number} of {self.url}")

    def _send_part(self, number, buf, size):
        mv = memoryview(buf)[:size]
        try:
            crc = self.algo.compute(mv)
            b64 = self.algo.b64(crc)
            md5 = hashlib.md5(mv, usedforsecurity=False).hexdigest() if self.part_md5 else None
            delay = RETRY_BASE_DELAY
            for attempt in range(PART_RETRIES + 1):
                try:
                    resp = self.s3.upload_part(
                        Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number,
                        Body=_Body(mv, self.bwlimit), ContentLength=size, **{self.algo.param: b64})
                    if md5 is not None:
                        _check_part_etag(resp, md5, number, self.url)
                    break
                except Exception as e:  # noqa: BLE001 - retried or re-raised below
                    err = aws.as_kit_error(e, f"UploadPart {number} of {self.url}")
                    if (attempt == PART_RETRIES or self.cancelled.is_set()
                            or err.code not in (errors.TEMPFAIL, errors.UNAVAILABLE)):
                        raise
                    time.sleep(delay)
                    delay *= 2
            with self.lock:
                self.parts[number] = (resp["ETag"], crc, size)
                self.sent += size
            self.progress.update(self.sent, len(self.parts))     # bytes S3 has acknowledged
        finally:
            mv.release()

    # -- the whole upload -------------------------------------------------
    def run(self, defer=False):
        """Read, gate and send everything; then complete -> record. With `defer`, stop short
        of completing -> (commit, bytes held): `commit()` does the PutObject or
        CompleteMultipartUpload later (the upload is then read whole and every part is
        acknowledged; a single PutObject's body is copied out of the part buffers)."""
        if self.precheck:
            self._fail_fast_if_exists()
        size = self.part_size
        # With a small expected size, one spare byte in the buffer proves the input is not longer.
        first = self.pool.acquire(size if self.expected is None else min(size, self.expected + 1),
                                  self._limit(size), lambda: False)
        self._start_gate_if_forced()
        n, eof = self._fill(first, len(first))
        self.total = n
        if eof and (not self.part_md5 or n == 0):
            # Whole input fits in one part: one PutObject, no multipart state to clean.
            self._check_end()
            if defer:
                body = bytes(memoryview(first)[:n])
                self.pool.release(first)
                return (lambda: self._put_single(body, n)), n
            return self._put_single(first, n)
        return self._multipart(first, n, eof, defer)

    def _fail_fast_if_exists(self):
        """Refuse (73) before reading a byte when the key exists; the conditional
        PUT/Complete still guards the race. A role that may not read skips this."""
        try:
            self.s3.head_object(Bucket=self.bucket, Key=self.key)
        except Exception as e:  # noqa: BLE001 - only "it exists" stops us here
            if aws.error_code(e) not in ("404", "NoSuchKey", "NotFound"):
                err = aws.as_kit_error(e, f"HeadObject {self.url}")
                if err.code not in (errors.NOPERM,):
                    raise err from None
            return
        raise errors.ExistsError(f"{self.url} already exists (pass --overwrite to replace it)")

    def _start_gate_if_forced(self):
        if self.framed:
            self.gate = framing.FrameGate()

    def _length_fingerprint(self):
        """An encrypted stream whose header announces the source length: the object records it,
        so that `verify` checks the object against it (the frames were checked against it too)."""
        hdr = self.gate.header if self.gate is not None else None
        if hdr is None:
            return
        self.metadata.setdefault(objmeta.META_FORMAT, str(hdr.version))
        if hdr.length is not None:
            self.metadata.setdefault(objmeta.META_LENGTH, str(hdr.length))
            if self.rec is not None:
                self.rec["src_bytes"] = hdr.length

    def _put_single(self, buf, n):
        self._length_fingerprint()
        mv = memoryview(buf)[:n]
        try:
            crc = self.algo.compute(mv)
            # Content-MD5 too: S3 rejects a body that does not match it (BadDigest), and
            # the ETag of a plain single PUT is that MD5, which the read-back compares.
            md5 = hashlib.md5(mv, usedforsecurity=False).digest()
            kw = {self.algo.param: self.algo.b64(crc), "ChecksumAlgorithm": self.algo.name,
                  "ContentMD5": base64.b64encode(md5).decode()}
            if not self.overwrite:
                kw["IfNoneMatch"] = "*"
            if self.metadata:
                kw["Metadata"] = self.metadata
            kw.update(self.extra)
            self.md5_hex = md5.hex()
            self.part_sizes = [n]
            self._single_crc = crc
            self.put_in_flight = True
            try:
                resp = self.s3.put_object(Bucket=self.bucket, Key=self.key, Body=_Body(mv, self.bwlimit),
                                          ContentLength=n, **kw)
            except Exception as e:  # noqa: BLE001
                err = self._aws_error(e, "PutObject")
                # A lost response makes botocore retry, and the retry meets our own object.
                resp = self._own_after(err, crc)
            self.put_in_flight = False
        finally:
            mv.release()
        self.parts = {1: (resp.get("ETag"), crc, n)}
        return self._finish_ok(resp, crc, 1)

    def _written(self, crc, resp=None):
        resp = resp or {}
        return s3readback.Written(self.bucket, self.key, size=self.total, algo=self.algo,
                                  checksum=self.algo.b64(crc), md5_hex=self.md5_hex,
                                  etag=resp.get("ETag"), version_id=resp.get("VersionId"))

    def _own_after(self, err, crc):
        """After `err` from PUT/Complete: the head of our own object if S3 holds it
        anyway (its earlier answer was lost), else raise err."""
        if err.code in (errors.CANTCREAT, errors.NOINPUT, errors.UNAVAILABLE, errors.TEMPFAIL):
            head = s3readback.find_own(self.s3, self._written(crc))
            if head is not None:
                self.notes.append("a lost response was retried; the object found is ours (same size and checksum)")
                return head
        raise err

    def _aws_error(self, exc, action):
        code = aws.error_code(exc)
        if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            return errors.ExistsError(f"{self.url} already exists (pass --overwrite to replace it)")
        return aws.as_kit_error(exc, f"{action} {self.url}")

    def _multipart(self, first, n, eof=False, defer=False):
        if eof:
            self._check_end()      # whole input in the first buffer (--overwrite): no upload if short
        self._length_fingerprint()
        kw = {"ChecksumAlgorithm": self.algo.name, "ChecksumType": "FULL_OBJECT"}
        if self.metadata:
            kw["Metadata"] = self.metadata
        kw.update(self.extra)
        # A signal while the request is out would lose the upload ID of an upload S3 made.
        with signals.Deferred():
            self.upload_id = s3create.create(self.s3, self.bucket, self.key, self.notes,
                                             lambda e: self._aws_error(e, "CreateMultipartUpload"), **kw)
            if self.rec is not None:
                self.rec["upload_id"] = self.upload_id
        size = self.part_size
        number = 1
        buf, got = first, n
        while True:
            self._dispatch(number, buf, got, size)
            if not self.part_sizes or self.part_sizes[-1] != got:
                self.part_sizes.append(got)
            if eof:
                break
            size = next_part_size(size, self.total, grow=self.grow)
            buf = self.pool.acquire(size, self._limit(size), lambda: self.error is not None)
            if buf is None:
                raise self.error
            got, eof = self._fill(buf, size)
            if got == 0 and eof:
                self.pool.release(buf)
                break
            number += 1
            if number > MAX_PARTS:
                raise errors.KitIOError(
                    f"input exceeds {MAX_PARTS} parts; pass --expected-size so the part size fits",
                    status="failed")
            self.total += got
        if self.completeness is None:
            self._check_end()
        self.progress.phase("uploading")
        self._wait_parts()
        if defer:
            return (lambda: self._complete(number)), 0
        self.progress.phase("completing")
        return self._complete(number)

    def _wait_parts(self):
        while True:
            if self.error is not None:
                raise self.error
            if self.jobs.unfinished_tasks == 0:
                break
            time.sleep(0.01)
        if self.error is not None:
            raise self.error

    def _complete(self, count):
        if len(self.parts) != count:
            raise errors.KitError(f"internal error: {len(self.parts)} of {count} parts uploaded")
        crc, plist = 0, []
        for i in range(1, count + 1):
            etag, pcrc, psize = self.parts[i]
            crc = self.algo.combine(crc, pcrc, psize) if i > 1 else pcrc
            plist.append({"PartNumber": i, "ETag": etag, self.algo.param: self.algo.b64(pcrc)})
        kw = {self.algo.param: self.algo.b64(crc), "ChecksumType": "FULL_OBJECT",
              "MpuObjectSize": self.total}
        if not self.overwrite:
            kw["IfNoneMatch"] = "*"
        self.completing = True
        # Its outcome decides what the record says: let it finish whatever signal comes.
        with signals.Deferred():
            try:
                resp = self.s3.complete_multipart_upload(
                    Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": plist}, **kw)
            except Exception as e:  # noqa: BLE001
                # A lost answer is retried by botocore: NoSuchUpload or If-None-Match then.
                resp = self._own_after(self._aws_error(e, "CompleteMultipartUpload"), crc)
            self.upload_id = None      # completed: nothing to abort any more
            self._created(resp, crc)
        return self._finish_ok(resp, crc, count)

    def _created(self, resp, crc):
        self.written = self._written(crc, resp)
        self.created = True

    def _finish_ok(self, resp, crc, count):
        if not self.created:
            self._created(resp, crc)
        rec = self.rec
        local = self.algo.b64(crc)
        rec.update(bytes=self.total, parts=count, part_sizes=list(self.part_sizes),
                   etag=(resp.get("ETag") or "").strip('"') or None, version_id=resp.get("VersionId"),
                   checksum_algorithm=self.algo.name, checksum_type="FULL_OBJECT", checksum=local,
                   framed=bool(self.framed), frames=self.gate.frames if self.gate else None,
                   completeness=self.completeness, object_exists=True, checksum_verified=False)
        self.progress.update(self.total, count)
        self.progress.phase("verifying")
        self._verify()
        return rec

    def _verify(self):
        """Read back size and checksum of *our* write (s3readback); the emulator accepts
        wrong checksums, so the client checks. Never deletes another writer's object."""
        w = self.written
        try:
            head = s3readback.read_back(self.s3, w)
        except s3readback.Replaced:
            self.created = False
            raise
        if head is None:
            # A write-only role: S3 itself rejected any part or whole object whose checksum
            # differed from the one we sent; only the client's second look is missing.
            self.notes.append("read-back denied (needs s3:GetObject): verified by S3 against the checksums "
                              "sent, not re-checked by the client")
            return
        what = s3readback.mismatch(head, w)
        if what is None:
            self.rec["checksum_verified"] = True
            return
        deleted, note = s3readback.delete_own(self.s3, w)
        if deleted:
            self.created = False
        raise errors.DataError(f"{self.url}: uploaded object does not match what was sent ({what}); {note}",
                               status="checksum_mismatch")

    # -- failure ----------------------------------------------------------
    def abort(self):
        """Stop workers, then AbortMultipartUpload (twice if a part raced the first abort)."""
        self.cancelled.set()
        try:
            while True:
                self.jobs.get_nowait()
                self.jobs.task_done()
        except queue.Empty:
            pass
        for _ in self.workers:
            self.jobs.put(None)
        self.pool.wake()
        if self.upload_id is None:
            return None
        note = self._abort_once()
        self.aborted = note is None
        deadline = time.monotonic() + 15
        for t in self.workers:
            t.join(max(0.0, deadline - time.monotonic()))
        if note is None:
            self._abort_once()     # a part in flight during the first abort may have landed
        return note

    def _abort_once(self):
        try:
            self.s3.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)
            return None
        except Exception as e:  # noqa: BLE001 - reported in the one-line error
            code = aws.error_code(e)
            if code in ("NoSuchUpload", "404"):
                if self.completing:
                    return (f"stopped while completing: {self.url} may have been created whole; "
                            "check it before retrying")
                return None
            hint = LIFECYCLE_HINT.format(bucket=self.bucket, key=self.key)
            if code in aws._DENIED:
                return f"abort of multipart upload {self.upload_id} was denied ({code}): {hint}"
            return (f"abort of multipart upload {self.upload_id} failed "
                    f"({code or type(e).__name__}): {hint}")

    def settle(self):
        """After a failure: did an interrupted PutObject store our object anyway?"""
        if self.put_in_flight and not self.created:
            w = self._written(self._single_crc) if self._single_crc is not None else None
            head = s3readback.find_own(self.s3, w, on_error=False) if w is not None else None
            if head is False:
                self.created = None        # could not look: it may exist
            elif head is not None:
                self.created, self.written = True, w
                self.rec.update(etag=(head.get("ETag") or "").strip('"') or None,
                                version_id=head.get("VersionId"), checksum_verified=True,
                                checksum=w.checksum)
                self.notes.append("S3 had stored the object whole before the stop")

    def object_exists(self):
        """True/False: our object is/is not at the key; None: unknown."""
        if self.created is None:
            return None
        return bool(self.created)

    def close(self):
        for _ in self.workers:
            self.jobs.put(None)
        self.pool.close()


class Pending:
    """An upload read whole and sent but not completed (upload(..., defer=True)): every part
    acknowledged and the multipart upload open, or a single PutObject's body held here
    (`held` bytes of memory). Exactly one of `commit()` / `abort(err)`, once."""

    def __init__(self, up, rec, commit, held):
        self._up, self._rec, self._commit = up, rec, commit
        self.held = held
        self.upload_id = up.upload_id
        self._state = None

    def _once(self, what):
        if self._state is not None:
            raise errors.KitError(f"internal error: {what} after {self._state}")
        self._state = what

    def commit(self):
        """PutObject or CompleteMultipartUpload, then the read-back -> the finished record. On
        failure it aborts, like upload(), and raises a KitError carrying the failure record."""
        self._once("commit")
        up, rec = self._up, self._rec
        try:
            up.progress.phase("completing")
            result = self._commit()
            _succeeded(up, rec)
            return result
        except BaseException as exc:  # noqa: BLE001 - every failure aborts, then is re-raised as KitError
            raise _failed(exc, up, rec, up.bucket, up.key) from None
        finally:
            self._commit = None       # the held body goes with it

    def abort(self, exc):
        """Abort the open multipart upload (a held body is just dropped) -> the KitError (or
        Interrupted) for `exc`, carrying the finished failure record; nothing of ours is left."""
        self._once("abort")
        self._commit = None
        up = self._up
        return _failed(exc, up, self._rec, up.bucket, up.key)


def upload(src, bucket, key, *, s3, framed=None, expected_size=None, part_size=None, concurrency=None,
           checksum_algorithm=None, overwrite=False, metadata=None, progress=False, record=None, precheck=True,
           bwlimit=None, extra=None, defer=False):
    """Upload everything `src` yields to s3://bucket/key; returns the finished status record.

    On any failure (including KeyboardInterrupt/Interrupted) the multipart
    upload is aborted first, then a KitError is raised whose `.record` is the
    finished failure record; that record says whether an object of ours exists
    (`object_exists`: a failure after S3 stored it whole, e.g. a signal during
    the read-back) and `aborted` is true only when nothing of ours is left.
    `precheck=False` skips the fail-fast HeadObject (the caller looked already).
    `defer=True` returns a Pending instead, once the input is proven whole and sent but
    before anything is completed: the caller commits it, or aborts it, later.
    """
    rec = record if record is not None else status.new_record("s3-put-sts")
    rec.update(bucket=bucket, key=key)
    rec.setdefault("upload_id", None)
    up = None
    try:
        up = _Uploader(src, bucket, key, s3=s3, framed=framed, expected_size=expected_size,
                       part_size=part_size, concurrency=concurrency, checksum_algorithm=checksum_algorithm,
                       overwrite=overwrite, metadata=metadata, progress=progress, record=rec, precheck=precheck,
                       bwlimit=bwlimit, extra=extra)
        rec["checksum_algorithm"] = up.algo.name
        result = up.run(defer=defer)
        if defer:
            return Pending(up, rec, *result)
        if up.progress is not progress:
            up.progress.finish()
        _succeeded(up, rec)
        return result
    except BaseException as exc:  # noqa: BLE001 - every failure aborts, then is re-raised as KitError
        raise _failed(exc, up, rec, bucket, key) from None
    finally:
        if up is not None:
            if up.progress is not progress:
                up.progress.close()      # erased if it did not finish: the error gets a line of its own
            up.close()                   # part threads and buffers: a Pending needs neither


def _succeeded(up, rec):
    """Finish the record of a completed upload (upload(), or a Pending's commit())."""
    rec["note"] = "; ".join(up.notes) or None
    status.finish(rec, "ok", 0)
    rec["aborted"] = False


def _failed(exc, up, rec, bucket, key):
    """Abort (a second signal only noted meanwhile), find out what exists, finish the record."""
    err = as_failure(exc, aws.s3_url(bucket, key))
    note = None
    with signals.CatchSignals(raise_now=False) as deferred:
        if up is not None:
            note = up.abort()
            up.settle()
    if deferred.signum and not isinstance(err, errors.Interrupted):
        err = errors.Interrupted(deferred.signum)
    message = err.message + (f"; {note}" if note else "")
    if up is not None:
        rec.update(bytes=up.total, parts=len(up.parts) or None, part_sizes=list(up.part_sizes) or None,
                   framed=up.framed, frames=up.gate.frames if up.gate else None, completeness=up.completeness,
                   note="; ".join(up.notes) or None)
        rec["object_exists"] = up.object_exists()
        if up.created and not isinstance(err, (errors.DataError, s3readback.Replaced)):
            how = "checksum verified" if rec.get("checksum_verified") else "not verified"
            message += f"; {up.url} was stored whole ({how})"
        elif up.created is None:
            message += f"; {up.url} may have been stored: check it before retrying"
    rec["aborted"] = bool(up is not None and up.aborted and rec.get("object_exists") is False)
    status.finish(rec, err.status, err.code, message)
    if isinstance(err, errors.Interrupted):
        final = errors.Interrupted(err.signum)
        final.message = message
        final.record = rec
        return final
    return errors.KitError(message, code=err.code, status=err.status, record=rec)


def _check_part_etag(resp, md5_hex, number, url):
    """A plain part's ETag is the MD5 of the bytes S3 received (not with SSE-KMS,
    where S3 checked our checksum header instead). A mismatch is retried."""
    if resp.get("ServerSideEncryption") in ("aws:kms", "aws:kms:dsse"):
        return
    etag = (resp.get("ETag") or "").strip('"')
    if etag != md5_hex:
        raise errors.TempFailError(f"UploadPart {number} of {url}: S3 received other bytes than were sent "
                                   f"(ETag {etag} != MD5 {md5_hex})")


def as_failure(exc, url, doing="uploading"):
    """Any exception from a transfer attempt as a KitError with the right code."""
    if isinstance(exc, errors.KitBase):
        return exc
    if isinstance(exc, KeyboardInterrupt):
        return errors.Interrupted(signal.SIGINT)
    if isinstance(exc, BrokenPipeError):
        return errors.KitIOError(f"broken pipe while {doing} {url}")
    if isinstance(exc, OSError):
        return errors.KitIOError(f"I/O error while {doing} {url}: {exc.strerror or exc}")
    return aws.as_kit_error(exc, f"{doing} {url}")


def recorded_failure(exc, rec, url, doing="uploading"):
    """exc as a KitError carrying a finished status record: the one the library
    finished, else `rec` finished here with the error."""
    err = as_failure(exc, url, doing)
    if err.record is None:
        status.finish(rec, err.status, err.code, err.message)
        err.record = rec
    return err


parse_size = sizes.parse_size     # re-exported: '8MiB' -> bytes (its own module, see sizes.py)


MAX_KEY_BYTES = 1024               # S3: object keys are at most 1,024 bytes of UTF-8
MAX_METADATA_BYTES = 2048          # S3: user metadata keys + values, UTF-8, at most 2 KB


def check_key(key):
    """S3's own limit on keys, checked before any byte is read (S3 says KeyTooLongError at the end)."""
    n = len(key.encode("utf-8", "surrogatepass"))
    if n > MAX_KEY_BYTES:
        raise errors.UsageError(f"object key is {n} bytes; S3 allows at most {MAX_KEY_BYTES} (UTF-8)")
    return key


def parse_metadata(pairs):
    """['k=v', ...] -> {k: v}; S3 user metadata keys are ASCII and case-insensitive,
    values printable ASCII (a CR/LF would split the HTTP header), 2 KB in all."""
    out = {}
    for p in pairs or ():
        k, sep, v = p.partition("=")
        k = k.strip()
        if (not sep or not k or not k.isascii() or not v.isascii() or any(c in k for c in " :\t\r\n")
                or not all(" " <= c <= "~" for c in k + v)):
            raise errors.UsageError(f"--metadata: expected K=V with printable ASCII key and value, got {p!r}")
        out[k.lower()] = v
    size = sum(len(k) + len(v) for k, v in out.items())
    if size > MAX_METADATA_BYTES:
        raise errors.UsageError(f"--metadata: {size} bytes of keys and values; S3 allows at most "
                                f"{MAX_METADATA_BYTES}")
    return out


def stdin_source():
    """Unbuffered stdin: readinto() straight into the part buffers, no extra copy."""
    raw = open(sys.stdin.fileno(), "rb", buffering=0, closefd=False)
    fastio.enlarge_pipe(raw.fileno())   # fewer, larger reads from the upstream process
    return raw
