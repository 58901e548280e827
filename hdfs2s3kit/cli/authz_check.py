"""`authz-check [PATH...]`: may this user move these files? A check, or a filter over stdin."""

import os
import sys
from typing import List, Optional

import typer

from .. import authz, errors, hdfs, identity
from . import clikit, common

PROG = "authz-check"

app = clikit.app()


def read_records(stream, sep):
    """Non-empty records of a binary stream split on sep, as str (undecodable bytes kept)."""
    buf = b""
    while chunk := stream.read(1 << 16):
        *items, buf = (buf + chunk).split(sep)
        yield from (i.decode(errors="surrogateescape").rstrip("\r") for i in items if i.strip(b"\r"))
    if buf.strip(b"\r"):
        yield buf.decode(errors="surrogateescape").rstrip("\r")


def _check(paths, user, policy, config_prefix, audit, null):
    for p in paths:
        hdfs.check_path(p)  # argument mode: a suspicious path is a usage error before any work
    if user is not None and os.geteuid() != 0 and user != identity.effective_user():
        raise errors.PermissionDeniedError("only root may check on behalf of another user (--user)")
    ident = identity.lookup(user)
    cfg = None
    if config_prefix or os.environ.get("HDFS2S3_CONFIG"):
        from .. import config  # imports boto3: only when a config is asked for

        cfg = config.load_config(config_prefix)
    policy, allowed_groups = authz.policy_from_config(cfg, policy)
    sep = b"\0" if null else b"\n"
    source = paths or read_records(sys.stdin.buffer, sep)
    codes = []
    for d in authz.check_iter(source, ident, policy=policy, allowed_groups=allowed_groups):
        if not d.allowed and not audit:   # with --audit the JSON line says it: stderr stays JSON lines
            common.log(PROG, f"denied {d.path}: {d.reason}" if d.stat else d.reason)
        if audit:
            common.emit_json(d.audit_record(), sys.stderr)
        if d.allowed and not paths:
            sys.stdout.buffer.write(d.path.encode(errors="surrogateescape") + sep)
        codes.append(d.code)
    return authz.exit_code(codes)


@app.command(help="Check that a user may move files, by the file's HDFS group (or POSIX bits).\n\n"
             "With PATHs: exit 0 if all are allowed, 77 if any is denied. Without: a filter reading paths "
             "from stdin (one per line, or NUL-separated with -0), writing the allowed ones to stdout. "
             "Denials go to stderr. Exit 66 if a path is missing and nothing else failed; 67 unknown user; "
             "69 Hadoop client missing ($HADOOP_CMD, default `hadoop`); 2 for a path starting with '-' "
             "(the whole run with PATHs, per path in filter mode).")
def check(
    paths: Optional[List[str]] = typer.Argument(None, help="bare /path, hdfs://, viewfs:// or file:// paths"),
    user: Optional[str] = typer.Option(None, "--user", help="check for this user (root only; default: you)"),
    policy: Optional[str] = typer.Option(None, "--policy",
                                         help="group | posix (default: config authz_policy, else group)"),
    config_prefix: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (or $HDFS2S3_CONFIG)"),
    audit: bool = typer.Option(False, "--audit", help="one JSON line per decision on stderr (and only "
                               "those: denials are in them)"),
    null: bool = typer.Option(False, "-0", "--null", help="stdin/stdout paths are NUL-separated"),
):
    raise typer.Exit(common.run(PROG, _check, paths or [], user, policy, config_prefix, audit, null))


def main():
    clikit.main(app, PROG)


if __name__ == "__main__":
    main()
