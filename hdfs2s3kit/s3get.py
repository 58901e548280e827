"""Concurrent ranged download of one object, delivered in order, checksum checked at EOF.

Ranges are fetched by worker threads into at most `concurrency + 1` reused,
page-aligned buffers; the reader hands them out in order. Every range is
pinned to the ETag seen at the start (If-Match), so an object replaced
mid-download is an error, not a splice of two versions. When the object has a
full-object CRC, each range's CRC is computed in its worker and combined in
order, so verifying costs no second pass over the data. A COMPOSITE checksum
(other uploaders' multipart objects) is checked the same way, per part, when
the first and last part sizes show uniform parts.
"""

import mmap
import threading
import time
from collections import deque

from . import aws, checksums, errors, status
from . import progress as progress_mod

MiB = 1 << 20
DEFAULT_CHUNK = 8 * MiB
DEFAULT_CONCURRENCY = 4
RANGE_RETRIES = 4
RETRY_BASE_DELAY = 0.5
_ALGOS = ("CRC64NVME", "CRC32C", "CRC32", "SHA256", "SHA1")


class _Slot:
    __slots__ = ("start", "length", "buf", "n", "crc", "error", "done")

    def __init__(self, start, length, buf):
        self.start, self.length, self.buf = start, length, buf
        self.n, self.crc, self.error = 0, None, None
        self.done = threading.Event()


class ObjectReader:
    """File-like `readinto/read` over an S3 object; also `chunks()` for zero-copy consumers.

    At EOF the checksum is compared (DataError, status checksum_mismatch);
    `.info` describes the object and whether its checksum was verified.
    """

    def __init__(self, s3, bucket, key, *, concurrency=None, chunk_size=None, version_id=None):
        self.s3, self.bucket, self.key = s3, bucket, key
        self.url = aws.s3_url(bucket, key)
        self.concurrency = max(1, int(concurrency or DEFAULT_CONCURRENCY))
        self.chunk = int(chunk_size or DEFAULT_CHUNK)
        kw = {"ChecksumMode": "ENABLED"}
        if version_id:
            kw["VersionId"] = version_id
        try:
            head = s3.head_object(Bucket=bucket, Key=key, **kw)
        except Exception as e:  # noqa: BLE001
            raise _missing_what(s3, bucket, key, e) or aws.as_kit_error(e, f"HeadObject {self.url}") from None
        self.size = int(head["ContentLength"])
        self.etag = head.get("ETag")
        self.version_id = head.get("VersionId") if head.get("VersionId") not in (None, "null") else None
        self.info = {"bucket": bucket, "key": key, "bytes": self.size, "etag": (self.etag or "").strip('"'),
                     "version_id": self.version_id, "checksum_algorithm": None, "checksum": None,
                     "checksum_type": head.get("ChecksumType"), "checksum_verified": False}
        self._algo = self._hasher = None
        self._expected = None
        self._part_size = None          # COMPOSITE: part boundaries the checksum is over
        for name in _ALGOS:
            value = head.get("Checksum" + name)
            if not value:
                continue
            self.info.update(checksum_algorithm=name, checksum=value)
            ctype = head.get("ChecksumType")
            multipart = "-" in (self.etag or "")
            composite = "-" in value or ctype == "COMPOSITE"
            if composite:
                self.info["checksum_type"] = "COMPOSITE"
            # Some servers omit the type on HEAD: a multipart object's value may be either.
            self._either = multipart and not composite and ctype is None
            if name in ("SHA256", "SHA1"):
                if composite:
                    self.info["checksum_note"] = f"composite {name}: not verified on download"
                else:
                    import hashlib

                    self._hasher = hashlib.new(name.lower())
                    self._expected = value
            else:
                try:
                    self._algo = checksums.get(name)
                except errors.UsageError:
                    self.info["checksum_note"] = f"{name} needs awscrt: not verified"
                    break
                self._expected = value
                if composite or self._either:
                    count = value if "-" in value else self.etag.strip('"')
                    self._part_size = self._uniform_part_size(count, version_id)
                    if self._part_size is None and self._either:
                        pass    # treat it as FULL_OBJECT, the only other possibility
                    elif self._part_size is None:
                        self._algo = self._expected = None
                        self.info["checksum_note"] = "composite checksum over unequal parts: not verified"
            break
        self._crc = None                # running CRC of the current part
        self._full = None               # running CRC of everything delivered
        self._part_crcs = []
        self._next_start = 0
        self._pending = deque()
        self._free = []
        self._nbufs = 0
        self._jobs = deque()
        self._cv = threading.Condition()
        self._closed = False
        self._cur = None            # (slot, memoryview, offset)
        self._delivered = 0
        self._eof = False
        self._workers = [threading.Thread(target=self._worker, daemon=True, name=f"s3get-{i}")
                         for i in range(self.concurrency)]
        for t in self._workers:
            t.start()
        self._schedule()

    def _uniform_part_size(self, value, version_id):
        """Part size of a COMPOSITE object, when its parts look uniform (all but the last).

        `value` is anything ending in -N, the part count (the checksum or the ETag).
        A composite checksum is over the parts' checksums, so the part boundaries
        are needed; HeadObject with PartNumber gives the first and last part's size.
        """
        try:
            count = int(value.rsplit("-", 1)[1].strip('"'))
        except (IndexError, ValueError):
            return None
        if count == 1:
            return max(self.size, 1)
        kw = {"VersionId": version_id} if version_id else {}
        try:
            first = self.s3.head_object(Bucket=self.bucket, Key=self.key, PartNumber=1, **kw)["ContentLength"]
            last = self.s3.head_object(Bucket=self.bucket, Key=self.key, PartNumber=count, **kw)["ContentLength"]
        except Exception:  # noqa: BLE001 - no part information: the checksum just goes unverified
            return None
        if first <= 0 or last > first or (count - 1) * first + last != self.size:
            return None
        return first

    # -- workers ---------------------------------------------------------
    def _schedule(self):
        """Queue ranges while fewer than concurrency + 1 buffers are out."""
        with self._cv:
            while self._next_start < self.size and len(self._pending) < self.concurrency + 1:
                length = min(self.chunk, self.size - self._next_start)
                buf = self._free.pop() if self._free else mmap.mmap(-1, self.chunk)
                slot = _Slot(self._next_start, length, buf)
                self._next_start += length
                self._pending.append(slot)
                self._jobs.append(slot)
                self._cv.notify()

    def _worker(self):
        while True:
            with self._cv:
                while not self._jobs and not self._closed:
                    self._cv.wait()
                if self._closed:
                    return
                slot = self._jobs.popleft()
            try:
                self._fetch(slot)
            except BaseException as e:  # noqa: BLE001 - handed to the reader
                slot.error = e
            slot.done.set()

    def _piece_crcs(self, start, mv):
        """CRCs of the chunk split at part boundaries: [(length, crc, ends_a_part)]."""
        ps = self._part_size
        out, off, n = [], 0, len(mv)
        while off < n:
            if ps is None:
                step = n - off
            else:
                step = min(n - off, ps - (start + off) % ps)
            end = start + off + step
            ends = end == self.size or (ps is not None and end % ps == 0)
            out.append((step, self._algo.compute(mv[off : off + step]), ends))
            off += step
        return out

    def _fetch(self, slot):
        rng = f"bytes={slot.start}-{slot.start + slot.length - 1}"
        kw = {"Range": rng}
        if self.etag:
            kw["IfMatch"] = self.etag
        if self.version_id:
            kw["VersionId"] = self.version_id
        delay = RETRY_BASE_DELAY
        for attempt in range(RANGE_RETRIES + 1):
            mv = memoryview(slot.buf)[: slot.length]
            body = None
            try:
                body = self.s3.get_object(Bucket=self.bucket, Key=self.key, **kw)["Body"]
                n = 0
                while n < slot.length:
                    got = body.readinto(mv[n:])
                    if not got:
                        break
                    n += got
                body.close()
                if n != slot.length:
                    raise errors.UnavailableError(f"GetObject {self.url} {rng}: short body ({n} bytes)")
                slot.n = n
                if self._algo is not None:
                    slot.crc = self._piece_crcs(slot.start, mv)
                return
            except Exception as e:  # noqa: BLE001 - retried or raised below
                if aws.error_code(e) in ("PreconditionFailed", "412"):
                    raise errors.DataError(f"{self.url} changed during the download (ETag no longer "
                                           f"{self.etag})", status="changed") from None
                err = aws.as_kit_error(e, f"GetObject {self.url} {rng}")
                if attempt == RANGE_RETRIES or self._closed or err.code not in (errors.TEMPFAIL,
                                                                                errors.UNAVAILABLE):
                    raise err from None
                time.sleep(delay)
                delay *= 2
            finally:
                if body is not None:
                    body.close()    # after a failure mid-body too: its connection is not reused
                mv.release()

    # -- consuming, in order ---------------------------------------------
    def _next_slot(self):
        with self._cv:
            if not self._pending:
                return None
            slot = self._pending[0]
        while not slot.done.wait(0.2):   # a timeout keeps the main thread responsive to signals
            pass
        with self._cv:
            self._pending.popleft()
        if slot.error is not None:
            self.close()
            raise slot.error
        if self._algo is not None:
            for length, crc, ends in slot.crc:
                self._crc = crc if self._crc is None else self._algo.combine(self._crc, crc, length)
                self._full = crc if self._full is None else self._algo.combine(self._full, crc, length)
                if ends and self._part_size is not None:
                    self._part_crcs.append(self._crc)
                    self._crc = None
        elif self._hasher is not None:
            self._hasher.update(memoryview(slot.buf)[: slot.n])
        return slot

    def _recycle(self, slot):
        with self._cv:
            self._free.append(slot.buf)
        self._schedule()

    def chunks(self):
        """Yield memoryviews of the object in order (each valid until the next is requested)."""
        while True:
            slot = self._next_slot()
            if slot is None:
                break
            mv = memoryview(slot.buf)[: slot.n]
            try:
                yield mv
            finally:
                mv.release()
                self._delivered += slot.n
                self._recycle(slot)
        self._finish()

    def readinto(self, b):
        out = memoryview(b).cast("B")
        if self._eof or not len(out):
            return 0
        if self._cur is None:
            slot = self._next_slot()
            if slot is None:
                self._finish()
                return 0
            self._cur = [slot, 0]
        slot, off = self._cur
        k = min(len(out), slot.n - off)
        out[:k] = memoryview(slot.buf)[off : off + k]
        off += k
        self._delivered += k
        if off == slot.n:
            self._cur = None
            self._recycle(slot)
        else:
            self._cur[1] = off
        return k

    def read(self, n=-1):
        if n is None or n < 0:
            parts = []
            while True:
                b = self.read(self.chunk)
                if not b:
                    return b"".join(parts)
                parts.append(b)
        buf = bytearray(n)
        k = self.readinto(buf)
        del buf[k:]
        return bytes(buf)

    def _finish(self):
        if self._eof:
            return
        self._eof = True
        self.close()
        if self._delivered != self.size:
            raise errors.KitIOError(f"{self.url}: got {self._delivered} of {self.size} bytes")
        if self._expected is None:
            return
        if self._algo is not None:
            full = self._algo.b64(self._algo.compute(b"") if self._full is None else self._full)
            composite = self._algo.composite_b64(self._part_crcs) if self._part_size is not None else None
            if "-" not in self._expected and composite is not None:
                composite = composite.rsplit("-", 1)[0]
            if self.info["checksum_type"] == "COMPOSITE":
                local = composite
            elif self._either and self._expected == composite:
                local = composite
                self.info["checksum_type"] = "COMPOSITE"
            else:
                local = full
        else:
            import base64

            local = base64.b64encode(self._hasher.digest()).decode()
        if local != self._expected:
            how = (f" (composite over parts of {self._part_size} bytes)" if self._part_size is not None else "")
            raise errors.DataError(f"{self.url}: {self.info['checksum_algorithm']} of the downloaded bytes "
                                   f"{local} != the object's {self._expected}{how}", status="checksum_mismatch")
        self.info["checksum_verified"] = True

    def close(self):
        with self._cv:
            self._closed = True
            self._cv.notify_all()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False


def _missing_what(s3, bucket, key, exc):
    """HeadObject's bare 404 says neither which is missing: ask about the bucket."""
    if aws.error_code(exc) not in ("404", "NoSuchKey", "NotFound", "NoSuchBucket"):
        return None
    try:
        s3.head_bucket(Bucket=bucket)
    except Exception as e:  # noqa: BLE001
        if aws.error_code(e) in ("404", "NoSuchBucket", "NotFound"):
            return errors.NoInputError(f"no such bucket: {bucket}")
        return None
    return errors.NoInputError(f"no such object: {aws.s3_url(bucket, key)} (the bucket exists)")


def open_object(s3, bucket, key, *, concurrency=None, chunk_size=None, version_id=None):
    return ObjectReader(s3, bucket, key, concurrency=concurrency, chunk_size=chunk_size, version_id=version_id)


def download(s3, bucket, key, dst, *, concurrency=None, chunk_size=None, version_id=None, progress=False,
             record=None, bwlimit=None):
    """Write the object to dst (anything with write()); returns the finished status record.

    On failure raises KitError with `.record` set. Bytes already written stay
    written (a pipe cannot take them back): consumers must honour the exit code.
    """
    rec = record if record is not None else status.new_record("s3-get-sts")
    rec.update(bucket=bucket, key=key)
    reader = meter = None
    try:
        reader = open_object(s3, bucket, key, concurrency=concurrency, chunk_size=chunk_size,
                             version_id=version_id)
        rec.update(version_id=reader.version_id, etag=reader.info["etag"])
        meter = progress_mod.Meter(aws.s3_url(bucket, key), reader.size, enabled=progress)
        done = 0
        for mv in reader.chunks():
            if bwlimit is not None:
                bwlimit.take(len(mv))
            dst.write(mv)
            done += len(mv)
            meter.update(done)
        meter.finish()
        flush = getattr(dst, "flush", None)
        if flush:
            flush()
        info = dict(reader.info)
        info.pop("checksum_note", None)
        rec.update(info)
        status.finish(rec, "ok", 0)
        return rec
    except BaseException as exc:  # noqa: BLE001
        from .s3put import as_failure

        if meter is not None:
            meter.close()
        err = as_failure(exc, aws.s3_url(bucket, key), "downloading")
        if reader is not None:
            reader.close()
            rec.update(bytes=reader._delivered, checksum_algorithm=reader.info["checksum_algorithm"])
        status.finish(rec, err.status, err.code, err.message)
        err.record = rec
        if isinstance(exc, errors.KitBase):
            raise
        raise err from None
