"""Streaming Fernet: encrypt/decrypt a stream of any length in constant memory.

Format: docs/FORMAT.md (version 1); the keyless structure lives in framing.
Every frame is a standard Fernet token (built here from the AES-CBC and
HMAC-SHA256 primitives, byte-identical to `Fernet` for the same time and IV)
so the crypto is stock; what this module adds is the binding of the tokens
into one stream: stream ID, sequence number, final flag, total length and
xxh3-128 digest, so that dropping, reordering, duplicating or truncating
frames is detected.

Speed: each frame lives in one preallocated, page-aligned buffer, encrypted
and decrypted in place with `update_into` (see "frames" below), and frames are
sealed/opened in worker threads (the primitives release the GIL) while the
calling thread does the pipe I/O and writes in order.
Memory: (threads + 2) frame-sized buffers, whatever the input size.
"""

import _thread
import base64
import binascii
import contextlib
import hmac as _hmac
import io
import mmap
import os
import queue
import struct
import threading
import time
from collections import deque

import xxhash
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import fastio, framing
from .errors import DataError, KitIOError

FERNET_VERSION = 0x80
_CT_OFFSET = 1 + 8 + 16           # version | timestamp | IV, then the ciphertext
_HMAC_LEN = 32
_PADS = [bytes([n]) * n for n in range(17)]
_HEAD = struct.Struct(">QB")      # seq, flags (after the stream ID)
_TRAILER = struct.Struct(">Q")    # total plaintext length (then the xxh3-128 digest)
_TOKEN_START = struct.Struct(">IBQ")  # length prefix, Fernet version, timestamp

DEFAULT_FRAME_SIZE = framing.DEFAULT_FRAME_SIZE
MAX_THREADS = 64


def default_threads():
    """Worker threads by default: the CPUs this process may use less one, 1..4.

    A filter is one stage of a pipeline whose other stages (the reader feeding it, the uploader
    it feeds) need a CPU too. On 2 CPUs a second worker only makes the pipe run dry and the
    workers hand frames across cores: fernet-decrypt with one worker measured 1.37-1.42 CPU-s/GiB
    and 746 MB/s against 1.68-1.77 and 648 MB/s with two (bench/bench_crypto.py, this machine)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus - 1))


def raw_key(key):
    """A Fernet key as 32 raw bytes, from its urlsafe-base64 text (str/bytes) or raw form."""
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    key = bytes(key)
    if len(key) == 32:
        return key
    try:
        raw = base64.urlsafe_b64decode(key.strip())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ValueError("not a Fernet key (expected 32 bytes, urlsafe-base64 encoded)")
    return raw


def _check_threads(threads):
    threads = default_threads() if threads is None else int(threads)
    if not 1 <= threads <= MAX_THREADS:
        raise ValueError(f"threads must be 1..{MAX_THREADS}")
    return threads


# -- single tokens (the wrapped key, test vectors) -----------------------------

def seal_token(key, plaintext, *, iv=None, ts=None):
    """A raw (binary) Fernet token; base64url of it is what `Fernet.encrypt` returns."""
    key = raw_key(key)
    iv = os.urandom(16) if iv is None else iv
    ts = int(time.time()) if ts is None else ts
    pad = 16 - len(plaintext) % 16
    enc = Cipher(algorithms.AES(key[16:]), modes.CBC(iv)).encryptor()
    body = bytes([FERNET_VERSION]) + struct.pack(">Q", ts) + iv + enc.update(bytes(plaintext) + _PADS[pad])
    body += enc.finalize()
    h = hmac.HMAC(key[:16], hashes.SHA256())
    h.update(body)
    return body + h.finalize()


def open_token(key, token):
    """Plaintext of a raw Fernet token, or None if it does not verify under key.

    Unlike `Fernet.decrypt`, no timestamp check: these tokens are archived data,
    and a writer's clock that ran ahead must not make a stream unreadable."""
    key = raw_key(key)
    token = bytes(token)
    if len(token) < _CT_OFFSET + 16 + _HMAC_LEN or (len(token) - _CT_OFFSET - _HMAC_LEN) % 16:
        return None
    h = hmac.HMAC(key[:16], hashes.SHA256())
    h.update(token[:-_HMAC_LEN])
    try:
        h.verify(token[-_HMAC_LEN:])
    except InvalidSignature:
        return None
    if token[0] != FERNET_VERSION:
        return None
    dec = Cipher(algorithms.AES(key[16:]), modes.CBC(token[9:25])).decryptor()
    pt = dec.update(token[_CT_OFFSET:-_HMAC_LEN]) + dec.finalize()
    pad = pt[-1]
    if not 1 <= pad <= 16 or pt[-pad:] != _PADS[pad]:
        return None
    return pt[:-pad]


# -- frames ---------------------------------------------------------------------
#
# One buffer per frame, both ways, and no copy the format does not need:
#   encrypt: the plaintext is read straight into the token buffer behind room for
#   prefix | version | timestamp | IV | frame head, and AES-CBC encrypts it in
#   place (OpenSSL allows in == out exactly); the HMAC runs over the same bytes,
#   and prefix + token go out as one write.
#   decrypt: the token is read into its buffer and, once its HMAC verifies,
#   decrypted in place; the payload is a view into that buffer.
# The payload's read offset is placed on a page boundary: pipe reads into a
# buffer that starts off a page boundary cost 2.3-2.5x more kernel time here.

_PAGE = mmap.PAGESIZE
_PT_OFFSET = 4 + _CT_OFFSET                          # plaintext/ciphertext start in an encrypt slot
_PAYLOAD_OFFSET = _PT_OFFSET + framing.FRAME_HEAD_LEN  # where a non-final frame's payload is read


def _aligned(size, at):
    """A zero-filled buffer of `size` bytes whose byte `at` lies on a page boundary."""
    lead = -at % _PAGE
    return fastio.alloc(lead + size)[lead:]


def _encrypt_slot(frame_size):
    return _aligned(4 + framing.max_token_len(frame_size) + 16, _PAYLOAD_OFFSET)


class _FrameCipher:
    """Seals/opens the frames of one stream; safe to call from several threads."""

    def __init__(self, data_key, stream_id, frame_size):
        self.sk, self.ek = data_key[:16], data_key[16:]
        self.stream_id = stream_id
        self.frame_size = frame_size

    def seal(self, buf, n, seq, final, trailer, iv, ts):
        """Seal the n payload bytes at buf[_PAYLOAD_OFFSET:] into prefix + token at buf[0:];
        -> bytes of buf to write."""
        pos = _PT_OFFSET
        if trailer and n:   # the final frame's head is longer: move its payload up (once per stream)
            at = _PAYLOAD_OFFSET + len(trailer)
            buf[at : at + n] = bytes(buf[_PAYLOAD_OFFSET : _PAYLOAD_OFFSET + n])
        head = self.stream_id + _HEAD.pack(seq, framing.FLAG_FINAL if final else 0) + trailer
        ptlen = len(head) + n
        pad = 16 - (ptlen & 15)
        ctlen = ptlen + pad
        _TOKEN_START.pack_into(buf, 0, (framing.TOKEN_OVERHEAD + ctlen) | (framing.FINAL_BIT if final else 0),
                               FERNET_VERSION, ts)
        buf[13:_PT_OFFSET] = iv
        buf[pos : pos + len(head)] = head
        buf[pos + ptlen : pos + ctlen] = _PADS[pad]
        enc = Cipher(algorithms.AES(self.ek), modes.CBC(iv)).encryptor()
        enc.update_into(buf[pos : pos + ctlen], buf[pos : pos + ctlen + 15])
        enc.finalize()
        end = pos + ctlen
        h = hmac.HMAC(self.sk, hashes.SHA256())
        h.update(buf[4:end])
        buf[end : end + _HMAC_LEN] = h.finalize()
        return end + _HMAC_LEN

    def open(self, tok, index, clear_final):
        """Verify and decrypt (in place) frame `index`; -> (payload view, final, total, digest)."""
        n = len(tok)
        h = hmac.HMAC(self.sk, hashes.SHA256())
        h.update(tok[: n - _HMAC_LEN])
        try:
            h.verify(bytes(tok[n - _HMAC_LEN :]))
        except InvalidSignature:
            # A header from another stream unwraps fine but carries the wrong data key.
            why = "tampered frame, or a header from another stream" if index == 0 else "tampered or corrupted"
            raise DataError(f"frame {index}: authentication failed ({why})") from None
        if tok[0] != FERNET_VERSION:
            raise DataError(f"frame {index}: unknown Fernet version 0x{tok[0]:02x}")
        ctlen = n - _CT_OFFSET - _HMAC_LEN
        dec = Cipher(algorithms.AES(self.ek), modes.CBC(bytes(tok[9:_CT_OFFSET]))).decryptor()
        # the 15 bytes update_into insists on beyond the input are the (already checked) tag's
        out = tok[_CT_OFFSET:]
        dec.update_into(out[:ctlen], out[: ctlen + 15])
        dec.finalize()
        pad = out[ctlen - 1]
        if not 1 <= pad <= 16 or out[ctlen - pad : ctlen] != _PADS[pad]:
            raise DataError(f"frame {index}: bad padding")
        ptlen = ctlen - pad
        if ptlen < framing.FRAME_HEAD_LEN:
            raise DataError(f"frame {index}: too short for a frame header")
        if out[:16] != self.stream_id:
            raise DataError(f"frame {index}: belongs to another stream")
        seq, flags = _HEAD.unpack_from(out, 16)
        if seq != index:
            why = "dropped or reordered" if seq > index else "duplicated or reordered"
            raise DataError(f"frame {index}: carries sequence number {seq} (frames {why})")
        if flags & ~framing.FLAG_FINAL:
            raise DataError(f"frame {index}: unknown flags 0x{flags:02x}")
        final = bool(flags & framing.FLAG_FINAL)
        if final != clear_final:
            raise DataError(f"frame {index}: clear final marker disagrees with the authenticated flag")
        start = framing.FRAME_HEAD_LEN
        total = digest = None
        if final:
            start += framing.FINAL_TRAILER_LEN
            if ptlen < start:
                raise DataError(f"frame {index}: final frame too short for its trailer")
            (total,) = _TRAILER.unpack_from(out, framing.FRAME_HEAD_LEN)
            digest = bytes(out[framing.FRAME_HEAD_LEN + 8 : start])
            if ptlen - start > self.frame_size:   # FORMAT.md: the final frame carries 0..frame_size
                raise DataError(f"frame {index}: final frame of {ptlen - start} bytes exceeds the frame size "
                                f"{self.frame_size}")
        elif ptlen - start != self.frame_size:
            raise DataError(f"frame {index}: non-final frame of {ptlen - start} bytes (frame size {self.frame_size})")
        return out[start:ptlen], final, total, digest


class _Pool:
    """Worker threads for frames: a job is a list [fn, args, result, error, lock];
    `wait(job)` returns its result in the caller. Lighter than concurrent.futures
    (one bare lock per job, no Condition), and it does not import logging."""

    def __init__(self, n, name):
        self._jobs = queue.SimpleQueue()
        self._threads = [threading.Thread(target=self._work, name=f"{name}-{i}", daemon=True) for i in range(n)]
        for t in self._threads:
            t.start()

    def _work(self):
        get = self._jobs.get
        while True:
            job = get()
            if job is None:
                return
            try:
                job[2] = job[0](*job[1])
            except BaseException as e:  # noqa: BLE001 - re-raised in the waiting thread
                job[3] = e
            finally:
                job[4].release()

    def submit(self, fn, *args):
        lock = _thread.allocate_lock()
        lock.acquire()
        job = [fn, args, None, None, lock]
        self._jobs.put(job)
        return job

    @staticmethod
    def done(job):
        return not job[4].locked()

    @staticmethod
    def wait(job):
        job[4].acquire()
        job[4].release()
        if job[3] is not None:
            raise job[3]
        return job[2]

    def shutdown(self):
        """Drop jobs not started, let running ones finish, stop the threads."""
        try:
            while True:
                self._jobs.get_nowait()
        except queue.Empty:
            pass
        for _ in self._threads:
            self._jobs.put(None)
        for t in self._threads:
            t.join()


# -- encrypt ----------------------------------------------------------------------

def _encrypt_chunks(src, key_id, key, frame_size, threads, summary, urandom=os.urandom, now=time.time,
                    length=None, _enforce=True):
    """Yield the ciphertext (header, then one frame per view) in order.

    With `length` (the source length, known in advance) the header announces
    it (format version 2) and the final frame is sealed only if the input
    carried exactly that many bytes: a reader that died early gives an EOF
    that looks like the end, and this is where it is told apart.
    A yielded view is only valid until the next item is requested. `urandom`,
    `now` and `_enforce` are injectable for the test vectors only."""
    framing.check_frame_size(frame_size)
    threads = _check_threads(threads)
    master = raw_key(key)
    data_key = urandom(framing.DATA_KEY_LEN)
    stream_id = urandom(framing.STREAM_ID_LEN)
    signed = framing.header_signed_part(key_id, stream_id, frame_size, length)
    wrapped = seal_token(master, data_key + framing.header_binding(signed), iv=urandom(16), ts=int(now()))
    header = framing.encode_header(signed, wrapped)
    summary.update(key_id=key_id, stream_id=stream_id.hex(), bytes_in=0, bytes_out=len(header), frames=0,
                   xxh3_128=None)
    yield memoryview(header)

    fc = _FrameCipher(data_key, stream_id, frame_size)
    readinto = fastio.reader_of(src)
    free = deque(_encrypt_slot(frame_size) for _ in range(threads + 2))
    inflight = deque()
    hasher = xxhash.xxh3_128()
    pool = _Pool(threads, "fernet-encrypt")
    wait, done = pool.wait, pool.done
    try:
        def pop_done():
            job, buf = inflight.popleft()
            n = wait(job)
            summary["bytes_out"] += n
            summary["frames"] += 1
            return buf, buf[:n]

        cur = free.popleft()
        n = fastio.fill(readinto, cur[_PAYLOAD_OFFSET : _PAYLOAD_OFFSET + frame_size])
        hasher.update(cur[_PAYLOAD_OFFSET : _PAYLOAD_OFFSET + n])
        seq = total = 0
        while True:
            final = n < frame_size
            if not final:
                # Ship whatever is ready before a read that may block on a slow producer.
                while inflight and (not free or done(inflight[0][0])):
                    buf, view = pop_done()
                    yield view
                    free.append(buf)
                nxt = free.popleft()
                m = fastio.fill(readinto, nxt[_PAYLOAD_OFFSET : _PAYLOAD_OFFSET + frame_size])
                if m:
                    hasher.update(nxt[_PAYLOAD_OFFSET : _PAYLOAD_OFFSET + m])
                else:
                    final = True
                    free.append(nxt)
            total += n
            if length is not None and _enforce:
                _check_length(total, length, final)
            trailer = _TRAILER.pack(total) + hasher.digest() if final else b""
            inflight.append((pool.submit(fc.seal, cur, n, seq, final, trailer, urandom(16), int(now())), cur))
            seq += 1
            if final:
                break
            cur, n = nxt, m
        while inflight:
            buf, view = pop_done()
            yield view
        summary["bytes_in"] = total
        summary["xxh3_128"] = hasher.hexdigest()
    finally:
        pool.shutdown()


def _check_length(total, length, final):
    """Before sealing a frame: more than announced is bad data, less at EOF is a short read."""
    if total > length:
        raise DataError(f"input is longer than the expected {length} bytes")
    if final and total < length:
        raise KitIOError(f"input ended after {total} of the expected {length} bytes: not sealing the stream")


def encrypt_stream(src, dst, key_id, key, *, frame_size=DEFAULT_FRAME_SIZE, threads=None, length=None):
    """Encrypt everything from src to dst; -> summary dict
    (key_id, stream_id (hex), bytes_in, bytes_out, frames, xxh3_128 (hex)).
    `length`: the exact input size (see _encrypt_chunks)."""
    summary = {}
    # closing(): stop the worker threads now, not at garbage collection, when a write fails.
    with contextlib.closing(_encrypt_chunks(src, key_id, key, frame_size, threads, summary,
                                            length=length)) as chunks:
        for view in chunks:
            fastio.write_all(dst, view)
    return summary


# -- decrypt ----------------------------------------------------------------------

def _read_header(readinto, summary):
    buf = bytearray()
    want = len(framing.PREFIX) + 1
    while True:
        chunk = bytearray(want - len(buf))
        got = fastio.fill(readinto, memoryview(chunk))
        buf += chunk[:got]
        hdr, used = framing.parse_header(buf)
        if hdr is not None:
            summary["bytes_in"] = used
            return hdr
        if got < len(chunk):
            raise DataError("empty input: no stream header" if not buf else "stream truncated inside the header")
        extra = 8 if buf[len(framing.MAGIC)] == framing.VERSION_LENGTH else 0
        fixed = len(framing.PREFIX) + 1 + buf[len(framing.PREFIX)] + framing.STREAM_ID_LEN + 4 + extra + 2
        want = fixed if len(buf) < fixed else fixed + struct.unpack_from(">H", buf, fixed - 2)[0]


def _unwrap(hdr, keyring):
    master = raw_key(keyring.key(hdr.key_id))
    inner = open_token(master, hdr.wrapped_key)
    if inner is None:
        raise DataError(f"header does not verify under key {hdr.key_id} (tampered header or wrong key)")
    if len(inner) != framing.DATA_KEY_LEN + 32:
        raise DataError("header: wrapped key has the wrong length")
    if not _hmac.compare_digest(inner[framing.DATA_KEY_LEN :], framing.header_binding(hdr.signed_bytes)):
        raise DataError("header fields do not match the wrapped key (tampered header, or taken from another stream)")
    return inner[: framing.DATA_KEY_LEN]


def _decrypt_chunks(src, keyring, threads, summary):
    """Yield authenticated plaintext views in order; DataError on the first failure.

    A frame's plaintext is yielded only after its HMAC, stream ID and sequence
    number check out; the final frame's only after the total length, the digest
    and EOF check out too."""
    threads = _check_threads(threads)
    readinto = fastio.reader_of(src)
    summary.update(key_id=None, stream_id=None, bytes_in=0, bytes_out=0, frames=0, xxh3_128=None)
    hdr = _read_header(readinto, summary)
    summary.update(key_id=hdr.key_id, stream_id=hdr.stream_id.hex())
    fc = _FrameCipher(_unwrap(hdr, keyring), hdr.stream_id, hdr.frame_size)
    # +16: room for the 15 bytes update_into wants past the ciphertext, if a tag were shorter;
    # +_PAGE: a token is read at the slot offset that matches its stream offset (see below)
    size = framing.max_token_len(hdr.frame_size) + 16 + _PAGE
    free = deque(fastio.alloc(size) for _ in range(threads + 2))
    inflight = deque()
    hasher = xxhash.xxh3_128()
    prefix = memoryview(bytearray(4))
    pool = _Pool(threads, "fernet-decrypt")
    wait, done = pool.wait, pool.done
    index = 0
    error = None
    try:
        def take():
            job, slot, i = inflight.popleft()
            payload, final, total, digest = wait(job)
            hasher.update(payload)
            summary["bytes_out"] += len(payload)
            summary["frames"] += 1
            if final:
                if total != summary["bytes_out"]:
                    raise DataError(f"frame {i}: stream length {summary['bytes_out']} does not match "
                                    f"the recorded {total}")
                if hdr.length is not None and total != hdr.length:
                    raise DataError(f"frame {i}: stream length {total} does not match the {hdr.length} bytes "
                                    "its header announces")
                if not _hmac.compare_digest(digest, hasher.digest()):
                    raise DataError(f"frame {i}: xxh3-128 digest of the plaintext does not match")
                if fastio.fill(readinto, prefix[:1]):
                    raise DataError(f"data after the final frame (frame {i})")
            return slot, payload

        while True:
            got = fastio.fill(readinto, prefix)
            if got < 4:
                if got:
                    error = DataError(f"stream truncated inside frame {index} (in its length prefix)")
                else:
                    where = f"after frame {index - 1}" if index else "after the header"
                    error = DataError(f"stream truncated {where}: no final frame")
                break
            try:
                length, clear_final = framing.decode_prefix(prefix, hdr.frame_size, index)
            except DataError as e:
                error = e
                break
            summary["bytes_in"] += 4
            while inflight and (not free or done(inflight[0][0])):
                slot, view = take()
                yield view
                free.append(slot)
            slot = free.popleft()
            # Read the token to the buffer offset that equals its stream offset modulo the page
            # size: a pipe fed by a page-aligned writer (cat, a file) holds it at that page
            # offset, and copies between mutually misaligned addresses cost the kernel 2.5x here.
            at = summary["bytes_in"] % _PAGE
            tok = slot[at : at + length]
            got = fastio.fill(readinto, tok)
            summary["bytes_in"] += got
            if got < length:
                free.append(slot)
                error = DataError(f"stream truncated inside frame {index}")
                break
            inflight.append((pool.submit(fc.open, tok, index, clear_final), slot, index))
            index += 1
            if clear_final:
                break
        # Earlier frames first: the first failure in stream order is the one reported.
        while inflight:
            slot, view = take()
            yield view
            free.append(slot)
        if error is not None:
            raise error
        summary["xxh3_128"] = hasher.hexdigest()
    finally:
        pool.shutdown()


def decrypt_stream(src, dst, keyring, *, threads=None):
    """Decrypt src to dst; -> summary dict. Raises DataError on any failure, having
    written only authenticated plaintext (possibly the frames before the failure:
    callers must honour the error, as consumers of the command its exit status)."""
    summary = {}
    with contextlib.closing(_decrypt_chunks(src, keyring, threads, summary)) as chunks:
        for view in chunks:
            fastio.write_all(dst, view)
    return summary


# -- file-like wrappers and one-shot helpers ---------------------------------------------

class _ChunkReader(io.RawIOBase):
    """readinto/read over a generator of views; fills the caller's buffer fully
    unless EOF, so `read(n)` returns n bytes until the end."""

    def __init__(self, chunks, summary):
        self._chunks = chunks
        self._view = memoryview(b"")
        self._eof = False
        self.summary = summary

    def readable(self):
        return True

    def readinto(self, b):
        out = memoryview(b).cast("B")
        done = 0
        while done < len(out):
            if not self._view:
                if self._eof:
                    break
                try:
                    self._view = next(self._chunks)
                except StopIteration:
                    self._eof = True
                    break
                continue
            k = min(len(self._view), len(out) - done)
            out[done : done + k] = self._view[:k]
            self._view = self._view[k:]
            done += k
        return done

    def close(self):
        if not self.closed:
            self._chunks.close()
        super().close()


class EncryptingReader(_ChunkReader):
    """The ciphertext of src as a file-like object (readinto/read); `.summary` is
    complete after EOF (its key_id and stream_id are set from the first read on).
    Used by the uploader to encrypt in-process; close it (or use `with`) to stop
    its worker threads early."""

    def __init__(self, src, key_id, key, *, frame_size=DEFAULT_FRAME_SIZE, threads=None, length=None):
        summary = {}
        super().__init__(_encrypt_chunks(src, key_id, key, frame_size, threads, summary, length=length), summary)


class DecryptingReader(_ChunkReader):
    """The authenticated plaintext of src as a file-like object; reads raise
    DataError at the first failure. `.summary` is complete after EOF."""

    def __init__(self, src, keyring, *, threads=None):
        summary = {}
        super().__init__(_decrypt_chunks(src, keyring, threads, summary), summary)


def encrypt_data(data, keyring, *, frame_size=DEFAULT_FRAME_SIZE, threads=1):
    """-> (ciphertext, key_id), encrypted under the keyring's active key."""
    key_id, key = keyring.active()
    out = io.BytesIO()
    encrypt_stream(io.BytesIO(data), out, key_id, key, frame_size=frame_size, threads=threads)
    return out.getvalue(), key_id


def decrypt_data(ciphertext, keyring, *, threads=1):
    """-> plaintext; DataError if anything about the stream is wrong."""
    out = io.BytesIO()
    decrypt_stream(io.BytesIO(ciphertext), out, keyring, threads=threads)
    return out.getvalue()
