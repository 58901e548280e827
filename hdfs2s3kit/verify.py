"""Prove that an object in S3 is exactly what the source held.

Download (concurrent ranged GETs, S3 checksum checked), decrypt in memory
(every frame authenticated; the final frame's length and xxh3-128 digest
checked by streamfmt), then compare with what the object's metadata says
it holds: the stream ID (an object swapped for another object's bytes
decrypts fine, but carries another stream's ID), the source length and the
key ID, and (for HDFS sources) the CRC HDFS gave for the source file
(hdfscrc: proof against HDFS without reading it again). `against=SRC` also re-reads the source and compares length and
digest. Plaintext never touches the disk: it is hashed and dropped.
"""

import urllib.parse

import xxhash

from . import errors, framing, hdfscrc, status
from .transfer import META_KEY_ID, META_LENGTH, META_SRC, META_STREAM_ID, check_src

TOOL = "verify"


class _Sink:
    """A write-only destination that keeps nothing."""

    def write(self, b):
        return len(b)


class _HeaderTap:
    """Passes a stream through while parsing its header (for the stream ID)."""

    def __init__(self, inner):
        from . import fastio

        self._readinto = fastio.reader_of(inner)
        self._gate = framing.FrameGate()
        self.header = None

    def readinto(self, mv):
        n = self._readinto(mv)
        if n and self.header is None:
            try:
                self._gate.feed(memoryview(mv)[:n])
            except errors.DataError:
                pass   # the decryptor reports a broken stream precisely
            self.header = self._gate.header
        return n

    def read(self, n=-1):
        buf = bytearray(n if n and n > 0 else 1 << 20)
        got = self.readinto(memoryview(buf))
        return bytes(buf[:got])


def _source_digest(src, setup, *, policy=None, allowed_groups=None):
    """(length, xxh3-128 hex) of the source as it is now; authz applies as for a transfer
    (the same site policy and config, decided on the bytes read: binding)."""
    from . import binding, paths, sitepolicy

    pol = sitepolicy.effective(config=setup.config if setup.config.prefix else None, flag_policy=policy,
                               allowed_groups=allowed_groups)
    src = paths.absolute(src)
    h = xxhash.xxh3_128()
    buf = bytearray(1 << 20)
    mv = memoryview(buf)
    try:
        r = binding.open_authorized(src, setup.identity, pol, hadoop_cmd=setup.hadoop_cmd)
    except errors.KitError as e:
        if getattr(e, "decision", None) is None:
            raise
        raise errors.KitError(f"--against {e.message}", code=e.code, status=e.status) from None
    with r:
        while True:
            n = r.readinto(mv)
            if not n:
                break
            h.update(mv[:n])
    return r.stat.length, h.hexdigest()


def verify(url, setup, *, against=None, threads=None, policy=None, allowed_groups=None):
    """-> status record (`ok`, or `bad_data` with the mismatch named). Raises
    only for set-up failures (config, credentials); every finding is a record."""
    from . import aws, s3get, streamfmt

    bucket, key = aws.parse_s3_url(url, need_key=False)
    if not key or key.endswith("/"):
        raise errors.UsageError(f"{url}: names a bucket or prefix, not an object")
    rec = status.new_record(TOOL, bucket=bucket, key=key, src=against, stream_id=None, src_bytes=None)
    if against is not None:
        check_src(against)
    try:
        s3 = setup.s3
        rec.update(role_arn=setup.role_arn if setup.assume_role else None, session_name=setup.session_name)
        head = aws.head_or_none(s3, bucket, key)
        if head is None:
            raise errors.NoInputError(f"s3://{bucket}/{key}: no such object")
        meta = head.get("Metadata") or {}
        rec.update(bytes=head.get("ContentLength"), etag=(head.get("ETag") or "").strip('"') or None,
                   version_id=head.get("VersionId"))
        reader = s3get.open_object(s3, bucket, key)
        tap = _HeaderTap(reader)
        hdfs_crc = hdfscrc.parse_meta(meta.get(hdfscrc.META_HDFS_CRC))   # HDFS's value, from the transfer
        sink = hdfscrc.CrcSink(hdfs_crc) if hdfs_crc else _Sink()
        rec.update(hdfscrc.record_fields(hdfs_crc or hdfscrc.NoChecksum("none: the object's metadata has none")))
        try:
            summary = streamfmt.decrypt_stream(tap, sink, setup.keyring, threads=threads)
        except errors.DataError as e:
            raise errors.DataError(f"s3://{bucket}/{key}: {e.message}") from None
        finally:
            close = getattr(reader, "close", None)
            if close:
                close()
        rec.update(key_id=summary.get("key_id"), xxh3_128=summary.get("xxh3_128"),
                   src_bytes=summary.get("bytes_out"))
        info = getattr(reader, "info", None) or {}
        for k in ("checksum_algorithm", "checksum", "checksum_verified"):
            rec[k] = info.get(k)
        if tap.header is not None:
            rec["stream_id"] = tap.header.stream_id.hex()
        problems = _compare_metadata(meta, rec)
        if hdfs_crc:
            crc_problem = sink.problem()
            rec["hdfs_checksum_status"] = "mismatch" if crc_problem else "match"
            problems += [crc_problem] if crc_problem else []
        if against is not None:
            length, digest = _source_digest(against, setup, policy=policy, allowed_groups=allowed_groups)
            if length != rec["src_bytes"]:
                problems.append(f"source {against} now holds {length} bytes, the object {rec['src_bytes']}")
            elif digest != rec["xxh3_128"]:
                problems.append(f"source {against} content differs (xxh3-128 {digest}, object {rec['xxh3_128']})")
        if problems:
            raise errors.DataError(f"s3://{bucket}/{key}: " + "; ".join(problems), status="mismatch")
        status.finish(rec, "ok", 0)
    except errors.Interrupted:
        raise
    except errors.KitError as e:
        status.finish(rec, e.status, e.code, e.message)
    return rec


def _compare_metadata(meta, rec):
    """What the object's own metadata promised versus what decrypting it gave."""
    problems = []
    sid = meta.get(META_STREAM_ID)
    if sid and rec.get("stream_id") and sid != rec["stream_id"]:
        src = urllib.parse.unquote(meta.get(META_SRC, "")) or "?"
        problems.append(f"object bytes belong to another stream (stream ID {rec['stream_id']}, "
                        f"metadata says {sid} for {src})")
    length = meta.get(META_LENGTH)
    if length is not None and str(rec.get("src_bytes")) != length:
        problems.append(f"decrypted length {rec.get('src_bytes')} differs from the source length {length} "
                        "in the metadata")
    kid = meta.get(META_KEY_ID)
    if kid and rec.get("key_id") and kid != rec["key_id"]:
        problems.append(f"encrypted under key {rec['key_id']}, metadata says {kid}")
    if not rec.get("src") and meta.get(META_SRC):
        rec["src"] = urllib.parse.unquote(meta[META_SRC])
    return problems
