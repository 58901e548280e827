"""The length announcement: how `hdfs2s3kit cat --announce` tells `fernet-encrypt
--announced` how many bytes make the whole file (docs/FORMAT.md, "Length
announcement").

    announcement = "H2S3LEN" || 0x01 || length u64 || crc32(the 16 bytes before) u32

then exactly `length` bytes of the file, then EOF. 20 bytes, big-endian.

Why in-band: in `hdfs2s3kit cat SRC | fernet-encrypt | s3-put-sts DEST` a reader
that dies midway closes its pipe, and the encryptor sees an ordinary EOF. Only
something that rides in the same pipe, from the one process that knows the
length (cat asks `-stat` for it), survives the death of every parent shell.
The encryptor then seals the stream only after exactly that many bytes, and
writes the length into its header (format version 2) for the uploader and
`verify`.

Both ends are explicit (`--announce`, `--announced`): a file is never parsed
for an announcement it did not ask for. But an encryptor *not* told to expect
one refuses input that starts with one (the flag was forgotten: encrypting
the 20 bytes as data would silently change the file).
"""

import struct
import zlib

from . import errors

MAGIC = b"H2S3LEN\x01"
_BODY = struct.Struct(">8sQ")
SIZE = _BODY.size + 4


def encode(length):
    body = _BODY.pack(MAGIC, length)
    return body + struct.pack(">I", zlib.crc32(body))


def decode(buf):
    """20 bytes -> length; DataError if they are not an announcement."""
    buf = bytes(buf)
    if len(buf) < SIZE or buf[: len(MAGIC)] != MAGIC:
        raise errors.DataError("input does not start with a length announcement "
                               "(feed it from `hdfs2s3kit cat --announce SRC`)")
    magic, length = _BODY.unpack_from(buf)
    (crc,) = struct.unpack_from(">I", buf, _BODY.size)
    if crc != zlib.crc32(buf[: _BODY.size]):
        raise errors.DataError("corrupt length announcement (CRC mismatch)")
    return length


def looks_announced(first):
    return bytes(first[: len(MAGIC)]) == MAGIC


class Reader:
    """readinto() over a source, after taking its announcement (`.length`) off the front."""

    def __init__(self, readinto):
        self._readinto = readinto
        head = bytearray(SIZE)
        got = 0
        while got < SIZE:
            n = readinto(memoryview(head)[got:])
            if not n:
                break
            got += n
        if got == 0:
            raise errors.NoInputError("empty input: no length announcement")
        self.length = decode(head[:got])

    def readinto(self, mv):
        return self._readinto(mv)


class Guard:
    """readinto() that refuses an announcement it was not told to expect (first bytes only)."""

    def __init__(self, readinto):
        self._readinto = readinto
        self._head = b""
        self._checked = False

    def readinto(self, mv):
        n = self._readinto(mv)
        if not self._checked and n:
            self._head += bytes(mv[: min(n, len(MAGIC))])
            if len(self._head) >= len(MAGIC):
                self._checked = True
                if looks_announced(self._head):
                    raise errors.DataError("input starts with a length announcement: pass --announced "
                                           "(or drop --announce from `hdfs2s3kit cat`)")
        return n
