"""Pipe I/O at crypto speed: page-aligned reusable buffers, big pipes, exact reads.

Measured here (see /work/shared/README.md): a bytearray of >= 128 KiB starts
16 bytes past a page boundary and pipe reads into it cost 2.3-2.5x more kernel
time; fresh buffers per chunk cost up to 2 M page faults/GiB; 64 KiB pipes
cap a Python filter near 400 MB/s. So buffers come from mmap (page-aligned,
allocated once) and both pipes are enlarged to 1 MiB when they are pipes.
"""

import fcntl
import io
import mmap

F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)
PIPE_SIZE = 1024 * 1024   # the largest size an unprivileged process may set by default


def alloc(size):
    """A zero-filled, page-aligned, writable buffer of `size` bytes (a memoryview).

    Pages are only committed when touched, so a generous size costs nothing
    until used."""
    return memoryview(mmap.mmap(-1, max(size, 1)))[:size]


def enlarge_pipe(fd, size=PIPE_SIZE):
    """Best effort: a no-op for files, terminals and sockets, or when refused."""
    try:
        fcntl.fcntl(fd, F_SETPIPE_SZ, size)
    except OSError:
        pass


def std_streams():
    """Unbuffered stdin/stdout (no copy through a BufferedReader), pipes enlarged."""
    for fd in (0, 1):
        enlarge_pipe(fd)
    return io.FileIO(0, "rb", closefd=False), io.FileIO(1, "wb", closefd=False)


def reader_of(src):
    """readinto(mv) -> n for any binary source: readinto, else read()+copy."""
    readinto = getattr(src, "readinto", None)
    if readinto is not None:
        return readinto

    def _readinto(mv):
        data = src.read(len(mv))
        n = len(data)
        mv[:n] = data
        return n

    return _readinto


def read_via(readinto, n=-1):
    """read(n) for a reader built on readinto(mv): up to n bytes (1 MiB for n None or < 0)."""
    if n is None or n < 0:
        n = 1 << 20
    buf = bytearray(n)
    got = readinto(memoryview(buf))
    return bytes(memoryview(buf)[:got])


def fill(readinto, mv):
    """Read until mv is full or EOF; -> bytes read. Short reads from pipes are normal."""
    want = len(mv)
    got = 0
    while got < want:
        n = readinto(mv[got:])
        if not n:
            if n is None:   # non-blocking source with nothing yet: not supported
                raise BlockingIOError("source is non-blocking")
            break
        got += n
    return got


def write_all(dst, mv):
    """Write every byte: raw files (FileIO) may accept fewer than offered.

    The caller may reuse mv right after this returns, which every file object
    honours (they copy or write before returning)."""
    n = dst.write(mv)
    if n is None or n >= len(mv):
        return
    mv = memoryview(mv)
    while n < len(mv):
        k = dst.write(mv[n:])
        n += len(mv) - n if k is None else k
