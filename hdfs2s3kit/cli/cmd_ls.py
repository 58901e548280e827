"""`hdfs2s3kit ls SRC...`: the regular files below each SRC, one per line: a listing for
`transfer --from-file`, `map` and `job` (one Hadoop call per tree, filters as `transfer -r`)."""

import sys
from typing import List

import typer

from . import common

PROG = "hdfs2s3kit ls"

HELP = ("Print the regular files below each SRC (recursively; a file SRC prints itself), one path per "
        "line: a listing for `transfer --from-file`, `map` and `job`. One `hadoop fs -ls -R` per tree; "
        "directories, symbolic links and other non-regular entries are left out. --include/--exclude as "
        "for `transfer -r`. Exit 66 if a SRC is missing (the others are still listed), 69 if the Hadoop "
        "client is missing.")


def register(app):
    @app.command("ls", help=HELP)
    def ls_cmd(
        srcs: List[str] = typer.Argument(..., metavar="SRC...", help="Directories or files (hdfs://, /path, file://)."),
        include: List[str] = typer.Option([], "--include", help="Only files matching this glob (repeatable)."),
        exclude: List[str] = typer.Option([], "--exclude", help="Skip files matching this glob (repeatable)."),
        null: bool = typer.Option(False, "-0", "--null", help="End each path with NUL instead of a newline."),
    ):
        raise typer.Exit(common.run(PROG, _ls, srcs, include, exclude, null))


def _ls(srcs, include, exclude, null):
    from .. import errors, listing

    filt = listing.Filter(include, exclude)
    end = b"\0" if null else b"\n"
    rc = 0
    out = sys.stdout.buffer
    for src in srcs:
        try:
            entries = listing.list_tree(src)
        except errors.KitError as e:
            if e.code in (errors.UNAVAILABLE, errors.USAGE):
                raise
            common.log(PROG, e.message)
            rc = rc or e.code
            continue
        single = len(entries) == 1 and entries[0].path.rstrip("/") == src.rstrip("/")
        for e in entries:
            if e.is_file and (single or filt.keep(e.rel)):
                path = e.path.encode(errors="surrogateescape")
                if not null and b"\n" in path:
                    common.log(PROG, f"left out a path with a newline (use -0): {e.path!r}")
                    continue
                out.write(path + end)
    out.flush()
    return rc
