"""Streaming Fernet: encrypt/decrypt a stream of any length in constant memory.

Format: docs/FORMAT.md (version 1); the keyless structure lives in framing.
Every frame is a standard Fernet token (built here from the AES-CBC and
HMAC-SHA256 primitives, byte-identical to `Fernet` for the same time and IV)
so the crypto is stock; what this module adds is the binding of the tokens
into one stream: stream ID, sequence number, final flag, total length and
xxh3-128 digest, so that dropping, reordering, duplicating or truncating
frames is detected.

Speed: tokens are written with `update_into` into preallocated page-aligned
buffers and frames are sealed/opened in a thread pool (the primitives release
the GIL) while the calling thread does the pipe I/O and writes in order.
Memory: (threads + 2) slots of two frame-sized buffers, whatever the input size.
"""

import base64
import binascii
import contextlib
import hmac as _hmac
import io
import os
import struct
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import xxhash
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import fastio, framing
from .errors import DataError

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
    return max(1, min(4, os.cpu_count() or 1))


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

class _FrameCipher:
    """Seals/opens the frames of one stream; safe to call from several threads."""

    def __init__(self, data_key, stream_id, frame_size):
        self.sk, self.ek = data_key[:16], data_key[16:]
        self.stream_id = stream_id
        self.frame_size = frame_size

    def seal(self, out, payload, seq, final, trailer, iv, ts):
        """Write length prefix + token into out; -> bytes written."""
        head = self.stream_id + _HEAD.pack(seq, framing.FLAG_FINAL if final else 0) + trailer
        ptlen = len(head) + len(payload)
        pad = 16 - (ptlen & 15)
        toklen = framing.TOKEN_OVERHEAD + ptlen + pad
        _TOKEN_START.pack_into(out, 0, toklen | (framing.FINAL_BIT if final else 0), FERNET_VERSION, ts)
        out[13:29] = iv
        enc = Cipher(algorithms.AES(self.ek), modes.CBC(iv)).encryptor()
        pos = 29
        pos += enc.update_into(head, out[pos:])
        pos += enc.update_into(payload, out[pos:])
        pos += enc.update_into(_PADS[pad], out[pos:])
        enc.finalize()
        h = hmac.HMAC(self.sk, hashes.SHA256())
        h.update(out[4:pos])
        out[pos : pos + _HMAC_LEN] = h.finalize()
        return pos + _HMAC_LEN

    def open(self, tok, out, index, clear_final):
        """Verify and decrypt frame `index` into out; -> (payload view, final, total, digest)."""
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
        dec = Cipher(algorithms.AES(self.ek), modes.CBC(bytes(tok[9:25]))).decryptor()
        dec.update_into(tok[_CT_OFFSET : n - _HMAC_LEN], out)
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
        elif ptlen - start != self.frame_size:
            raise DataError(f"frame {index}: non-final frame of {ptlen - start} bytes (frame size {self.frame_size})")
        return out[start:ptlen], final, total, digest


def _slots(count, in_size, out_size):
    return deque((fastio.alloc(in_size), fastio.alloc(out_size)) for _ in range(count))


# -- encrypt ----------------------------------------------------------------------

def _encrypt_chunks(src, key_id, key, frame_size, threads, summary, urandom=os.urandom, now=time.time):
    """Yield the ciphertext (header, then one frame per view) in order.

    A yielded view is only valid until the next item is requested. `urandom`
    and `now` are injectable for the test vectors only."""
    framing.check_frame_size(frame_size)
    threads = _check_threads(threads)
    master = raw_key(key)
    data_key = urandom(framing.DATA_KEY_LEN)
    stream_id = urandom(framing.STREAM_ID_LEN)
    signed = framing.header_signed_part(key_id, stream_id, frame_size)
    wrapped = seal_token(master, data_key + framing.header_binding(signed), iv=urandom(16), ts=int(now()))
    header = framing.encode_header(signed, wrapped)
    summary.update(key_id=key_id, stream_id=stream_id.hex(), bytes_in=0, bytes_out=len(header), frames=0,
                   xxh3_128=None)
    yield memoryview(header)

    fc = _FrameCipher(data_key, stream_id, frame_size)
    readinto = fastio.reader_of(src)
    free = _slots(threads + 2, frame_size, 4 + framing.max_token_len(frame_size) + 16)
    inflight = deque()
    hasher = xxhash.xxh3_128()
    pool = ThreadPoolExecutor(threads, thread_name_prefix="fernet-encrypt")
    try:
        def pop_done():
            fut, slot = inflight.popleft()
            n = fut.result()
            summary["bytes_out"] += n
            summary["frames"] += 1
            return slot, slot[1][:n]

        cur = free.popleft()
        n = fastio.fill(readinto, cur[0])
        hasher.update(cur[0][:n])
        seq = total = 0
        while True:
            final = n < frame_size
            if not final:
                # Ship whatever is ready before a read that may block on a slow producer.
                while inflight and (not free or inflight[0][0].done()):
                    slot, view = pop_done()
                    yield view
                    free.append(slot)
                nxt = free.popleft()
                m = fastio.fill(readinto, nxt[0])
                if m:
                    hasher.update(nxt[0][:m])
                else:
                    final = True
                    free.append(nxt)
            total += n
            trailer = _TRAILER.pack(total) + hasher.digest() if final else b""
            fut = pool.submit(fc.seal, cur[1], cur[0][:n], seq, final, trailer, urandom(16), int(now()))
            inflight.append((fut, cur))
            seq += 1
            if final:
                break
            cur, n = nxt, m
        while inflight:
            slot, view = pop_done()
            yield view
        summary["bytes_in"] = total
        summary["xxh3_128"] = hasher.hexdigest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def encrypt_stream(src, dst, key_id, key, *, frame_size=DEFAULT_FRAME_SIZE, threads=None):
    """Encrypt everything from src to dst; -> summary dict
    (key_id, stream_id (hex), bytes_in, bytes_out, frames, xxh3_128 (hex))."""
    summary = {}
    # closing(): stop the worker threads now, not at garbage collection, when a write fails.
    with contextlib.closing(_encrypt_chunks(src, key_id, key, frame_size, threads, summary)) as chunks:
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
        fixed = len(framing.PREFIX) + 1 + buf[len(framing.PREFIX)] + framing.STREAM_ID_LEN + 4 + 2
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
    maxtok = framing.max_token_len(hdr.frame_size)
    free = _slots(threads + 2, maxtok, maxtok + 16)
    inflight = deque()
    hasher = xxhash.xxh3_128()
    prefix = memoryview(bytearray(4))
    pool = ThreadPoolExecutor(threads, thread_name_prefix="fernet-decrypt")
    index = 0
    error = None
    try:
        def take():
            fut, slot, i = inflight.popleft()
            payload, final, total, digest = fut.result()
            hasher.update(payload)
            summary["bytes_out"] += len(payload)
            summary["frames"] += 1
            if final:
                if total != summary["bytes_out"]:
                    raise DataError(f"frame {i}: stream length {summary['bytes_out']} does not match "
                                    f"the recorded {total}")
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
            while inflight and (not free or inflight[0][0].done()):
                slot, view = take()
                yield view
                free.append(slot)
            slot = free.popleft()
            tok = slot[0][:length]
            got = fastio.fill(readinto, tok)
            summary["bytes_in"] += got
            if got < length:
                free.append(slot)
                error = DataError(f"stream truncated inside frame {index}")
                break
            inflight.append((pool.submit(fc.open, tok, slot[1], index, clear_final), slot, index))
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
        pool.shutdown(wait=True, cancel_futures=True)


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

    def __init__(self, src, key_id, key, *, frame_size=DEFAULT_FRAME_SIZE, threads=None):
        summary = {}
        super().__init__(_encrypt_chunks(src, key_id, key, frame_size, threads, summary), summary)


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
