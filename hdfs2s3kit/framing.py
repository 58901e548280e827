"""The keyless structure of the stream format (docs/FORMAT.md, version 1).

Everything here works without any key: parsing the header, the frame length
prefixes and the clear final-frame marker. The uploader uses FrameGate to
refuse to complete an object unless the stream it carried was whole; the
crypto layer (streamfmt) builds on the same constants.
"""

import hashlib
import struct

from .errors import DataError

MAGIC = b"H2S3F"
VERSION = 1
VERSION_LENGTH = 2                # version 1 plus the source length, announced in the header
VERSIONS = (VERSION, VERSION_LENGTH)
PREFIX = MAGIC + bytes([VERSION])

STREAM_ID_LEN = 16
DATA_KEY_LEN = 32                 # raw Fernet key: 16 signing + 16 encryption
MIN_FRAME_SIZE = 1
MAX_FRAME_SIZE = 64 * 1024 * 1024
DEFAULT_FRAME_SIZE = 1024 * 1024
MAX_KEY_ID_LEN = 255
MAX_WRAPPED_LEN = 1024

FINAL_BIT = 0x8000_0000           # clear marker in the length prefix
LEN_MASK = 0x7FFF_FFFF
FLAG_FINAL = 0x01                 # authenticated flag inside the token

# Fernet token: version(1) | timestamp(8) | IV(16) | AES-CBC ciphertext | HMAC(32)
TOKEN_OVERHEAD = 1 + 8 + 16 + 32
# Authenticated frame plaintext: stream_id | seq u64 | flags u8 [| total u64 | xxh3-128]
FRAME_HEAD_LEN = STREAM_ID_LEN + 8 + 1
FINAL_TRAILER_LEN = 8 + 16


def token_len(plaintext_len):
    """Length of a Fernet token for a plaintext: PKCS7 always adds 1..16 bytes."""
    return TOKEN_OVERHEAD + (plaintext_len // 16 + 1) * 16


MIN_TOKEN_LEN = token_len(FRAME_HEAD_LEN)


def max_token_len(frame_size):
    return token_len(FRAME_HEAD_LEN + FINAL_TRAILER_LEN + frame_size)


class Header:
    """Parsed stream header. `signed_bytes` is what the wrapped key binds."""

    __slots__ = ("key_id", "stream_id", "frame_size", "wrapped_key", "signed_bytes", "raw", "version", "length")

    def __init__(self, key_id, stream_id, frame_size, wrapped_key, signed_bytes, raw, version=VERSION, length=None):
        self.version = version
        self.length = length          # plaintext bytes the stream must carry (version 2), else None
        self.key_id = key_id
        self.stream_id = stream_id
        self.frame_size = frame_size
        self.wrapped_key = wrapped_key
        self.signed_bytes = signed_bytes
        self.raw = raw


def header_signed_part(key_id, stream_id, frame_size, length=None):
    """Version 1, or version 2 when the plaintext `length` is known in advance."""
    kid = key_id.encode("utf-8")
    if not 1 <= len(kid) <= MAX_KEY_ID_LEN:
        raise ValueError("key ID must be 1..255 bytes of UTF-8")
    if len(stream_id) != STREAM_ID_LEN:
        raise ValueError("stream ID must be 16 bytes")
    check_frame_size(frame_size)
    if length is None:
        return PREFIX + bytes([len(kid)]) + kid + stream_id + struct.pack(">I", frame_size)
    if not 0 <= length < 1 << 64:
        raise ValueError("length must fit in 64 bits")
    return (MAGIC + bytes([VERSION_LENGTH, len(kid)]) + kid + stream_id + struct.pack(">I", frame_size)
            + struct.pack(">Q", length))


def stream_shape(length, frame_size):
    """(frames, token length of the final frame) of a stream carrying `length` bytes:
    the encryptor reads one chunk ahead, so an exact multiple ends in a full final frame."""
    frames = max(1, -(-length // frame_size))
    last = length - (frames - 1) * frame_size
    return frames, token_len(FRAME_HEAD_LEN + FINAL_TRAILER_LEN + last)


def header_binding(signed_part):
    """Digest of the header fields, sealed inside the wrapped-key token."""
    return hashlib.sha256(signed_part).digest()


def encode_header(signed_part, wrapped_key):
    if not 0 < len(wrapped_key) <= MAX_WRAPPED_LEN:
        raise ValueError("wrapped key token has an impossible length")
    return signed_part + struct.pack(">H", len(wrapped_key)) + wrapped_key


def check_frame_size(frame_size):
    if not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise ValueError(f"frame size must be {MIN_FRAME_SIZE}..{MAX_FRAME_SIZE} bytes")


def parse_header(buf):
    """Parse a header from the start of buf.

    Returns (Header, consumed) or (None, 0) when buf is a valid but incomplete
    prefix. Raises DataError on anything that can never become a valid header.
    """
    mv = memoryview(buf)
    n = len(mv)
    k = min(n, len(MAGIC))
    if bytes(mv[:k]) != MAGIC[:k]:
        raise DataError("not an hdfs2s3kit encrypted stream (bad magic)")
    if n < len(PREFIX):
        return None, 0
    version = mv[len(MAGIC)]
    if version not in VERSIONS:
        raise DataError(f"unsupported stream format version {version}")
    extra = 8 if version == VERSION_LENGTH else 0
    pos = len(PREFIX)
    if n < pos + 1:
        return None, 0
    kid_len = mv[pos]
    if kid_len == 0:
        raise DataError("corrupt header: empty key ID")
    pos += 1
    if n < pos + kid_len + STREAM_ID_LEN + 4 + extra + 2:
        return None, 0
    try:
        key_id = bytes(mv[pos : pos + kid_len]).decode("utf-8")
    except UnicodeDecodeError:
        raise DataError("corrupt header: key ID is not UTF-8") from None
    pos += kid_len
    stream_id = bytes(mv[pos : pos + STREAM_ID_LEN])
    pos += STREAM_ID_LEN
    (frame_size,) = struct.unpack_from(">I", mv, pos)
    pos += 4
    if not MIN_FRAME_SIZE <= frame_size <= MAX_FRAME_SIZE:
        raise DataError(f"corrupt header: frame size {frame_size} out of range")
    length = None
    if extra:
        (length,) = struct.unpack_from(">Q", mv, pos)
        pos += 8
    signed_end = pos
    (wlen,) = struct.unpack_from(">H", mv, pos)
    pos += 2
    if not 0 < wlen <= MAX_WRAPPED_LEN:
        raise DataError(f"corrupt header: wrapped key length {wlen} out of range")
    if n < pos + wlen:
        return None, 0
    wrapped = bytes(mv[pos : pos + wlen])
    pos += wlen
    raw = bytes(mv[:pos])
    return Header(key_id, stream_id, frame_size, wrapped, raw[:signed_end], raw, version, length), pos


def encode_prefix(token_length, final):
    return struct.pack(">I", token_length | (FINAL_BIT if final else 0))


def decode_prefix(four, frame_size, index):
    """-> (token_length, final). Rejects impossible lengths before any allocation."""
    (word,) = struct.unpack(">I", four)
    length, final = word & LEN_MASK, bool(word & FINAL_BIT)
    if length > max_token_len(frame_size):
        raise DataError(f"frame {index}: length {length} exceeds the maximum for frame size {frame_size}")
    if length < MIN_TOKEN_LEN or (length - TOKEN_OVERHEAD) % 16:
        raise DataError(f"frame {index}: impossible token length {length}")
    return length, final


def looks_framed(first_bytes):
    return bytes(first_bytes[: len(MAGIC)]) == MAGIC


class FrameGate:
    """Follows a stream's frame boundaries without the key.

    Feed every byte in order; `finish()` at EOF raises DataError unless the
    stream ended exactly after a frame marked final in clear. Bytes after the
    final frame are refused at once. Memory: only a partial header/prefix.
    """

    def __init__(self):
        self._pending = bytearray()   # header bytes or a partial 4-byte prefix
        self.header = None
        self.frames = 0
        self._skip = 0                # token bytes still to pass over
        self._final_seen = False
        self._last_len = None         # token length of the latest frame
        self.bytes_seen = 0

    @property
    def complete(self):
        return self._final_seen and self._skip == 0 and not self._pending

    def feed(self, data):
        # Release our views even when raising: a caller's reusable bytearray stays
        # resizable while a traceback holding this frame is alive.
        with memoryview(data) as whole, whole.cast("B") as mv:
            self._feed(mv)

    def _feed(self, mv):
        self.bytes_seen += len(mv)
        i, n = 0, len(mv)
        while i < n:
            if self.header is None:
                self._pending += mv[i:]
                hdr, used = parse_header(self._pending)
                if hdr is None:
                    return
                self.header = hdr
                leftover = len(self._pending) - used
                del self._pending[:]
                i = n - leftover
                continue
            if self._skip:
                step = min(self._skip, n - i)
                self._skip -= step
                i += step
                continue
            if self._final_seen:
                raise DataError(f"data after the final frame (frame {self.frames - 1})")
            need = min(4 - len(self._pending), n - i)
            self._pending += mv[i : i + need]
            i += need
            if len(self._pending) == 4:
                length, final = decode_prefix(bytes(self._pending), self.header.frame_size, self.frames)
                del self._pending[:]
                self._skip = length
                self._last_len = length
                self.frames += 1
                self._final_seen = final

    def finish(self):
        if self.header is None:
            if not self._pending:
                raise DataError("empty input: no stream header")
            raise DataError("stream truncated inside the header")
        if self._skip or self._pending:
            raise DataError(f"stream truncated inside frame {self.frames - (1 if self._skip else 0)}")
        if not self._final_seen:
            last = self.frames - 1
            where = f"after frame {last}" if last >= 0 else "after the header"
            raise DataError(f"stream truncated {where}: no final frame")
        if self.header.length is not None:
            frames, last_len = stream_shape(self.header.length, self.header.frame_size)
            if (self.frames, self._last_len) != (frames, last_len):
                raise DataError(f"stream of {self.frames} frames does not carry the {self.header.length} bytes "
                                "its header announces")
