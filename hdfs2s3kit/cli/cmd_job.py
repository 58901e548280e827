"""`hdfs2s3kit job`: run the mapper over a listing as a Hadoop Streaming or Spark job."""

import os
import sys
import tempfile
from typing import Optional

import typer

from . import common


def _run(engine, do_print, streaming_jar, spark_submit, master, python, audit=False, **spec_kw):
    from .. import errors, job

    if engine not in ("hadoop", "spark"):
        raise errors.UsageError(f"--engine must be hadoop or spark, not {engine!r}")
    if engine == "spark":
        spec = job.JobSpec(python=job.absolute_python(python), **spec_kw)
    else:
        spec = job.JobSpec(python=python or "python3", **spec_kw)
    if do_print:
        if engine == "spark":
            argv = job.spark_argv(spec, spark_submit=spark_submit, master=master, python=spec.python)
        else:
            argv = job.streaming_argv(spec, jar=streaming_jar or os.environ.get("HADOOP_STREAMING_JAR"),
                                      hadoop_cmd=os.environ.get("HADOOP_CMD") or "hadoop")
        sys.stdout.write(job.format_command(argv) + "\n")
        return 0
    try:
        argv, tsv, ident = _prepare(job, engine, spec, streaming_jar, spark_submit, master)
    except errors.KitError as e:
        if audit:
            common.emit_json(job.job_record(spec, engine, "deny" if e.code == errors.NOPERM else "error",
                                            ident=_refused_identity(), reason=e.message, code=e.code),
                             sys.stderr)
        raise
    if audit:
        common.emit_json(job.job_record(spec, engine, "submit", ident=ident), sys.stderr)
    common.log("hdfs2s3kit job", f"run {spec.run_id}: {engine} job over {spec.input} as {ident.describe()}")
    env = dict(os.environ, HDFS2S3_RUN_ID=spec.run_id)
    if engine == "spark":
        rc = job.run_spark(argv, spec.python, tsv, env=env, out=sys.stdout)
    else:
        rc = job.execute(argv, env=env)
    common.log("hdfs2s3kit job", f"run {spec.run_id} exited {rc}; summary: hdfs2s3kit report {spec.run_id}")
    return rc


def _prepare(job, engine, spec, streaming_jar, spark_submit, master):
    """(argv, tsv, bound HadoopIdentity): every check before the launch, nothing launched."""
    if engine == "spark":
        spark_submit = job.find_spark_submit(spark_submit)
        ident = job.bind_spark_identity()
        tsv = tempfile.NamedTemporaryFile(prefix="hdfs2s3kit-job-", suffix=".tsv", delete=False).name
        return job.spark_argv(spec, spark_submit=spark_submit, master=master, python=spec.python, tsv=tsv), tsv, ident
    from .. import hadoopident

    hadoop_argv, jar = job.check_runnable_hadoop(spec, streaming_jar)
    return job.streaming_argv(spec, jar=jar, hadoop_cmd=hadoop_argv), None, hadoopident.bound()


def _refused_identity():
    """For a denial's record: the identity the job would have run as, if it can be told."""
    from .. import errors, hadoopident

    try:
        return hadoopident.current()
    except errors.KitError:
        return None


def register(app):
    @app.command("job")
    def job_cmd(
        input: str = typer.Option(..., "--input", help="Listing of sources (HDFS path for hadoop; a file for spark)."),
        dest: Optional[str] = typer.Option(None, "--dest", help="s3://BUCKET/PREFIX root (default: config bucket/prefix)."),
        engine: str = typer.Option("hadoop", "--engine", help="hadoop (Streaming) or spark (RDD.pipe)."),
        do_print: bool = typer.Option(False, "--print", help="Print the command instead of running it."),
        run_id: Optional[str] = typer.Option(None, "--run-id", help="Run ID (default: new, printed)."),
        lines_per_map: int = typer.Option(200, "--lines-per-map", help="Listing lines per map task / partition."),
        task_timeout: int = typer.Option(600, "--task-timeout", help="Seconds of silence before Hadoop kills a task."),
        max_attempts: int = typer.Option(4, "--max-attempts", help="Attempts per map task."),
        archive: str = typer.Option("hdfs2s3kit-archive.tgz", "--archive", help="Toolkit archive from bin/build-archive."),
        output: Optional[str] = typer.Option(None, "--output", help="Job output folder (the mappers' TSV)."),
        config: Optional[str] = typer.Option(None, "--config", help="SSM config prefix passed to the tasks."),
        manifests: Optional[str] = typer.Option(None, "--manifests", help="s3://BUCKET/PREFIX for _manifests/."),
        force: bool = typer.Option(False, "--force", help="Send again even if DEST holds the same source version."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Run the job with every mapper in --dry-run: "
                                     "authz and DEST checks only, the TSV says what would happen."),
        queue: Optional[str] = typer.Option(None, "--queue", help="YARN queue."),
        region: Optional[str] = typer.Option(None, "--region", help="AWS_REGION for the tasks."),
        bwlimit: Optional[str] = typer.Option(None, "--bwlimit", help="Bandwidth limit of each map task "
                                              "(each mapper process), e.g. 20MiB/s."),
        python: Optional[str] = typer.Option(None, "--python", help="Task interpreter (hadoop: python3; spark: this one)."),
        streaming_jar: Optional[str] = typer.Option(None, "--streaming-jar", help="hadoop-streaming jar (default $HADOOP_STREAMING_JAR)."),
        spark_submit: str = typer.Option("spark-submit", "--spark-submit", help="spark-submit to run (default: next to python, then PATH)."),
        master: str = typer.Option("local[2]", "--master", help="Spark master."),
        audit: bool = typer.Option(False, "--audit", help="stderr is JSON lines only: the job's audit "
                                   "record (who, as which Hadoop identity, submit or deny) and logs."),
    ):
        """Move every file of a listing through `hdfs2s3kit map` as a map-only job.

        Hadoop: NLineInputFormat (--lines-per-map per task), speculative execution off, a task
        timeout, the toolkit shipped with -archives. Spark: RDD.pipe, one mapper per partition.
        The Hadoop identity the job runs as (ticket cache, token file, HADOOP_USER_NAME) must be
        the Linux user who submits it: else exit 77 before anything is launched. Exit 69 when no
        hadoop-streaming jar or spark-submit can be found."""
        if spark_submit == "spark-submit" and engine == "spark" and not do_print:
            spark_submit = None
        rc = common.run("hdfs2s3kit job", _run, engine, do_print, streaming_jar, spark_submit, master, python,
                        audit, json_errors=audit, input=input, dest=dest, run_id=run_id, lines_per_map=lines_per_map,
                        task_timeout_s=task_timeout, max_attempts=max_attempts, archive=archive, output=output,
                        config=config, manifests=manifests, force=force, queue=queue, region=region,
                        dry_run=dry_run, bwlimit=bwlimit)
        raise typer.Exit(rc)
