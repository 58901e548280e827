"""`hdfs2s3kit cat SRC`: stream a source to stdout, failing (74) rather than coming up short."""

import mmap
import os

import typer

from .. import fastio, hdfs
from . import clikit, common

PROG = "hdfs2s3kit cat"
CHUNK = 1 << 20


def _write_all(fd, view):
    while view:
        n = os.write(fd, view)
        view = view[n:]


def cat_to_fd(src, fd, hadoop_cmd=None):
    """Stream SRC to fd, checking the reader's exit status and SRC's length; returns the byte count."""
    fastio.enlarge_pipe(fd, CHUNK)
    with hdfs.open_checked(src, hadoop_cmd=hadoop_cmd) as r:
        while n := r.send_to(fd, CHUNK):  # in-kernel copy when fd allows it
            pass
        if n is None:  # e.g. a terminal: copy through a page-aligned buffer instead
            buf = mmap.mmap(-1, CHUNK)
            view = memoryview(buf)
            try:
                while n := r.readinto(view):
                    _write_all(fd, view[:n])
            finally:
                view.release()
                buf.close()
        return r.bytes_read


def register(app):
    @app.command("cat", help="Stream SRC (bare /path, hdfs://, viewfs:// via `hadoop fs -cat`; file:// "
                 "locally) to stdout. Exit 74 if the reader fails or the byte count differs from the "
                 "length `-stat` reported; 66 if SRC is missing or a directory; 69 if the Hadoop client "
                 "($HADOOP_CMD, default `hadoop`) is missing.")
    def cat(src: str = typer.Argument(..., help="the source path")):
        clikit.quiet_sigpipe()
        raise typer.Exit(common.run(PROG, _cat, src))


def _cat(src):
    cat_to_fd(src, 1)
    return 0
