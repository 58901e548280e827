"""`s3-put-sts s3://BUCKET/KEY`: stdin to S3 with temporary credentials, completed only when whole."""

import socket
import sys

from .. import aws, errors, identity, s3put, sitepolicy, status, stdfds, sts, verbosity
from . import clikit, common
from . import credential_options as opts
from . import object_options as objopts
from .argspec import Argument, Option

PROG = "s3-put-sts"
HELP = ("Upload stdin to s3://BUCKET/KEY as one object, or nothing at all. "
        "Prints one JSON status record on stdout (docs/STATUS.md).")


def command(
    url: str = Argument(..., metavar="s3://BUCKET/KEY"),
    role_arn: str | None = opts.ROLE_ARN,
    assume_role: bool = opts.ASSUME_ROLE,
    config: str | None = opts.CONFIG,
    session_duration: int = opts.SESSION_DURATION,
    expected_size: str | None = Option(None, help="Exact input size (e.g. 12GiB); any other count aborts."),
    framed: bool | None = Option(None, "--framed/--raw",
                                 help="Input is a fernet-encrypt stream (default: detect its magic)."),
    part_size: str | None = Option(None, help="First part size (default 8MiB, growing for long streams)."),
    concurrency: int | None = Option(None, min=1, max=64, help="Parts in flight (default 6)."),
    checksum_algorithm: str | None = Option(None, help="CRC64NVME, CRC32C or CRC32 (default: best available)."),
    overwrite: bool = Option(False, "--overwrite", help="Replace an existing object."),
    metadata: list[str] = objopts.METADATA,
    tag: list[str] = objopts.TAG,
    storage_class: str | None = objopts.STORAGE_CLASS,
    sse: str | None = objopts.SSE,
    sse_kms_key_id: str | None = objopts.SSE_KMS_KEY_ID,
    bwlimit: str | None = objopts.BWLIMIT,
    progress: bool | None = Option(None, "--progress/--no-progress", help="Default: when stderr is a TTY."),
):
    obj = (storage_class, tag, metadata, sse, sse_kms_key_id)
    return common.run(PROG, _main, url, role_arn, assume_role, config, session_duration, expected_size, framed,
                      part_size, concurrency, checksum_algorithm, overwrite, obj, bwlimit, progress)


def _main(url, role_arn, assume_role, config, duration, expected_size, framed, part_size, concurrency,
          algorithm, overwrite, obj, bwlimit, progress):
    from .. import bwlimit as bw, progress as progress_mod

    rec = status.new_record(PROG, src="-", user=identity.audit_name(), host=socket.gethostname())
    show = None
    try:
        bucket, key = aws.parse_s3_url(url)
        rec.update(bucket=bucket, key=key)
        s3put.check_key(key)
        opts = objopts.parse(*obj, reserve_ours=False)
        rec.update(opts.record_fields())
        limit = bw.limiter(bwlimit)
        expected = s3put.parse_size(expected_size, "--expected-size")
        psize = s3put.parse_size(part_size, "--part-size")
        if stdfds.stdin_closed():
            raise errors.NoInputError("stdin is closed: nothing to upload")
        if sys.stdin is None or sys.stdin.isatty():
            raise errors.UsageError("stdin is a terminal: pipe the data to upload into s3-put-sts")
        sitepolicy.effective().check_destination(bucket, key)   # the site's allowed destinations
        session, role, name, cfg = sts.session_for(role_arn=role_arn, assume_role=assume_role,
                                                   config_prefix=config, duration=duration,
                                                   scope=[(bucket, key, False)], lean=PROG)
        rec.update(role_arn=role, session_name=name)
        if cfg is not None:
            psize = psize or cfg.int("part_size")
            concurrency = concurrency or cfg.int("concurrency")
        conc = concurrency or s3put.DEFAULT_CONCURRENCY
        s3 = aws.s3_client(session, concurrency=conc)
        src = s3put.stdin_source()
        show = common.stderr_is_tty() and not verbosity.quiet() if progress is None else progress
        if show:   # a total (percent, ETA) when the size is known: --expected-size or `< regular-file`
            show = progress_mod.Meter(url, expected if expected is not None else progress_mod.stdin_size())
        s3put.upload(src, bucket, key, s3=s3, framed=framed, expected_size=expected, part_size=psize,
                     concurrency=conc, checksum_algorithm=algorithm, overwrite=overwrite, metadata=opts.metadata,
                     progress=show, record=rec, bwlimit=limit, extra=opts.request_args())
        if show:
            show.finish()
    except BaseException as e:
        if show:
            show.close()
        err = s3put.recorded_failure(e, rec, url)
        _deliver(err.record)
        raise err from None
    _deliver(rec)
    verbosity.file_line(PROG, rec)
    return 0


def _deliver(rec):
    """The record on stdout. A reader that went away (`| true`) does not turn a stored
    object into a failure: the outcome stays the exit code, the loss is said on stderr."""
    try:
        if stdfds.stdout_closed():
            raise BrokenPipeError
        common.emit_json(rec)
    except (BrokenPipeError, ValueError, OSError):
        common.quiet_stdout()
        common.log(PROG, f"status record not delivered (stdout closed); status {rec.get('status')}, "
                         f"exit {rec.get('exit_code')}")


def main():
    clikit.filter_main(command, PROG, help=HELP)


if __name__ == "__main__":
    main()
