"""`authz-check [PATH...]`: may this user move these files? A check, or a filter over stdin."""

import os
import sys

from .. import authz, errors, hdfs, identity, paths as pathmod
from . import clikit, common
from .argspec import Argument, Option

PROG = "authz-check"
HELP = ("Check that a user may move files, by the file's HDFS group (or POSIX bits).\n\n"
        "With PATHs: exit 0 if all are allowed, 77 if any is denied. Without: a filter reading paths "
        "from stdin (one per line, or NUL-separated with -0), writing the allowed ones to stdout. "
        "Denials go to stderr (with --audit: only JSON lines, one per decision). A site policy "
        "(/etc/hdfs2s3kit/site.conf, docs/SECURITY.md) and the SSM config can only be tightened by "
        "--policy. Exit 66 if a path is missing and nothing else failed; 67 unknown user; "
        "69 Hadoop client missing ($HADOOP_CMD, default `hadoop`); 2 for a path starting with '-', "
        "or holding a newline, CR or TAB in a line listing (the whole run with PATHs, per path in "
        "filter mode).")


def _refused(path, err):
    return authz.Decision(path, False, err.message, None, err.code)


def _check(paths, user, policy, config_prefix, audit, null):
    for p in paths:
        hdfs.check_path(p)  # argument mode: a suspicious path is a usage error before any work
    if user is not None and os.geteuid() != 0 and user != identity.effective_user():
        raise errors.PermissionDeniedError("only root may check on behalf of another user (--user)")
    ident = identity.lookup(user)
    pol = common.effective_policy(config_prefix, policy)
    sep = b"\0" if null else b"\n"

    def source():
        for p in paths or pathmod.records(sys.stdin.buffer, null):
            if not null and not paths:
                # a line listing cannot carry these; what comes out must be what went in
                why = pathmod.line_problem(p)
                if why:
                    yield _refused(p, errors.UsageError(f"refusing {errors.printable(p)}: {why}"))
                    continue
            yield p

    codes = []
    for d in authz.check_iter(source(), ident, policy=pol):
        if audit:
            common.emit_json(d.audit_record(), sys.stderr)
        elif not d.allowed:
            common.log(PROG, f"denied {d.path}: {d.reason}" if d.stat else d.reason)
        if d.allowed and not paths:
            sys.stdout.buffer.write(d.path.encode(errors="surrogateescape") + sep)
        codes.append(d.code)
    return authz.exit_code(codes)


def command(
    paths: list[str] | None = Argument(None, help="bare /path, hdfs://, viewfs:// or file:// paths"),
    user: str | None = Option(None, "--user", help="check for this user name (root only; default: you)"),
    policy: str | None = Option(None, "--policy",
                                help="group | posix | group+posix: added to the site's and "
                                     "config's rules (all must allow)"),
    config_prefix: str | None = Option(None, "--config", help="SSM config prefix (or $HDFS2S3_CONFIG)"),
    audit: bool = Option(False, "--audit", help="stderr is JSON lines only: one per decision"),
    null: bool = Option(False, "-0", "--null", help="stdin/stdout paths are NUL-separated"),
):
    return common.run(PROG, _check, paths or [], user, policy, config_prefix, audit, null, json_errors=audit)


def main():
    clikit.filter_main(command, PROG, help=HELP)


if __name__ == "__main__":
    main()
