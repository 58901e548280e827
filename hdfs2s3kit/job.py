"""Build (and run) the scale-out job: Hadoop Streaming, or Spark's RDD.pipe.

Both run the same mapper (`hdfs2s3kit map`) over a listing of sources. The
Hadoop job is map-only, splits the listing with NLineInputFormat (N lines per
map task), turns speculative execution off (a duplicate attempt only costs a
second set-up: the conditional create already makes it harmless), bounds the
task timeout and ships the toolkit as an archive built by bin/build-archive.
Commands are argument lists, never shell strings.
"""

import glob
import os
import shlex
import shutil
import subprocess
import sys

from . import errors, manifest

ARCHIVE_LINK = "hdfs2s3kit"   # the name the archive is unpacked under in the task's folder
NLINE_INPUT_FORMAT = "org.apache.hadoop.mapred.lib.NLineInputFormat"  # streaming uses the old mapred API
DEFAULT_LINES_PER_MAP = 200
DEFAULT_TASK_TIMEOUT_S = 600
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_ARCHIVE = "hdfs2s3kit-archive.tgz"
JAR_PLACEHOLDER = "$HADOOP_STREAMING_JAR"


class JobSpec:
    """What the user asked for; everything the command lines are built from."""

    def __init__(self, input, *, dest=None, run_id=None, lines_per_map=DEFAULT_LINES_PER_MAP,
                 task_timeout_s=DEFAULT_TASK_TIMEOUT_S, max_attempts=DEFAULT_MAX_ATTEMPTS,
                 archive=DEFAULT_ARCHIVE, output=None, config=None, manifests=None, force=False,
                 queue=None, python="python3", region=None, dry_run=False, bwlimit=None):
        self.input = _arg("--input", input)
        self.dest = _arg("--dest", dest) if dest else None
        if self.dest:
            manifest.parse_root(self.dest)
        self.run_id = manifest.check_run_id(run_id or manifest.new_run_id())
        if lines_per_map < 1:
            raise errors.UsageError("--lines-per-map must be at least 1")
        if max_attempts < 1:
            raise errors.UsageError("--max-attempts must be at least 1")
        if task_timeout_s < 60:
            raise errors.UsageError("--task-timeout must be at least 60 seconds")
        self.lines_per_map = int(lines_per_map)
        self.task_timeout_s = int(task_timeout_s)
        self.max_attempts = int(max_attempts)
        self.archive = _arg("--archive", archive)
        self.output_given = bool(output)
        self.output = _arg("--output", output or f"hdfs2s3kit-out/{self.run_id}")
        self.config = _arg("--config", config) if config else None
        self.manifests = _arg("--manifests", manifests) if manifests else None
        self.force = force
        self.dry_run = dry_run
        self.queue = _arg("--queue", queue) if queue else None
        self.python = _arg("--python", python)
        self.region = _arg("--region", region) if region else None
        if bwlimit:
            from . import bwlimit as bw

            bw.parse_rate(bwlimit)            # a bad rate is a usage error here, not in every task
        self.bwlimit = _arg("--bwlimit", bwlimit) if bwlimit else None

    @property
    def heartbeat_s(self):
        # Well inside the timeout even if a status line is delayed.
        return max(5, min(30, self.task_timeout_s // 4))


def _arg(name, value):
    """Values end up in Hadoop's -mapper string, which Hadoop splits on spaces."""
    value = str(value)
    if not value or value.startswith("-"):
        raise errors.UsageError(f"{name}: bad value {value!r}")
    if any(c.isspace() or c in "'\"\\" for c in value):
        raise errors.UsageError(f"{name}: no spaces or quotes allowed: {value!r}")
    return value


def mapper_args(spec):
    """The mapper's own options (after `... map`)."""
    args = ["--run-id", spec.run_id, "--heartbeat", str(spec.heartbeat_s)]
    if spec.dest:
        args += ["--dest", spec.dest]
    if spec.manifests:
        args += ["--manifests", spec.manifests]
    if spec.config:
        args += ["--config", spec.config]
    if spec.force:
        args.append("--force")
    if spec.dry_run:
        args.append("--dry-run")
    if spec.bwlimit:
        args += ["--bwlimit", spec.bwlimit]     # per mapper process: each task has its own limit
    return args


def streaming_argv(spec, jar=None, hadoop_cmd="hadoop"):
    """`hadoop jar hadoop-streaming.jar ...` for a map-only run over the listing; hadoop_cmd is
    a command name or the client's argument list (hdfs.hadoop_argv)."""
    props = {
        "mapreduce.job.name": f"hdfs2s3kit-{spec.run_id}",
        "mapreduce.job.reduces": "0",
        "mapreduce.map.speculative": "false",
        "mapreduce.task.timeout": str(spec.task_timeout_s * 1000),
        "mapreduce.input.lineinputformat.linespermap": str(spec.lines_per_map),
        "mapreduce.map.maxattempts": str(spec.max_attempts),
        "stream.non.zero.exit.is.failure": "true",
    }
    if spec.queue:
        props["mapreduce.job.queuename"] = spec.queue
    head = [hadoop_cmd] if isinstance(hadoop_cmd, str) else list(hadoop_cmd)
    argv = [*head, "jar", jar or JAR_PLACEHOLDER]
    # Generic options (-D, -archives) must come before the streaming options.
    for k, v in props.items():
        argv += ["-D", f"{k}={v}"]
    argv += ["-archives", f"{spec.archive}#{ARCHIVE_LINK}",
             "-inputformat", NLINE_INPUT_FORMAT,
             "-input", spec.input,
             "-output", spec.output,
             "-mapper", " ".join([spec.python, ARCHIVE_LINK, "map", *mapper_args(spec)]),
             "-cmdenv", f"HDFS2S3_RUN_ID={spec.run_id}"]
    if spec.config:
        argv += ["-cmdenv", f"HDFS2S3_CONFIG={spec.config}"]
    if spec.region:
        argv += ["-cmdenv", f"AWS_REGION={spec.region}"]
    return argv


def spark_argv(spec, *, spark_submit="spark-submit", master="local[2]", python=None, tsv=None):
    """`spark-submit spark_runner.py ...`: the same mapper through RDD.pipe, one
    process per partition of `lines_per_map` lines, started with an absolute
    interpreter path (pipe's child does not search a task-local PATH)."""
    from . import spark_runner

    python = os.path.abspath(python or sys.executable)
    argv = [spark_submit, "--master", master, "--name", f"hdfs2s3kit-{spec.run_id}",
            "--conf", "spark.speculation=false",
            "--conf", "spark.log.level=WARN",
            "--conf", f"spark.ui.showConsoleProgress={'true' if _stderr_tty() else 'false'}",
            "--conf", f"spark.pyspark.python={python}",
            "--conf", f"spark.pyspark.driver.python={python}",
            *(("--conf", "spark.driver.host=127.0.0.1", "--conf", "spark.driver.bindAddress=127.0.0.1")
              if master.startswith("local") else ()),
            os.path.abspath(spark_runner.__file__),
            "--input", spec.input, "--lines-per-map", str(spec.lines_per_map), "--run-id", spec.run_id]
    if spec.output_given:
        argv += ["--output", spec.output]
    elif tsv:
        argv += ["--tsv", tsv]
    return argv + ["--", python, "-m", "hdfs2s3kit.cli.main", "map", *mapper_args(spec)]


def absolute_python(python=None):
    """An interpreter path a pipe child can exec without PATH: given, found on PATH, or ours."""
    if not python:
        return os.path.abspath(sys.executable)
    found = python if os.sep in python else shutil.which(python)
    if not found or not os.access(found, os.X_OK):
        raise errors.UsageError(f"--python: no such interpreter: {python}")
    return os.path.abspath(found)


def _stderr_tty():
    try:
        return os.isatty(2)
    except OSError:
        return False


def find_streaming_jar(explicit=None, env=None):
    env = os.environ if env is None else env
    jar = explicit or env.get("HADOOP_STREAMING_JAR")
    if jar:
        if not os.path.isfile(jar):
            raise errors.NoInputError(f"hadoop-streaming jar not found: {jar}")
        return jar
    for home in (env.get("HADOOP_HOME"), env.get("HADOOP_MAPRED_HOME")):
        if home:
            found = sorted(glob.glob(os.path.join(home, "share/hadoop/tools/lib/hadoop-streaming-*.jar")))
            if found:
                return found[-1]
    return None


def format_command(argv, placeholder=JAR_PLACEHOLDER):
    """A copy-pasteable shell rendering, one option per line; the jar placeholder
    stays unquoted so the shell expands it."""
    words = [a if a == placeholder else shlex.quote(a) for a in argv]
    lines = [[]]
    for w in words:
        if w.startswith("-") and lines[-1]:
            lines.append([])
        lines[-1].append(w)
    return " \\\n    ".join(" ".join(line) for line in lines)


def check_runnable_hadoop(spec, jar_opt=None, hadoop_cmd=None):
    """(hadoop argv, jar) or a clear error: 69 when there is nothing to run the job with, 77 when
    the Hadoop identity the job would be submitted as is not the Linux user (hdfs.hadoop_argv
    binds it: a job's tasks read HDFS with its delegation tokens, so whoever submits decides who
    reads), 66 without the archive. Nothing is launched."""
    from . import hdfs

    jar = find_streaming_jar(jar_opt)
    if jar is None:
        raise errors.UnavailableError(
            "no hadoop-streaming jar: set HADOOP_STREAMING_JAR or pass --streaming-jar "
            "(or use --print to see the command, or --engine spark)")
    argv = hdfs.hadoop_argv(hadoop_cmd)
    if "://" not in spec.archive and not os.path.isfile(spec.archive):
        raise errors.NoInputError(f"archive not found: {spec.archive} (build it with bin/build-archive)")
    return argv, jar


def bind_spark_identity():
    """spark-submit reads the listing and submits through its own Hadoop client, as whoever the
    ticket cache, token file or HADOOP_USER_NAME says: bound to the Linux user first (77)."""
    from . import hadoopident

    return hadoopident.bind()


def job_record(spec, engine, decision, *, ident=None, reason=None, code=None, now=None):
    """The audit record of one submission (`job --audit`): who asked (the Linux user and the
    Hadoop identity the job runs as), what, and whether it was submitted or refused."""
    import socket
    import time

    from . import hadoopident, identity

    rec = {"time": now if now is not None else time.time(), "event": "job", "host": socket.gethostname(),
           "pid": os.getpid(), "run_id": spec.run_id, "engine": engine, "user": identity.audit_name()}
    rec.update(ident.record() if ident else hadoopident.empty_record())
    if ident is not None and ident.allowed_by:
        rec["hadoop_allowed_by"] = ident.allowed_by
    rec.update(input=spec.input, dest=spec.dest, archive=spec.archive, dry_run=spec.dry_run,
               decision=decision, reason=reason, code=code)
    return rec


def find_spark_submit(explicit=None):
    cand = explicit or os.environ.get("SPARK_SUBMIT")
    if not cand:
        sibling = os.path.join(os.path.dirname(sys.executable), "spark-submit")
        cand = sibling if os.path.exists(sibling) else shutil.which("spark-submit")
    if not cand or shutil.which(cand) is None:
        raise errors.UnavailableError("spark-submit not found (install pyspark, set SPARK_SUBMIT or --spark-submit)")
    return cand


def spark_env(python, env=None):
    """spark-submit finds its jars through SPARK_HOME, which it guesses with
    whatever `python3` is first on PATH; point it at this interpreter's pyspark."""
    env = dict(os.environ if env is None else env)
    env.setdefault("PYSPARK_PYTHON", python)
    env.setdefault("PYSPARK_DRIVER_PYTHON", python)
    env.setdefault("SPARK_LOCAL_IP", "127.0.0.1")   # local mode: never bind a public address
    if not env.get("SPARK_HOME"):
        import importlib.util

        spec = importlib.util.find_spec("pyspark")
        if spec is not None and spec.origin:
            env["SPARK_HOME"] = os.path.dirname(spec.origin)
    return env


def execute(argv, env=None, stdout=None):
    """Run the launcher with our stdin/stderr (stdout unless redirected); its exit status is ours."""
    try:
        return subprocess.run(argv, env=env, stdout=stdout).returncode
    except FileNotFoundError:
        raise errors.UnavailableError(f"cannot run {argv[0]}: not found") from None


def run_spark(argv, python, tsv, *, env=None, out=None):
    """spark-submit merges the driver's stderr into its stdout, so its output goes
    to our stderr as logs and the mappers' TSV comes back through the `tsv` file."""
    out = out or sys.stdout
    try:
        rc = execute(argv, env=spark_env(python, env), stdout=sys.stderr.fileno())
        if os.path.exists(tsv):
            with open(tsv, encoding="utf-8") as f:
                shutil.copyfileobj(f, out)
            out.flush()
        return rc
    finally:
        if os.path.exists(tsv):
            os.unlink(tsv)
