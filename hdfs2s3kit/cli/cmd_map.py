"""`hdfs2s3kit map`: the Hadoop Streaming mapper (stdin listing -> TSV on stdout)."""

import os
import sys
from typing import List, Optional

import typer

from . import common
from . import object_options as objopts


def _run(input, run_id, dest, manifests, no_manifest, force, heartbeat, batch, obj, bwlimit, null=False, **kw):
    from .. import bwlimit as bw, errors, manifest, mapper, objectopts, paths, s3put, transfer

    kw.update(object_options=objectopts.parse(*obj), bwlimit=bw.limiter(bwlimit),
              part_size=s3put.parse_size(kw.get("part_size"), "--part-size"))
    no_manifest = no_manifest or kw.get("dry_run")     # a dry run writes nothing to S3

    run_id = manifest.check_run_id(run_id or os.environ.get("HDFS2S3_RUN_ID") or
                                   os.environ.get("mapreduce_job_id") or manifest.new_run_id())
    dest_root = manifest.parse_root(dest) if dest else None
    reporter = mapper.Reporter()
    # lean=: no botocore (its import and ~55 MiB per task) whenever the lean path does what it would
    with transfer.Transfer(tool="map", progress=False, lean="hdfs2s3kit map", **kw) as t:
        writer = None
        # The session may write under the job's roots only (sts.session_policy): --dest (else the
        # config's bucket/prefix) and this run's manifest folder.
        root = dest_root or (t.config.get("bucket"), (t.config.get("prefix") or "").strip("/"))
        scope = [(root[0], root[1] + "/" if root[1] else "", True)] if root[0] else []
        if not no_manifest:
            bucket, prefix = manifest.manifest_root(t.config, manifests)
            scope.append((bucket, manifest.run_prefix(prefix, run_id), True))
        t.setup.scope = scope or None
        if not no_manifest:
            task_id, attempt_id = mapper.task_identity()
            writer = manifest.ManifestWriter(t.setup.s3, bucket, prefix, run_id, task_id, attempt_id)
            reporter.log(f"run {run_id}, attempt {attempt_id}: manifest s3://{bucket}/"
                         f"{manifest.run_prefix(prefix, run_id)}")
        m = mapper.Mapper(t, reporter=reporter, manifest=writer, force=force, heartbeat_s=heartbeat,
                          batch=batch, dest_root=dest_root, null=null)
        # HDFS paths are bytes: one that is not UTF-8 must still come out as it went in.
        sys.stdout.reconfigure(errors="surrogateescape")
        if null:
            try:
                f = sys.stdin.buffer if not input or input == "-" else open(input, "rb")
            except OSError as e:
                raise errors.NoInputError(f"{input}: {e.strerror}") from None
            with f:
                return m.run(paths.records(f, True))
        if not input or input == "-":
            sys.stdin.reconfigure(errors="surrogateescape")
            return m.run(sys.stdin)
        try:
            f = open(input, encoding="utf-8", errors="surrogateescape")
        except OSError as e:
            raise errors.NoInputError(f"{input}: {e.strerror}") from None
        with f:
            return m.run(f)


def register(app):
    @app.command("map")
    def map_cmd(
        input: Optional[str] = typer.Option(None, "--input", "-i", help="Listing file (default: stdin)."),
        run_id: Optional[str] = typer.Option(None, "--run-id", help="Run ID (default $HDFS2S3_RUN_ID, the Hadoop job ID, or new)."),
        dest: Optional[str] = typer.Option(None, "--dest", help="s3://BUCKET/PREFIX root for lines without DEST."),
        manifests: Optional[str] = typer.Option(None, "--manifests", help="s3://BUCKET/PREFIX holding _manifests/ (default: config)."),
        no_manifest: bool = typer.Option(False, "--no-manifest", help="Write no run manifest (not for jobs)."),
        force: bool = typer.Option(False, "--force", help="Send again even if DEST holds the same source version."),
        heartbeat: float = typer.Option(30.0, "--heartbeat", help="Seconds between reporter:status lines."),
        batch: int = typer.Option(500, "--batch", help="Lines read ahead and authorized together."),
        null: bool = typer.Option(False, "-0", "--null", help="Input is NUL-separated sources (any name, "
                                  "byte for byte; no DEST column)."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix (default $HDFS2S3_CONFIG)."),
        key_file: Optional[str] = typer.Option(None, "--key-file", help="Offline Fernet key file instead of SSM."),
        role_arn: Optional[str] = typer.Option(None, "--role-arn", help="Role to assume (default: config role_arn)."),
        assume_role: bool = typer.Option(True, "--assume-role/--no-assume-role", help="Use STS AssumeRole."),
        metrics: bool = typer.Option(True, "--metrics/--no-metrics", help="CloudWatch metrics."),
        notify: Optional[str] = typer.Option(None, "--notify", help="default|failure|always|summary|none."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Authorize and check DEST only: TSV lines say "
                                     "would_send / would_skip / denied; nothing read, uploaded or written."),
        part_size: Optional[str] = typer.Option(None, "--part-size", help="Multipart part size, e.g. 16MiB."),
        bwlimit: Optional[str] = objopts.BWLIMIT.typer(),
        storage_class: Optional[str] = objopts.STORAGE_CLASS.typer(),
        tag: List[str] = objopts.TAG.typer(),
        metadata: List[str] = objopts.METADATA.typer(),
        sse: Optional[str] = objopts.SSE.typer(),
        sse_kms_key_id: Optional[str] = objopts.SSE_KMS_KEY_ID.typer(),
    ):
        """Hadoop Streaming mapper: lines SRC, SRC<TAB>DEST or OFFSET<TAB>SRC on stdin.

        One TSV line per file on stdout: status, src, dest, bytes, xxh3-128, seconds, message.
        reporter:counter / reporter:status lines on stderr; a run manifest under
        s3://BUCKET/PREFIX/_manifests/RUN_ID/. Exits with the first failed file's code (so Hadoop
        retries the task; the retry skips files already done)."""
        rc = common.run("hdfs2s3kit map", _run, input, run_id, dest, manifests, no_manifest, force, heartbeat,
                        batch, (storage_class, tag, metadata, sse, sse_kms_key_id), bwlimit, null=null,
                        config_prefix=config, key_file=key_file, role_arn=role_arn,
                        assume_role=assume_role, metrics=metrics, notify=notify, dry_run=dry_run,
                        part_size=part_size)
        raise typer.Exit(rc)
