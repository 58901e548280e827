"""`hdfs2s3kit job`: run the mapper over a listing as a Hadoop Streaming or Spark job."""

import os
import sys
import tempfile
from typing import Optional

import typer

from . import common


def _run(engine, do_print, streaming_jar, spark_submit, master, python, **spec_kw):
    from .. import errors, job

    if engine not in ("hadoop", "spark"):
        raise errors.UsageError(f"--engine must be hadoop or spark, not {engine!r}")
    tsv = None
    if engine == "spark":
        spec = job.JobSpec(python=job.absolute_python(python), **spec_kw)
        if not do_print:
            spark_submit = job.find_spark_submit(spark_submit)
            tsv = tempfile.NamedTemporaryFile(prefix="hdfs2s3kit-job-", suffix=".tsv", delete=False).name
        argv = job.spark_argv(spec, spark_submit=spark_submit, master=master, python=spec.python, tsv=tsv)
    else:
        spec = job.JobSpec(python=python or "python3", **spec_kw)
        if do_print:
            argv = job.streaming_argv(spec, jar=streaming_jar or os.environ.get("HADOOP_STREAMING_JAR"),
                                      hadoop_cmd=os.environ.get("HADOOP_CMD") or "hadoop")
        else:
            hadoop_cmd, jar = job.check_runnable_hadoop(spec, streaming_jar)
            argv = job.streaming_argv(spec, jar=jar, hadoop_cmd=hadoop_cmd)
    if do_print:
        sys.stdout.write(job.format_command(argv) + "\n")
        return 0
    common.log("hdfs2s3kit job", f"run {spec.run_id}: {engine} job over {spec.input}")
    env = dict(os.environ, HDFS2S3_RUN_ID=spec.run_id)
    if engine == "spark":
        rc = job.run_spark(argv, spec.python, tsv, env=env, out=sys.stdout)
    else:
        rc = job.execute(argv, env=env)
    common.log("hdfs2s3kit job", f"run {spec.run_id} exited {rc}; summary: hdfs2s3kit report {spec.run_id}")
    return rc


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
    ):
        """Move every file of a listing through `hdfs2s3kit map` as a map-only job.

        Hadoop: NLineInputFormat (--lines-per-map per task), speculative execution off, a task
        timeout, the toolkit shipped with -archives. Spark: RDD.pipe, one mapper per partition.
        Exit 69 when no hadoop-streaming jar or spark-submit can be found."""
        if spark_submit == "spark-submit" and engine == "spark" and not do_print:
            spark_submit = None
        rc = common.run("hdfs2s3kit job", _run, engine, do_print, streaming_jar, spark_submit, master, python,
                        input=input, dest=dest, run_id=run_id, lines_per_map=lines_per_map,
                        task_timeout_s=task_timeout, max_attempts=max_attempts, archive=archive, output=output,
                        config=config, manifests=manifests, force=force, queue=queue, region=region,
                        dry_run=dry_run, bwlimit=bwlimit)
        raise typer.Exit(rc)
