"""`hdfs2s3kit transfer SRC... [DEST]`: authorize, read, encrypt, upload, verify, report."""

from typing import List, Optional

import typer

from . import common
from . import object_options as objopts


def _read_listing(from_file, null=False):
    """LISTING (`SRC` or `SRC<TAB>DEST` lines; with null, NUL-separated SRC records taken byte
    for byte) from a file, or stdin for '-'."""
    import sys

    from .. import errors, paths

    if from_file.startswith("-") and from_file != "-":
        raise errors.UsageError(f"refusing a --from-file that looks like an option: {from_file!r} (use ./{from_file})")
    try:
        f = sys.stdin.buffer if from_file == "-" else open(from_file, "rb")
    except OSError as e:
        raise errors.NoInputError(f"--from-file {from_file}: {e.strerror}") from None
    out = []
    with f if from_file != "-" else _nullcontext():
        for n, rec in enumerate(paths.records(f, null), 1):
            if null:
                out.append((rec, None))
                continue
            src, tab, d = rec.partition("\t")
            # One TAB separates SRC from an s3:// DEST; any other TAB, or a CR, is part of a
            # name the line format cannot carry: refused, never split or trimmed.
            if tab and (not d.startswith("s3://") or "\t" in d):
                src, d = rec, ""
            why = paths.line_problem(src) or paths.line_problem(d)
            if why:
                raise errors.UsageError(f"--from-file {from_file} line {n}: {why}")
            if src.strip():
                out.append((src, d or None))
    return out


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()


def _items(args, from_file, recursive=False, null=False):
    """SRC... [DEST] plus LISTING lines -> [(src, dest)]."""
    from .. import errors

    args = list(args or [])
    dest = args.pop() if len(args) > 1 and args[-1].startswith("s3://") else None
    if dest and recursive and not dest.endswith("/"):
        dest += "/"          # -r: DEST is always a prefix (as with `aws s3 cp --recursive`)
    if dest and len(args) > 1 and not dest.endswith("/"):
        raise errors.UsageError(f"several sources need a DEST ending in '/' (a prefix), not {dest}")
    items = [(a, dest) for a in args]
    if from_file:
        items += _read_listing(from_file, null)
    if not items:
        raise errors.UsageError("nothing to transfer: give SRC arguments or --from-file LISTING")
    return items


def _run(args, from_file, force, notify, recursive, include, exclude, jobs, obj, bwlimit, null=False, **kw):
    from .. import batchrun, bwlimit as bw, errors, listing, notifications, objectopts, transfer, verbosity

    if notify not in (None, "none", *notifications.MODES):
        raise errors.UsageError(f"--notify must be one of {', '.join(notifications.MODES)}, none; not {notify!r}")
    if (include or exclude) and not recursive:
        raise errors.UsageError("--include/--exclude filter what -r/--recursive finds: add -r")
    if jobs < 1:
        raise errors.UsageError(f"-j/--jobs must be at least 1, not {jobs}")
    opts = objectopts.parse(*obj)
    limit = bw.limiter(bwlimit)
    kw["part_size"] = _size(kw.get("part_size"), "--part-size")
    items = _items(args, from_file, recursive, null)
    if recursive:
        filt = listing.Filter(include, exclude)
        items = listing.expand(items, filt=filt, hadoop_cmd=None,
                               on_error=lambda src, e: verbosity.info("transfer", f"cannot list {src}: {e.message}"))
        if not items:
            verbosity.info("transfer", "nothing to transfer: no regular file matched")
            return 0
    show = kw.pop("progress")
    emitted = set()

    def emit(rec):
        if id(rec) not in emitted:
            emitted.add(id(rec))
            common.emit_json(rec)
            verbosity.file_line("transfer", rec)

    # lean=: no botocore (its import and ~55 MiB) whenever the lean path does what it would
    with transfer.Transfer(notify=notify, bwlimit=limit, object_options=opts, lean="transfer", **kw) as t:
        try:
            for rec in batchrun.run(t, items, jobs=jobs, force=force, show_progress=show):
                emit(rec)
        except errors.Interrupted as e:
            t.abort_pending(e)               # files waiting for their re-check: aborted, recorded
            for rec in list(t.records):      # files that other workers stopped, then this one
                emit(rec)
            if e.record is not None:
                emit(e.record)
            raise
    s = transfer.summarize(t.records)
    if s["files"] > 1 and kw.get("dry_run"):
        counts = ", ".join(f"{n} {st}" for st, n in sorted(s["by_status"].items()))
        verbosity.info("transfer", f"dry run, {s['files']} files: {counts}; nothing read or uploaded")
    elif s["files"] > 1:
        verbosity.info("transfer", f"{s['files']} files: {s['ok']} ok, {s['skipped']} skipped, "
                                   f"{s['failed']} failed; {s['src_bytes']} bytes sent")
    for r in t.records:
        if status_failed(r):
            common.log("transfer", f"{r['status']}: {r['error']}")
    return transfer.exit_code(t.records)


def status_failed(rec):
    from .. import status

    return status.is_failure(rec)


def _size(text, what):
    from .. import s3put

    return s3put.parse_size(text, what)


HELP = (
    "Move files into S3 encrypted: authz, read, encrypt, gated upload, checksum, report.\n\n"
    "One JSON status record per file on stdout (docs/STATUS.md); exit 0 when every file is ok or "
    "skipped, else the first failure's code. Without DEST a file goes to s3://BUCKET/PREFIX/<source "
    "path> (bucket and prefix from the config). If DEST already holds the same source version (path, "
    "length, mtime in its metadata) the file is `skipped`; another version is refused (73) unless "
    "--force.\n\n"
    "With -r a directory SRC stands for the regular files below it (one `hadoop fs -ls -R` per tree): "
    "DEST/<dir name>/<path below it>, or DEST/<path below it> for a SRC ending in '/'. --include/--exclude "
    "are rclone-like globs on the path below the tree (excludes win). README: 'Directories, dry runs, "
    "many files at once'."
)


def register(app):
    @app.command("transfer", help=HELP)
    def transfer_cmd(
        args: Optional[List[str]] = typer.Argument(None, metavar="SRC... [DEST]",
                                                   help="Sources (hdfs://, viewfs://, /path, file://); last s3:// is DEST."),
        from_file: Optional[str] = typer.Option(None, "--from-file",
                                                help="Listing: SRC or SRC<TAB>DEST per line ('-': stdin)."),
        recursive: bool = typer.Option(False, "-r", "--recursive",
                                       help="Send the regular files below each directory SRC (one listing per tree)."),
        include: List[str] = typer.Option([], "--include", help="With -r: only files matching this glob (repeatable)."),
        exclude: List[str] = typer.Option([], "--exclude", help="With -r: skip files matching this glob (repeatable)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Authorize and check DEST only; one record per file "
                                     "(would_send, would_skip, denied, ...); nothing read or uploaded."),
        jobs: int = typer.Option(1, "-j", "--jobs", help="Files in flight at once (shared set-up; memory grows "
                                 "with N, see README)."),
        null: bool = typer.Option(False, "-0", "--null", help="--from-file holds NUL-separated sources "
                                  "(any name, byte for byte; DEST by the default mapping)."),
        force: bool = typer.Option(False, "--force", help="Send again even if DEST holds the same source version."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (default $HDFS2S3_CONFIG)."),
        key_file: Optional[str] = typer.Option(None, "--key-file", help="Offline Fernet key file instead of SSM."),
        role_arn: Optional[str] = typer.Option(None, "--role-arn", help="Role to assume (default: config role_arn)."),
        assume_role: bool = typer.Option(True, "--assume-role/--no-assume-role", help="Use STS AssumeRole."),
        threads: Optional[int] = typer.Option(None, "--threads", help="Encryption threads."),
        part_size: Optional[str] = typer.Option(None, "--part-size", help="Multipart part size, e.g. 16MiB."),
        concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Parallel part uploads per file."),
        bwlimit: Optional[str] = objopts.BWLIMIT.typer(),
        storage_class: Optional[str] = objopts.STORAGE_CLASS.typer(),
        tag: List[str] = objopts.TAG.typer(),
        metadata: List[str] = objopts.METADATA.typer(),
        sse: Optional[str] = objopts.SSE.typer(),
        sse_kms_key_id: Optional[str] = objopts.SSE_KMS_KEY_ID.typer(),
        notify: Optional[str] = typer.Option(None, "--notify", help="default|failure|always|summary|none."),
        metrics: bool = typer.Option(True, "--metrics/--no-metrics", help="CloudWatch metrics."),
        progress: Optional[bool] = typer.Option(None, "--progress/--no-progress",
                                                help="Progress on stderr (default: when it is a terminal)."),
    ):
        from .. import verbosity

        show = common.stderr_is_tty() and not verbosity.quiet() if progress is None else progress
        rc = common.run("transfer", _run, args, from_file, force, notify, recursive, include, exclude, jobs,
                        (storage_class, tag, metadata, sse, sse_kms_key_id), bwlimit, null=null, config_prefix=config,
                        key_file=key_file, role_arn=role_arn, assume_role=assume_role, threads=threads,
                        part_size=part_size, concurrency=concurrency, metrics=metrics, dry_run=dry_run,
                        progress=show)
        raise typer.Exit(rc)
