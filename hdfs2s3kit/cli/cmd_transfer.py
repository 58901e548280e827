"""`hdfs2s3kit transfer SRC... [DEST]`: authorize, read, encrypt, upload, verify, report."""

from typing import List, Optional

import typer

from . import common


def _items(args, from_file):
    """SRC... [DEST] plus LISTING lines (`SRC` or `SRC<TAB>DEST`) -> [(src, dest)]."""
    from .. import errors

    args = list(args or [])
    dest = args.pop() if len(args) > 1 and args[-1].startswith("s3://") else None
    if dest and len(args) > 1 and not dest.endswith("/"):
        raise errors.UsageError(f"several sources need a DEST ending in '/' (a prefix), not {dest}")
    items = [(a, dest) for a in args]
    if from_file:
        try:
            with open(from_file, encoding="utf-8") as f:
                for line in f:
                    line = line.rstrip("\r\n")
                    if line.strip():
                        src, _, d = line.partition("\t")
                        items.append((src, d or None))
        except OSError as e:
            raise errors.NoInputError(f"--from-file {from_file}: {e.strerror}") from None
    if not items:
        raise errors.UsageError("nothing to transfer: give SRC arguments or --from-file LISTING")
    return items


def _run(args, from_file, force, notify, **kw):
    from .. import errors, notifications, transfer

    if notify not in (None, "none", *notifications.MODES):
        raise errors.UsageError(f"--notify must be one of {', '.join(notifications.MODES)}, none; not {notify!r}")
    items = _items(args, from_file)
    with transfer.Transfer(notify=notify, **kw) as t:
        try:
            for rec in t.iter_many(items, force=force):
                common.emit_json(rec)
        except errors.Interrupted as e:
            if e.record is not None:
                common.emit_json(e.record)
            raise
    s = transfer.summarize(t.records)
    if s["files"] > 1:
        common.log("transfer", f"{s['files']} files: {s['ok']} ok, {s['skipped']} skipped, {s['failed']} failed; "
                               f"{s['src_bytes']} bytes sent")
    for r in t.records:
        if r["status"] not in ("ok", "skipped"):
            common.log("transfer", f"{r['status']}: {r['error']}")
    return transfer.exit_code(t.records)


HELP = (
    "Move files into S3 encrypted: authz, read, encrypt, gated upload, checksum, report.\n\n"
    "One JSON status record per file on stdout (docs/STATUS.md); exit 0 when every file is ok or "
    "skipped, else the first failure's code. Without DEST a file goes to s3://BUCKET/PREFIX/<source "
    "path> (bucket and prefix from the config). If DEST already holds the same source version (path, "
    "length, mtime in its metadata) the file is `skipped`; another version is refused (73) unless "
    "--force."
)


def register(app):
    @app.command("transfer", help=HELP)
    def transfer_cmd(
        args: Optional[List[str]] = typer.Argument(None, metavar="SRC... [DEST]",
                                                   help="Sources (hdfs://, viewfs://, /path, file://); last s3:// is DEST."),
        from_file: Optional[str] = typer.Option(None, "--from-file", help="Listing: SRC or SRC<TAB>DEST per line."),
        force: bool = typer.Option(False, "--force", help="Send again even if DEST holds the same source version."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (default $HDFS2S3_CONFIG)."),
        key_file: Optional[str] = typer.Option(None, "--key-file", help="Offline Fernet key file instead of SSM."),
        role_arn: Optional[str] = typer.Option(None, "--role-arn", help="Role to assume (default: config role_arn)."),
        assume_role: bool = typer.Option(True, "--assume-role/--no-assume-role", help="Use STS AssumeRole."),
        threads: Optional[int] = typer.Option(None, "--threads", help="Encryption threads."),
        part_size: Optional[int] = typer.Option(None, "--part-size", help="Multipart part size in bytes."),
        concurrency: Optional[int] = typer.Option(None, "--concurrency", help="Parallel part uploads."),
        notify: Optional[str] = typer.Option(None, "--notify", help="default|failure|always|summary|none."),
        metrics: bool = typer.Option(True, "--metrics/--no-metrics", help="CloudWatch metrics."),
        progress: Optional[bool] = typer.Option(None, "--progress/--no-progress", help="Progress on stderr."),
    ):
        rc = common.run("transfer", _run, args, from_file, force, notify, config_prefix=config,
                        key_file=key_file, role_arn=role_arn, assume_role=assume_role, threads=threads,
                        part_size=part_size, concurrency=concurrency, metrics=metrics,
                        progress=common.stderr_is_tty() if progress is None else progress)
        raise typer.Exit(rc)
