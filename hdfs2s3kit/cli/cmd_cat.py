"""`hdfs2s3kit cat SRC`: stream a source to stdout, failing (74) rather than coming up short."""

import mmap
import os
from typing import Optional

import typer

from .. import announce, errors, fastio, hdfs
from . import clikit, common

PROG = "hdfs2s3kit cat"
CHUNK = 1 << 20


def _write_all(fd, view):
    while view:
        n = os.write(fd, view)
        view = view[n:]


def cat_to_fd(src, fd, hadoop_cmd=None, config_prefix=None, announce_length=False):
    """Stream SRC to fd if this user may move it (the policy in force: site, config), checking
    the reader's exit status, SRC's length and, at EOF, that the file read is the one allowed
    (binding); returns the byte count. With announce_length, SRC's length goes first
    (announce.py), for `fernet-encrypt --announced`."""
    from .. import binding, identity, paths

    fastio.enlarge_pipe(fd, CHUNK)
    src = paths.absolute(src)
    hdfs.check_path(src)
    with binding.open_authorized(src, identity.lookup(), common.effective_policy(config_prefix, None),
                                 hadoop_cmd=hadoop_cmd) as r:
        if announce_length:
            _write_all(fd, memoryview(announce.encode(int(r.stat.length))))
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
                 "locally) to stdout, if you may move it (as authz-check decides; nothing is written "
                 "otherwise). Exit 77 if denied, or if the file stopped being allowed while read; 65 if "
                 "it changed while read; 74 if the reader fails or the byte count differs from the "
                 "length `-stat` reported; 66 if SRC is missing or a directory; 69 if the Hadoop client "
                 "($HADOOP_CMD, default `hadoop`) is missing. After a non-zero exit, discard what was "
                 "written.")
    def cat(src: str = typer.Argument(..., help="the source path"),
            config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (or $HDFS2S3_CONFIG)"),
            announce_length: bool = typer.Option(False, "--announce", help="Write SRC's length first (20 bytes, "
                                                 "docs/FORMAT.md), so that `fernet-encrypt --announced` seals the "
                                                 "stream only if every byte arrived, even when no parent shell "
                                                 "is left to notice a failed read.")):
        raise typer.Exit(common.run(PROG, clikit.like_cat(_cat), src, config, announce_length))


def _cat(src, config, announce_length=False):
    if announce_length and os.isatty(1):
        raise errors.UsageError("--announce writes a binary length header: pipe it into fernet-encrypt --announced")
    cat_to_fd(src, 1, config_prefix=config, announce_length=announce_length)
    return 0
