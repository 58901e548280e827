"""`s3-get-sts s3://BUCKET/KEY`: an object to stdout, fetched in parallel, checksum checked at the end."""

import socket
import sys

from .. import aws, errors, fastio, identity, s3get, s3put, status, sts, verbosity
from . import clikit, common
from . import credential_options as opts
from . import object_options as objopts
from .argspec import Argument, Option

PROG = "s3-get-sts"
HELP = ("Stream s3://BUCKET/KEY to stdout (concurrent ranged GETs, in order). A non-zero exit "
        "means the bytes written cannot be trusted (e.g. 65: checksum mismatch).")


def command(
    url: str = Argument(..., metavar="s3://BUCKET/KEY"),
    role_arn: str | None = opts.ROLE_ARN,
    assume_role: bool = opts.ASSUME_ROLE,
    config: str | None = opts.CONFIG,
    session_duration: int = opts.SESSION_DURATION,
    version_id: str | None = Option(None, help="Object version to read."),
    chunk_size: str | None = Option(None, help="Range size (default 8MiB)."),
    concurrency: int | None = Option(None, min=1, max=64, help="Ranges in flight (default 4)."),
    summary: bool = Option(False, "--summary", help="Print one JSON status record on stderr."),
    bwlimit: str | None = objopts.BWLIMIT,
    progress: bool | None = Option(None, "--progress/--no-progress", help="Default: when stderr is a TTY."),
):
    return common.run(PROG, _main, url, role_arn, assume_role, config, session_duration, version_id, chunk_size,
                      concurrency, summary, bwlimit, progress)


def _main(url, role_arn, assume_role, config, duration, version_id, chunk_size, concurrency, summary, bwlimit,
          progress):
    from .. import bwlimit as bw

    rec = status.new_record(PROG, user=identity.audit_name(), host=socket.gethostname())
    try:
        limit = bw.limiter(bwlimit)
        bucket, key = aws.parse_s3_url(url)
        rec.update(bucket=bucket, key=key)
        chunk = s3put.parse_size(chunk_size, "--chunk-size")
        if sys.stdout.isatty():
            raise errors.UsageError("stdout is a terminal: redirect or pipe the object's bytes")
        session, role, name, cfg = sts.session_for(role_arn=role_arn, assume_role=assume_role,
                                                   config_prefix=config, duration=duration,
                                                   scope=[(bucket, key, False)], lean=PROG)
        rec.update(role_arn=role, session_name=name)
        conc = concurrency or (cfg.int("concurrency") if cfg is not None else None) or s3get.DEFAULT_CONCURRENCY
        s3 = aws.s3_client(session, concurrency=conc)
        out = open(sys.stdout.fileno(), "wb", buffering=0, closefd=False)
        fastio.enlarge_pipe(out.fileno())
        s3get.download(s3, bucket, key, _Writer(out), concurrency=conc, chunk_size=chunk, version_id=version_id,
                       progress=common.stderr_is_tty() and not verbosity.quiet() if progress is None else progress,
                       record=rec, bwlimit=limit)
    except BaseException as e:
        err = s3put.recorded_failure(e, rec, url, "downloading")
        if summary:
            common.emit_json(err.record, sys.stderr)
        raise err from None
    if summary:
        common.emit_json(rec, sys.stderr)
    verbosity.file_line(PROG, rec)
    return 0


class _Writer:
    """write() that loops over short writes of the raw (unbuffered) stdout."""

    def __init__(self, raw):
        self.raw = raw

    def write(self, mv):
        try:
            fastio.write_all(self.raw, mv)
        except BrokenPipeError:        # the reader went away (`| head`): end like cat
            clikit.die_of_sigpipe()


def main():
    clikit.filter_main(command, PROG, help=HELP)


if __name__ == "__main__":
    main()
