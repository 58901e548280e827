"""`hdfs2s3kit job`: the Hadoop Streaming command it builds, and the archive it ships to the tasks."""

import json
import os
import shlex
import subprocess
import sys
import tarfile

import pytest
from harness import proc

from hdfs2s3kit import job
from test_map_support import BUCKET, KEY_PREFIX, mapkit, parse_tsv  # noqa: F401 - mapkit is a fixture

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASE_PYTHON = "/usr/bin/python3"   # no boto3/xxhash of its own: everything must come from the archive


def printed(*args, env=None):
    r = proc.run("hdfs2s3kit", "job", "--print", *args, env=env)
    assert r.returncode == 0, r.stderr
    return shlex.split(r.stdout.decode().replace("\\\n", " "))


def props(argv):
    return dict(argv[i + 1].split("=", 1) for i, a in enumerate(argv) if a == "-D")


def opt(argv, name):
    return [argv[i + 1] for i, a in enumerate(argv) if a == name]


def test_print_builds_a_map_only_nline_job_without_speculation():
    argv = printed("--input", "/data/list.txt", "--dest", "s3://bkt/landing", "--run-id", "run-7",
                   "--lines-per-map", "50", "--task-timeout", "900", "--config", "/hdfs2s3/prod",
                   "--archive", "hdfs:///apps/h2s.tgz", "--streaming-jar", "/opt/streaming.jar", "--queue", "etl")
    assert argv[:3] == ["hadoop", "jar", "/opt/streaming.jar"]
    p = props(argv)
    assert p["mapreduce.job.reduces"] == "0"
    assert p["mapreduce.map.speculative"] == "false"
    assert p["mapreduce.input.lineinputformat.linespermap"] == "50"
    assert p["mapreduce.task.timeout"] == "900000"
    assert p["mapreduce.job.queuename"] == "etl" and p["stream.non.zero.exit.is.failure"] == "true"
    assert opt(argv, "-inputformat") == ["org.apache.hadoop.mapred.lib.NLineInputFormat"]
    assert opt(argv, "-archives") == [f"hdfs:///apps/h2s.tgz#{job.ARCHIVE_LINK}"]
    assert opt(argv, "-input") == ["/data/list.txt"] and opt(argv, "-output") == ["hdfs2s3kit-out/run-7"]
    mapper = opt(argv, "-mapper")[0].split(" ")
    assert mapper[:3] == ["python3", job.ARCHIVE_LINK, "map"]
    m = dict(zip(mapper[3::2], mapper[4::2]))
    assert m["--run-id"] == "run-7" and m["--dest"] == "s3://bkt/landing" and m["--config"] == "/hdfs2s3/prod"
    assert float(m["--heartbeat"]) <= 60        # well inside the task timeout
    assert "HDFS2S3_CONFIG=/hdfs2s3/prod" in opt(argv, "-cmdenv")
    # generic options (-D, -archives) must precede the streaming ones, or Hadoop ignores them
    last_generic = max(i for i, a in enumerate(argv) if a in ("-D", "-archives"))
    assert last_generic < argv.index("-inputformat") < argv.index("-mapper")


def test_print_without_a_jar_leaves_a_placeholder_and_makes_a_run_id():
    r = proc.run("hdfs2s3kit", "job", "--print", "--input", "/l", env={"HADOOP_STREAMING_JAR": ""})
    text = r.stdout.decode()
    assert r.returncode == 0 and text.startswith("hadoop jar $HADOOP_STREAMING_JAR \\\n")
    argv = shlex.split(text.replace("\\\n", " "))
    assert opt(argv, "-mapper")[0].split(" ")[4].startswith("20")     # generated run ID, dated


def test_job_without_a_streaming_jar_exits_69_naming_the_fix():
    r = proc.run("hdfs2s3kit", "job", "--input", "/l", env={"HADOOP_STREAMING_JAR": "", "HADOOP_HOME": ""})
    assert r.returncode == 69
    assert r.stderr.decode().strip() == ("hdfs2s3kit job: no hadoop-streaming jar: set HADOOP_STREAMING_JAR or "
                                         "pass --streaming-jar (or use --print to see the command, or --engine spark)")
    r = proc.run("hdfs2s3kit", "job", "--input", "/l", "--streaming-jar", "/nope/streaming.jar")
    assert r.returncode == 66 and b"hadoop-streaming jar not found: /nope/streaming.jar" in r.stderr


@pytest.mark.parametrize("args,words", [
    (["--lines-per-map", "0"], b"--lines-per-map must be at least 1"),
    (["--task-timeout", "10"], b"--task-timeout must be at least 60"),
    (["--run-id", "a b"], b"no spaces"),
    (["--dest", "/not/s3"], b"not an s3:// URL"),
    (["--engine", "flink"], b"--engine must be hadoop or spark"),
])
def test_bad_job_options_exit_2(args, words):
    r = proc.run("hdfs2s3kit", "job", "--print", "--input", "/l", *args)
    assert r.returncode == 2 and words in r.stderr, r.stderr


def test_spark_print_pipes_through_an_absolute_interpreter():
    argv = printed("--engine", "spark", "--input", "/tmp/list.txt", "--run-id", "r9", "--lines-per-map", "7")
    assert argv[0] == "spark-submit" and opt(argv, "--master") == ["local[2]"]
    assert "spark.speculation=false" in opt(argv, "--conf")
    runner = next(a for a in argv if a.endswith("spark_runner.py"))
    assert os.path.isabs(runner)
    mapper = argv[argv.index("--") + 1:]
    assert os.path.isabs(mapper[0]) and mapper[1:4] == ["-m", "hdfs2s3kit.cli.main", "map"]
    assert opt(argv, "--lines-per-map") == ["7"]


def base_python_or_skip():
    if not os.access(BASE_PYTHON, os.X_OK):
        pytest.skip(f"no {BASE_PYTHON}: nothing to run the archive with outside the venv")
    v = subprocess.run([BASE_PYTHON, "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True)
    if v.stdout.split() != [str(x).encode() for x in sys.version_info[:2]]:
        pytest.skip(f"{BASE_PYTHON} is not Python {sys.version_info[0]}.{sys.version_info[1]}, the archive's")


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    out = tmp_path_factory.mktemp("archive") / "hdfs2s3kit-archive.tgz"
    r = subprocess.run([sys.executable, os.path.join(ROOT, "bin", "build-archive"), "-o", str(out)],
                       capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def unpack(archive, where):
    where.mkdir(parents=True)
    subprocess.run(["tar", "-xzf", str(archive), "-C", str(where)], check=True)


def test_the_shipped_archive_runs_the_mapper_in_a_task_folder(mapkit, archive, tmp_path):
    base_python_or_skip()
    if subprocess.run([BASE_PYTHON, "-c", "import boto3"], capture_output=True).returncode == 0:
        pytest.skip(f"{BASE_PYTHON} has boto3 of its own: it could not show that the archive is complete")
    # What YARN does with `-archives X#hdfs2s3kit`: unpack it into the task's working folder under that name.
    task_dir = tmp_path / "container_01"
    with tarfile.open(archive) as tar:
        assert not any(m.name.startswith(("/", "..")) for m in tar.getmembers())
    unpack(archive, task_dir / job.ARCHIVE_LINK)
    info = json.loads((task_dir / job.ARCHIVE_LINK / "BUILD-INFO.json").read_text())
    assert info["python"] == list(sys.version_info[:2]) and "boto3" in info["packages"]

    argv = printed("--input", "/l", "--run-id", "arch-1", "--python", BASE_PYTHON, "--archive", str(archive))
    mapper_cmd = opt(argv, "-mapper")[0].split(" ")      # Hadoop splits -mapper on spaces
    cmdenv = dict(e.split("=", 1) for e in opt(argv, "-cmdenv"))
    urls = mapkit.make_files(3)
    listing = "".join(f"{n * 100}\t{u}\n" for n, u in enumerate(urls)).encode()   # NLineInputFormat: OFFSET<TAB>SRC
    env = dict(mapkit.env, **cmdenv, mapreduce_task_id="task_1_0001_m_000000",
               mapreduce_task_attempt_id="attempt_1_0001_m_000000_0",
               PATH="/usr/bin:/bin", PYTHONPATH="")
    r = subprocess.run(mapper_cmd, input=listing, cwd=task_dir, env=env, capture_output=True, timeout=180)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    rows = parse_tsv(r.stdout)
    assert [x["status"] for x in rows] == ["ok"] * 3 and [x["src"] for x in rows] == urls
    assert "reporter:counter:hdfs2s3,files_ok,1" in r.stderr.decode()
    s = mapkit.summary("arch-1")
    assert s["ok"] == 3 and s["attempts"] == 1
    assert mapkit.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{KEY_PREFIX}/_manifests/arch-1/task_1_0001_m_000000/"
                                  "attempt_1_0001_m_000000_0-")["KeyCount"] == 1


def test_the_archive_refuses_another_python_version(archive, tmp_path):
    base_python_or_skip()
    unpack(archive, tmp_path / "a")
    info_path = tmp_path / "a" / "BUILD-INFO.json"
    info = json.loads(info_path.read_text())
    info["python"] = [3, 99]
    info_path.write_text(json.dumps(info))
    r = subprocess.run([BASE_PYTHON, str(tmp_path / "a"), "map", "--help"], capture_output=True)
    assert r.returncode == 69 and b"built for Python 3.99" in r.stderr


@pytest.mark.hadoop
def test_job_runs_hadoop_with_an_argument_list_and_passes_its_exit_status(hadoop, tmp_path):
    """The harness's `hadoop` knows only `hadoop fs`: `hadoop jar` fails, and job says so with its code."""
    jar = tmp_path / "hadoop-streaming-3.5.0.jar"
    jar.write_bytes(b"PK")
    archive = tmp_path / "a b.tgz"        # a space: harmless in an argument list, refused in -mapper
    archive.write_bytes(b"")
    before = hadoop.launches()
    r = proc.run("hdfs2s3kit", "job", "--input", "/user/x/list.txt", "--archive", str(tmp_path / "a.tgz"),
                 env=dict(hadoop.env(), HADOOP_STREAMING_JAR=str(jar)))
    assert r.returncode == 66 and b"archive not found" in r.stderr          # checked before launching
    (tmp_path / "a.tgz").write_bytes(b"")
    r = proc.run("hdfs2s3kit", "job", "--input", "/user/x/list.txt", "--archive", str(tmp_path / "a.tgz"),
                 "--run-id", "j1", env=dict(hadoop.env(), HADOOP_STREAMING_JAR=str(jar)))
    assert r.returncode == 1 and b"only 'hadoop fs' is supported" in r.stderr
    assert b"hdfs2s3kit job: run j1 exited 1; summary: hdfs2s3kit report j1" in r.stderr
    assert hadoop.launches() - before == 1
    r = proc.run("hdfs2s3kit", "job", "--input", "/l", "--archive", str(archive), env=hadoop.env())
    assert r.returncode == 2 and b"no spaces or quotes" in r.stderr


@pytest.mark.hadoop
def test_job_is_submitted_only_as_the_linux_user_and_audits_who_submitted(hadoop, tmp_path):
    """The job's tasks read HDFS as whoever submits it: under simple auth HADOOP_USER_NAME would
    make that anyone, so another name is refused (77) before `hadoop jar` starts."""
    import getpass

    jar = tmp_path / "hadoop-streaming-3.5.0.jar"
    jar.write_bytes(b"PK")
    (tmp_path / "a.tgz").write_bytes(b"")
    env = dict(hadoop.env(), HADOOP_STREAMING_JAR=str(jar))
    args = ("hdfs2s3kit", "job", "--input", "/user/x/list.txt", "--archive", str(tmp_path / "a.tgz"),
            "--run-id", "j2", "--audit")
    before = hadoop.launches()
    r = proc.run(*args, env=dict(env, HADOOP_USER_NAME="hdfs"))
    assert r.returncode == 77 and r.stdout == b""
    out = [json.loads(x) for x in r.stderr.decode().splitlines()]          # --audit: JSON lines only
    (rec,) = [x for x in out if x["event"] == "job"]
    assert (rec["decision"], rec["code"], rec["run_id"], rec["engine"]) == ("deny", 77, "j2", "hadoop")
    assert (rec["user"], rec["hadoop_user"], rec["hadoop_auth"]) == (getpass.getuser(), "hdfs", "simple")
    (err,) = [x for x in out if x["event"] == "error"]
    assert "Hadoop identity hdfs from HADOOP_USER_NAME is not" in err["message"]
    assert hadoop.launches() == before
    # as the Linux user: submitted (the harness's hadoop then fails `jar` in its own words on the
    # same stderr), the record says so first
    r = proc.run(*args, env=env)
    assert r.returncode == 1
    out = [json.loads(x) for x in r.stderr.decode().splitlines() if x.startswith("{")]
    assert out[0]["event"] == "job" and out[0]["decision"] == "submit" and out[0]["code"] is None
    assert out[0]["hadoop_user"] == getpass.getuser() and out[0]["input"] == "/user/x/list.txt"
    assert hadoop.launches() == before + 1
