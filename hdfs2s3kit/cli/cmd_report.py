"""`hdfs2s3kit report RUN_ID`: a run manifest read back as a summary or a retry listing."""

import sys
from typing import Optional

import typer

from . import common


def _run(run_id, manifests, config_prefix, failed_only, as_json):
    from .. import manifest, transfer

    setup = transfer.Setup(config_prefix=config_prefix)
    bucket, prefix = manifest.manifest_root(setup.config, manifests)
    if not setup.role_arn:
        setup.assume_role = False   # no config role: read with the caller's own credentials
    summary = manifest.load_summary(setup.s3, bucket, prefix, run_id)
    if failed_only:
        for line in manifest.retry_listing(summary):
            sys.stdout.write(line + "\n")
    elif as_json:
        common.emit_json(summary)
    else:
        sys.stdout.write(manifest.format_summary(summary) + "\n")
    return 0


def register(app):
    @app.command("report")
    def report_cmd(
        run_id: str = typer.Argument(..., help="The run ID the mapper or `job` printed."),
        manifests: Optional[str] = typer.Option(None, "--manifests", help="s3://BUCKET/PREFIX holding _manifests/ (default: config)."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (default $HDFS2S3_CONFIG)."),
        failed_only: bool = typer.Option(False, "--failed-only", help="Print only the failed files as a listing to retry."),
        as_json: bool = typer.Option(False, "--json", help="The summary as one JSON object."),
    ):
        """Summarise a run's manifest: files ok/skipped/failed, bytes, failures.

        Each file counts once, by its best outcome (a failure retried successfully is ok).
        --failed-only prints SRC<TAB>DEST lines, the input for `hdfs2s3kit map` or `job` to retry them."""
        raise typer.Exit(common.run("hdfs2s3kit report", _run, run_id, manifests, config, failed_only, as_json))

