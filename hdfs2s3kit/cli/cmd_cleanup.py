"""`hdfs2s3kit cleanup s3://BUCKET[/PREFIX]`: list and abort orphaned multipart uploads."""

from typing import Optional

import typer

from .. import aws, errors, s3cleanup, sts
from . import common

PROG = "hdfs2s3kit cleanup"


def register(app):
    @app.command("cleanup", help="Abort multipart uploads older than --older-than under s3://BUCKET/PREFIX. "
                                 "Prints one JSON line per upload (action: aborted, would_abort, failed).")
    def cleanup_cmd(
        url: str = typer.Argument(..., metavar="s3://BUCKET[/PREFIX]"),
        older_than: str = typer.Option("24h", help="Only uploads initiated longer ago (30m, 24h, 7d; 0: all)."),
        dry_run: bool = typer.Option(False, "--dry-run", help="List what would be aborted; abort nothing."),
        role_arn: Optional[str] = typer.Option(None, help="Role to assume (default: role_arn from the config)."),
        assume_role: bool = typer.Option(True, "--assume-role/--no-assume-role",
                                         help="--no-assume-role: use the standard credential chain as is."),
        config: Optional[str] = typer.Option(None, metavar="PREFIX", help="SSM config prefix [env HDFS2S3_CONFIG]."),
    ):
        raise typer.Exit(common.run(PROG, _main, url, older_than, dry_run, role_arn, assume_role, config))


def _main(url, older_than, dry_run, role_arn, assume_role, config):
    bucket, prefix = aws.parse_s3_url(url, need_key=False)
    age = s3cleanup.parse_age(older_than)
    session, _, _, _ = sts.session_for(role_arn=role_arn, assume_role=assume_role, config_prefix=config)
    s3 = aws.client(session, "s3")
    failures = []
    for result in s3cleanup.cleanup(s3, bucket, prefix, older_than=age, dry_run=dry_run):
        common.emit_json(result)
        if result["action"] == "failed":
            failures.append(result)
    if failures:
        worst = failures[0]
        raise errors.KitError(f"{len(failures)} upload(s) could not be aborted; first: {worst['error']}",
                              code=worst.get("exit_code") or errors.UNAVAILABLE)
    return 0
