"""Closed standard descriptors (`<&-`, `>&-`, `2>&-`) made harmless.

A process started with fd 0, 1 or 2 closed hands that number to the next file
it opens -- here, an HTTP socket -- so a message meant for stderr would be
written into an S3 request, and Python itself sets sys.stdout/sys.stderr to
None (a traceback at the first print). `guard()` parks /dev/null on every
closed one before anything else is opened, and remembers which were closed so
that commands can say so (stdin closed is "no input", not "a terminal").
"""

import io
import os
import sys

closed = set()        # standard fds that were closed when guard() ran


def _is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


def guard():
    """Idempotent; call first thing in a command."""
    for fd in (0, 1, 2):
        if fd in closed or _is_open(fd):
            continue
        null = os.open(os.devnull, os.O_RDONLY if fd == 0 else os.O_WRONLY)
        if null != fd:
            os.dup2(null, fd)
            os.close(null)
        closed.add(fd)
    if 0 in closed and (sys.stdin is None or sys.stdin.closed):
        sys.stdin = io.TextIOWrapper(io.FileIO(0, "rb", closefd=False))
    if 1 in closed and (sys.stdout is None or sys.stdout.closed):
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "wb", closefd=False), write_through=True)
    if 2 in closed and (sys.stderr is None or sys.stderr.closed):
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "wb", closefd=False), write_through=True)


def stdin_closed():
    return 0 in closed


def stdout_closed():
    return 1 in closed
